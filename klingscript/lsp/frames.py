"""The client's messages, one frame at a time, kept in step whatever the client sends.

pygls reads ``Content-Length: N`` headers off stdin itself, and a frame with a
header missing, not a number, or too short puts it out of step for good: it
reads the body as headers, the next frame's header inside that line is not
seen, and so on for every later frame. ``Frames`` stands between stdin and
pygls (``server.start_io(stdin=Frames(...))``): it finds each frame's
``Content-Length:`` wherever it starts in a line, skips what comes before it,
and hands pygls only well-formed frames. A frame that is not one JSON message
(its length was too short) is dropped with a logged warning, and the reading
goes on at the next ``Content-Length:`` header.
"""

from __future__ import annotations

import logging
import re
from typing import BinaryIO, Optional

log = logging.getLogger("klingscript.lsp")

HEADER = re.compile(rb"Content-Length:[ \t]*(\d{1,10})[ \t]*\r?\n\Z", re.IGNORECASE)
MAX_BODY = 256 * 1024 * 1024   # a larger frame is refused (a wrong header, not a message)


class Frames:
    """A reader for pygls's stdio loop (``readline`` and ``read``) that yields well-formed frames
    only: each as ``Content-Length: N``, a blank line and its body of N bytes."""

    def __init__(self, stream: BinaryIO):
        self.stream = stream
        self.pending: list[bytes] = []
        self.body = b""
        self.back = b""           # input read too far (a too long Content-Length), read again first

    def readline(self) -> bytes:
        if not self.pending:
            body = self._next_body()
            if body is None:
                return b""
            self.pending = [b"Content-Length: %d\r\n" % len(body), b"\r\n"]
            self.body = body
        return self.pending.pop(0)

    def read(self, n: int) -> bytes:
        body, self.body = self.body[:n], self.body[n:]
        return body

    def _next_body(self) -> Optional[bytes]:
        """The body of the next well-formed frame, or None at the end of the input."""
        skipped = 0
        while True:
            length = None
            while length is None:                  # find a Content-Length header
                line = self._readline()
                if not line:
                    return None
                m = HEADER.search(line)
                if m is not None:
                    if m.start():
                        skipped += m.start()
                    length = int(m.group(1))
                elif line.strip():
                    skipped += len(line)
            while True:                            # the other headers, to the blank line
                line = self._readline()
                if not line:
                    return None
                if not line.strip():
                    break
                m = HEADER.search(line)
                if m is not None:                  # a header with no blank line after it
                    skipped += m.start()
                    length = int(m.group(1))
            if skipped:
                log.warning("skipped %d bytes of input that were not a message (a wrong Content-Length?)",
                            skipped)
                skipped = 0
            if length == 0 or length > MAX_BODY:
                log.warning("skipped a frame with Content-Length %d", length)
                continue
            body = self._read(length)
            if len(body) < length:
                return None
            end = body.rstrip()[-1:]
            if end not in (b"}", b"]"):
                # Too short a length: the rest of the message comes before the next header. Too
                # long: the body runs into the next frame, which is read again from its header.
                log.warning("skipped a frame of %d bytes that is not a whole message (a wrong "
                            "Content-Length?)", length)
                self.back = _next_header(body) + self.back
                continue
            return body

    def _readline(self) -> bytes:
        if self.back:
            i = self.back.find(b"\n")
            if i != -1:
                line, self.back = self.back[:i + 1], self.back[i + 1:]
                return line
            line, self.back = self.back, b""
            return line + self.stream.readline()
        return self.stream.readline()

    def _read(self, n: int) -> bytes:
        got, self.back = self.back[:n], self.back[n:]
        return got + (self.stream.read(n - len(got)) if len(got) < n else b"")


_NAME = b"content-length:"


def _next_header(body: bytes) -> bytes:
    """What of ``body`` may begin the next frame: from a ``Content-Length:`` in it, or from a
    tail that is the start of one (the rest of the header is still to be read)."""
    low = body.lower()
    i = low.find(_NAME, 1)
    if i != -1:
        return body[i:]
    for j in range(max(1, len(low) - len(_NAME) + 1), len(low)):
        if _NAME.startswith(low[j:]):
            return body[j:]
    return b""

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
                line = self.stream.readline()
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
                line = self.stream.readline()
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
            body = self.stream.read(length)
            if len(body) < length:
                return None
            end = body.rstrip()[-1:]
            if end not in (b"}", b"]"):
                # Too short a length: the rest of the message comes before the next header.
                log.warning("skipped a frame of %d bytes that is not a whole message (a wrong "
                            "Content-Length?)", length)
                continue
            return body

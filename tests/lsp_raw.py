"""A small JSON-RPC client for the language server, byte by byte over stdio.

Unlike pygls's client it sends exactly the bytes it is given (``send_raw``),
so that a test can send a broken frame, and it counts lines in its own way
(``lsp_lines``: LSP's "\\r\\n", "\\r" and "\\n", written here independently of
``klingscript.syntax.positions``). Each server's log (its stderr) is kept in
a file that ``log()`` reads.
"""

from __future__ import annotations

import json
import os
import queue
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Optional

_LSP_LINE_END = re.compile("\r\n|\r|\n")


def lsp_lines(text: str) -> list[str]:
    """The lines of ``text`` as an LSP client counts them (without their line ends)."""
    return _LSP_LINE_END.split(text)


def utf16(s: str) -> int:
    return len(s.encode("utf-16-le", "surrogatepass")) // 2


def lsp_offset(text: str, line: int, character: int) -> int:
    """The offset in ``text`` of an LSP position (UTF-16 units), clamped to its line."""
    starts = [0] + [m.end() for m in _LSP_LINE_END.finditer(text)]
    if line >= len(starts):
        return len(text)
    end = len(text) if line + 1 >= len(starts) else starts[line + 1]
    body = _LSP_LINE_END.sub("", text[starts[line]:end])
    units = i = 0
    while i < len(body) and units < character:
        units += 2 if ord(body[i]) > 0xFFFF else 1
        i += 1
    return starts[line] + i


def lsp_position(text: str, offset: int) -> tuple[int, int]:
    """The LSP position (UTF-16 units) of ``offset`` in ``text``."""
    line, start = 0, 0
    for m in _LSP_LINE_END.finditer(text):
        if m.end() > offset:
            break
        line, start = line + 1, m.end()
    return line, utf16(text[start:offset])


def frame(message: dict) -> bytes:
    body = json.dumps(message).encode("utf-8")
    return b"Content-Length: %d\r\n\r\n" % len(body) + body


class RawServer:
    """``python -m klingscript lsp`` in a subprocess, and what it sent back."""

    def __init__(self, cwd: Optional[Path] = None, env: Optional[dict] = None):
        fd, self.log_path = tempfile.mkstemp(prefix="klingc-lsp-", suffix=".log")
        self._log = os.fdopen(fd, "wb")
        self.proc = subprocess.Popen([sys.executable, "-m", "klingscript", "lsp"], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=self._log, cwd=cwd,
                                     env={**os.environ, **(env or {})})
        self.inbox: queue.Queue = queue.Queue()
        self.responses: dict = {}
        self.published: list[tuple[str, Optional[int], list]] = []   # (uri, version, diagnostics)
        self.next_id = 0
        threading.Thread(target=self._read, daemon=True).start()

    # -- sending ---------------------------------------------------------------------------
    def send_raw(self, data: bytes) -> None:
        self.proc.stdin.write(data)
        self.proc.stdin.flush()

    def notify(self, method: str, params) -> None:
        self.send_raw(frame({"jsonrpc": "2.0", "method": method, "params": params}))

    def request(self, method: str, params, timeout: float = 60):
        """Send a request and wait for its answer: the JSON-RPC response (with ``result`` or
        ``error``)."""
        self.next_id += 1
        rid = self.next_id
        self.send_raw(frame({"jsonrpc": "2.0", "id": rid, "method": method, "params": params}))
        return self.wait(lambda: self.responses.pop(rid, None), timeout, f"the answer to {method}")

    def initialize(self, root: Optional[Path] = None, encoding: Optional[str] = None) -> dict:
        caps: dict = {"textDocument": {"publishDiagnostics": {"relatedInformation": True}}}
        if encoding:
            caps["general"] = {"positionEncodings": [encoding]}
        answer = self.request("initialize", {"processId": os.getpid(), "capabilities": caps,
                                             "rootUri": root.as_uri() if root else None})
        self.notify("initialized", {})
        return answer

    def open(self, uri: str, text: str, version: int = 1) -> None:
        self.notify("textDocument/didOpen", {"textDocument": {"uri": uri, "languageId": "klingscript",
                                                              "version": version, "text": text}})

    def change(self, uri: str, version: int, changes: list[dict]) -> None:
        self.notify("textDocument/didChange", {"textDocument": {"uri": uri, "version": version},
                                               "contentChanges": changes})

    def close_doc(self, uri: str) -> None:
        self.notify("textDocument/didClose", {"textDocument": {"uri": uri}})

    # -- receiving -------------------------------------------------------------------------
    def _read(self) -> None:
        out = self.proc.stdout
        while True:
            length = None
            while True:
                line = out.readline()
                if not line:
                    self.inbox.put(None)
                    return
                if not line.strip():
                    break
                name, _, value = line.decode("ascii", "replace").partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value.strip())
            if length is None:
                continue
            self.inbox.put(json.loads(out.read(length)))

    def _take(self, timeout: float) -> bool:
        """Handle one message from the server; False at the end of its output."""
        msg = self.inbox.get(timeout=timeout)
        if msg is None:
            self.inbox.put(None)
            return False
        if "method" in msg and "id" in msg:          # a request from the server: say yes
            self.send_raw(frame({"jsonrpc": "2.0", "id": msg["id"], "result": None}))
        elif "method" in msg:
            if msg["method"] == "textDocument/publishDiagnostics":
                p = msg["params"]
                self.published.append((p["uri"], p.get("version"), p["diagnostics"]))
        else:
            self.responses[msg.get("id")] = msg
        return True

    def wait(self, found, timeout: float = 60, what: str = "an answer"):
        """Handle the server's messages until ``found()`` gives something other than None."""
        limit = time.monotonic() + timeout
        while True:
            got = found()
            if got is not None:
                return got
            left = limit - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no {what} within {timeout} s")
            try:
                if not self._take(left):
                    got = found()
                    if got is not None:
                        return got
                    raise EOFError(f"the server ended before {what}")
            except queue.Empty:
                pass

    def diagnostics(self, uri: str, version: int, timeout: float = 60) -> list:
        """The diagnostics published for version ``version`` of ``uri`` (the latest such)."""
        def found():
            for u, v, d in reversed(self.published):
                if u == uri and v == version:
                    return d
            return None
        return self.wait(found, timeout, f"diagnostics of {uri} version {version}")

    def log(self) -> str:
        if not self._log.closed:
            self._log.flush()
        return Path(self.log_path).read_text(encoding="utf-8", errors="replace")

    def stop(self, timeout: float = 10) -> int:
        """Shut the server down as a client does; its exit code."""
        try:
            if self.proc.poll() is None:
                self.request("shutdown", None, timeout)
                self.notify("exit", None)
                self.proc.stdin.close()
            return self.proc.wait(timeout)
        except Exception:
            self.proc.kill()
            return self.proc.wait(timeout)
        finally:
            self._log.close()

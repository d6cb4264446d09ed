"""The language server answers what it is asked about documents that are not open, and keeps
in step after a broken frame (issue 12, item 8)."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import pytest

from klingscript.lsp.frames import Frames
from lsp_raw import RawServer, frame

SCRIPT = 'title: T\ncharacter Zed:\n    description: "a tall man"\nscene "A":\n    Shot 1 (3s): @Zed waves.\n'


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("lsp-requests")
    (d / "closed.kls").write_text(SCRIPT, encoding="utf-8")
    os.mkfifo(d / "fifo.kls")   # reading it would block: the server must not
    return d


@pytest.fixture(scope="module")
def server(folder):
    s = RawServer(cwd=folder)
    s.initialize(folder)
    yield s
    try:
        assert s.stop() == 0
    finally:
        s.proc.kill()


def _requests(uri: str) -> list[tuple[str, dict, object]]:
    """(method, params, the empty answer) for each request about a document."""
    doc = {"textDocument": {"uri": uri}}
    at = {**doc, "position": {"line": 1, "character": 11}}
    return [
        ("textDocument/completion", at, {"isIncomplete": False, "items": []}),
        ("textDocument/documentSymbol", doc, []),
        ("textDocument/formatting", {**doc, "options": {"tabSize": 4, "insertSpaces": True}}, []),
        ("textDocument/hover", at, None),
        ("textDocument/definition", at, None),
        ("textDocument/references", {**at, "context": {"includeDeclaration": True}}, []),
        ("textDocument/prepareRename", at, None),
        ("textDocument/rename", {**at, "newName": "Ada"}, None),
    ]


@pytest.mark.parametrize("name", ["closed.kls", "fifo.kls", "/etc/passwd"])
def test_a_document_that_is_not_open_gets_empty_answers_and_is_not_read(server, folder, name):
    uri = (folder / name).as_uri() if not name.startswith("/") else Path(name).as_uri()
    for method, params, empty in _requests(uri):
        answer = server.request(method, params, timeout=15)
        assert answer.get("error") is None, (method, answer)
        assert answer["result"] == empty, (method, answer)
    # A change to it is ignored too; the server goes on answering.
    server.change(uri, 2, [{"text": "junk"}])
    assert server.request("textDocument/documentSymbol", {"textDocument": {"uri": uri}})["result"] == []
    assert "Traceback" not in server.log()


def test_an_open_document_is_still_answered(server, folder):
    uri = (folder / "open.kls").as_uri()
    server.open(uri, SCRIPT)
    symbols = server.request("textDocument/documentSymbol", {"textDocument": {"uri": uri}})["result"]
    assert [s["name"] for s in symbols] == ["Zed", "A"]
    hover = server.request("textDocument/hover", {"textDocument": {"uri": uri},
                                                  "position": {"line": 4, "character": 19}})["result"]
    assert "Zed" in hover["contents"]["value"]
    server.close_doc(uri)


BAD_FRAMES = {
    "missing": b'Content-Type: application/vscode-jsonrpc; charset=utf-8\r\n\r\n{"jsonrpc": "2.0", "method": "x"}',
    "not a number": b'Content-Length: twelve\r\n\r\n{"jsonrpc": "2.0", "method": "x"}',
    "too short": b'Content-Length: 9\r\n\r\n{"jsonrpc": "2.0", "method": "x"}',
    "too long": b'Content-Length: 45\r\n\r\n{"jsonrpc": "2.0", "method": "x"}',   # 12 bytes of the next
    "negative": b'Content-Length: -5\r\n\r\n{"jsonrpc": "2.0", "method": "x"}',
    "zero": b'Content-Length: 0\r\n\r\n{"jsonrpc": "2.0", "method": "x"}',
    "junk line": b"hello\n",
}


@pytest.mark.parametrize("bad", list(BAD_FRAMES))
def test_the_server_keeps_in_step_after_a_bad_frame(server, folder, bad):
    server.send_raw(BAD_FRAMES[bad])
    uri = (folder / f"after-{bad.replace(' ', '-')}.kls").as_uri()
    server.open(uri, SCRIPT)
    symbols = server.request("textDocument/documentSymbol", {"textDocument": {"uri": uri}}, timeout=15)
    assert [s["name"] for s in symbols["result"]] == ["Zed", "A"]
    # ... and after several in a row.
    server.send_raw(BAD_FRAMES[bad] * 3)
    assert server.request("textDocument/documentSymbol", {"textDocument": {"uri": uri}}, timeout=15)["result"]
    server.close_doc(uri)
    log = server.log()
    assert "skipped" in log and "Traceback" not in log


def _frames(data: bytes) -> list[bytes]:
    reader, out = Frames(io.BytesIO(data)), []
    while True:
        header = reader.readline()
        if not header:
            return out
        assert header.startswith(b"Content-Length: ") and reader.readline() == b"\r\n"
        out.append(reader.read(int(header.split(b":")[1])))


def test_frames_yields_each_whole_message_and_skips_the_rest():
    a, b = {"jsonrpc": "2.0", "id": 1, "method": "a"}, {"jsonrpc": "2.0", "method": "b", "params": [1]}
    data = (frame(a) + BAD_FRAMES["too short"] + BAD_FRAMES["missing"] + frame(b)
            + b"Content-Length: 3\r\nContent-Type: x\r\n\r\n[1]" + BAD_FRAMES["not a number"] + frame(a))
    assert [json.loads(f) for f in _frames(data)] == [a, b, [1], a]
    assert _frames(b"") == [] and _frames(b"Content-Length: 10\r\n\r\n{}") == []
    # A length too long by a little or by a whole header: the next frame is read from its header.
    for extra in (1, 5, 12, 15, 16, 30):
        body = json.dumps(a).encode()
        data = b"Content-Length: %d\r\n\r\n" % (len(body) + extra) + body + frame(b) + frame(a)
        assert [json.loads(f) for f in _frames(data)] == [b, a], extra

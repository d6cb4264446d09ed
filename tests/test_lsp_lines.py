"""The language server's copy of a document keeps LSP's lines (issue 12, items 1 and 8).

A real server over stdio (``lsp_raw.RawServer``). The client's copy of each
document is kept here with ``lsp_raw``'s own line model ("\\r\\n", "\\r", "\\n"),
and what the server publishes for it must be what ``klingc check``
(``compiler.check``) says of that text, converted here to LSP positions.
The fuzzer at the end makes random full and incremental edits, with every
character ``str.splitlines`` takes for a line end.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from klingscript import compiler, project
from lsp_raw import RawServer, lsp_lines, lsp_offset, utf16

# What str.splitlines (and so pygls's document model) ends a line at, and LSP does not.
NOT_LINE_ENDS = ["\v", "\f", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029"]
LINE_ENDS = ["\n", "\r\n", "\r"]
SEVERITY = {"error": 1, "warning": 2, "note": 3}


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("lsp-lines")


@pytest.fixture(scope="module")
def server(folder):
    s = RawServer(cwd=folder)
    s.initialize(folder)
    yield s
    assert s.stop() == 0
    assert "Traceback" not in s.log(), s.log()


def expected(path: Path, text: str, units=utf16) -> list[tuple]:
    """What `klingc check` says of ``text``, as an LSP client should see it (``units``: how
    the session counts characters)."""
    checked = compiler.check(path, loader=project.Loader({path: text}))
    lines = lsp_lines(text)
    bom = text.startswith("\ufeff")   # a character to the client, not a column to klingc

    def pos(line: int, column: int) -> tuple[int, int]:
        return line - 1, units(lines[line - 1][: column - 1 + (bom and line == 1)]) if line <= len(lines) else 0

    out = []
    for d in checked.diagnostics:
        assert d.span.file == checked.program.main.display, d   # these scripts use no other file
        out.append((d.code, SEVERITY[d.severity.value], pos(d.span.line, d.span.column),
                    pos(d.span.end_line, d.span.end_column), d.message + (f"\nhelp: {d.help}" if d.help else "")))
    return sorted(out)


def received(diags: list) -> list[tuple]:
    def pos(p):
        return p["line"], p["character"]
    return sorted((d["code"], d["severity"], pos(d["range"]["start"]), pos(d["range"]["end"]), d["message"])
                  for d in diags)


_names = itertools.count()


class Doc:
    """The client's copy of one open document."""

    def __init__(self, server: RawServer, folder: Path, text: str):
        self.server, self.text, self.version = server, text, 1
        self.path = folder / f"doc{next(_names)}.kls"
        self.uri = self.path.as_uri()
        server.open(self.uri, text)

    def edit(self, start: tuple[int, int], end: tuple[int, int], new: str) -> None:
        self.edits([(start, end, new)])

    def edits(self, changes: list[tuple]) -> None:
        """One didChange of several changes, each applied to the text the one before left."""
        sent = []
        for start, end, new in changes:
            a, b = lsp_offset(self.text, *start), lsp_offset(self.text, *end)
            self.text = self.text[:a] + new + self.text[b:]
            sent.append({"range": {"start": {"line": start[0], "character": start[1]},
                                   "end": {"line": end[0], "character": end[1]}}, "text": new})
        self.version += 1
        self.server.change(self.uri, self.version, sent)

    def replace(self, new: str) -> None:
        self.text = new
        self.version += 1
        self.server.change(self.uri, self.version, [{"text": new}])

    def published(self) -> list:
        return self.server.diagnostics(self.uri, self.version)

    def assert_as_check(self) -> None:
        assert received(self.published()) == expected(self.path, self.text), repr(self.text)

    def close(self) -> None:
        self.server.close_doc(self.uri)


SCRIPT = 'title: T{ch}x\ncharacter Zed:\n    description: "a tall man"\nscene "A":\n    Shot 1 (3s): waves.\n'


@pytest.mark.parametrize("ch", NOT_LINE_ENDS)
def test_an_edit_after_a_character_splitlines_breaks_at_lands_on_its_line(server, folder, ch):
    # The case: `title: T` + form feed + `x` on line 0, then `@Zed ` typed at (4,17).
    doc = Doc(server, folder, SCRIPT.format(ch=ch))
    doc.assert_as_check()
    doc.edit((4, 17), (4, 17), "@Zed ")
    assert doc.text.endswith("    Shot 1 (3s): @Zed waves.\n")
    doc.assert_as_check()
    assert not any(d["code"] == "KLS100" for d in doc.published())   # no bogus error on line 3
    # Every later edit lands where it is sent too.
    doc.edit((3, 10), (3, 10), " at @Zed")
    doc.edit((0, 0), (1, 0), "")
    doc.assert_as_check()
    doc.close()


@pytest.mark.parametrize("end", LINE_ENDS)
def test_diagnostic_ranges_stay_inside_the_lines_the_client_sees(server, folder, end):
    text = 'title: T\nscene "A":\n    Shot 1 (3s): @Ghost waves 😊.\n    Shot 2 (2s): @Nobody.\n'.replace("\n", end)
    doc = Doc(server, folder, text)
    diags = doc.published()
    assert {d["code"] for d in diags} >= {"KLS201"}
    lines = lsp_lines(text)
    for d in diags:
        for p in (d["range"]["start"], d["range"]["end"]):
            assert p["line"] < len(lines) and p["character"] <= utf16(lines[p["line"]]), (d, lines)
    doc.assert_as_check()
    doc.edit((2, 18), (2, 24), "@Zed")
    doc.assert_as_check()
    doc.close()


def test_a_byte_order_mark_typed_before_a_diagnostic_moves_it_one_unit(server, folder):
    doc = Doc(server, folder, 'scene "A":\n    Shot 1: x\n')
    doc.assert_as_check()
    doc.edit((0, 0), (0, 0), "\ufeff")
    doc.assert_as_check()
    doc.edit((0, 0), (0, 1), "")
    doc.assert_as_check()
    doc.close()


def test_an_edit_lands_on_its_line_in_utf8_units_too(folder):
    s = RawServer(cwd=folder)
    try:
        answer = s.initialize(folder, encoding="utf-8")
        assert answer["result"]["capabilities"]["positionEncoding"] == "utf-8"
        text = 'title: é😊\fx\ncharacter Zed:\n    description: "a tall man"\nscene "A":\n    Shot 1 (3s): 😊 waves.\n'
        path = folder / "utf8.kls"
        s.open(path.as_uri(), text)
        s.diagnostics(path.as_uri(), 1)
        at = {"line": 4, "character": len("    Shot 1 (3s): 😊 ".encode("utf-8"))}
        s.change(path.as_uri(), 2, [{"range": {"start": at, "end": at}, "text": "@Ghost "}])
        text = text.replace("😊 waves", "😊 @Ghost waves")
        utf8 = lambda t: len(t.encode("utf-8"))   # noqa: E731
        want = expected(path, text, utf8)
        assert any(d[0] == "KLS201" for d in want)
        assert received(s.diagnostics(path.as_uri(), 2)) == want
    finally:
        assert s.stop() == 0


# -- the fuzzer -----------------------------------------------------------------------------

PIECES = ['title: T', 'character Zed:', '    description: "a tall man"', 'scene "A":', 'scene "B" at @Zed:',
          '    Shot 1 (3s): @Zed waves.', '    Shot 2 (2s): @Ghost 😊 runs.', '        @Zed (soft): "Hi."',
          'x', '', '# note', '    ', '@Zed ', '"', ':', 'é', '😊', '\tShot 3 (4s): y', 'use "cast.kls"', '\x00']
TERMS = LINE_ENDS * 3 + NOT_LINE_ENDS
texts = st.tuples(st.sampled_from(["", "", "", "\ufeff"]), st.lists(
    st.tuples(st.sampled_from(PIECES), st.sampled_from(TERMS + [""])), max_size=10)).map(
    lambda t: t[0] + "".join(a + b for a, b in t[1]))
inserts = st.lists(st.sampled_from(PIECES + TERMS), max_size=3).map("".join)


def _position(data, text: str, after: tuple[int, int] | None = None) -> tuple[int, int]:
    """A position on a code point boundary of ``text`` (not before ``after``)."""
    lines = lsp_lines(text)
    first = after[0] if after else 0
    line = data.draw(st.integers(first, min(len(lines) - 1, first + 2)))
    body = lines[line]
    lo = 0
    if after and line == after[0]:
        lo = next(i for i in range(len(body) + 1) if utf16(body[:i]) >= after[1])
    column = data.draw(st.integers(lo, len(body)))
    return line, utf16(body[:column])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow])
@given(start=texts, data=st.data())
def test_fuzz_edits_publish_what_klingc_check_says(server, folder, start, data):
    doc = Doc(server, folder, start)
    for _ in range(data.draw(st.integers(1, 5))):
        if data.draw(st.integers(0, 5)) == 0:
            doc.replace(data.draw(texts))
        else:
            # One to three changes in one message, each on the text the one before left.
            text, changes = doc.text, []
            for _ in range(data.draw(st.integers(1, 3))):
                a = _position(data, text)
                b = _position(data, text, a)
                new = data.draw(inserts)
                changes.append((a, b, new))
                x, y = lsp_offset(text, *a), lsp_offset(text, *b)
                text = text[:x] + new + text[y:]
            doc.edits(changes)
    doc.assert_as_check()
    doc.close()

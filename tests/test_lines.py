"""One line model everywhere: a line ends at "\\r\\n", "\\r" or "\\n" (as LSP counts), never at
the other characters ``str.splitlines`` ends lines at (issue 12, items 1, 5 and 8)."""

from __future__ import annotations

from pathlib import Path

import pytest

from klingscript import compiler, project
from klingscript.diagnostics.render import render_text
from klingscript.lsp.codec import Lines
from klingscript.syntax.parser import parse
from klingscript.syntax.positions import line_and_column, line_breaks, line_starts, lines_with_ends, split_lines
from klingscript.tools.fmt import format_text

# What str.splitlines ends a line at and LSP does not.
NOT_LINE_ENDS = ["\v", "\f", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029"]
LINE_ENDS = ["\n", "\r\n", "\r"]


@pytest.mark.parametrize("ch", NOT_LINE_ENDS)
def test_only_lsp_line_ends_end_a_line(ch):
    text = f"a{ch}b\nc\r\nd\re"
    assert split_lines(text) == [f"a{ch}b", "c", "d", "e"]
    assert line_breaks(text) == 3
    assert line_starts(text) == [0, 4, 7, 9]
    assert line_and_column(text, text.index("e")) == (4, 1)
    assert line_and_column(text, text.index("b")) == (1, 3)


@pytest.mark.parametrize("text", ["", "a", "a\n", "\n", "a\nb", "a\r\nb\rc\n", "a\fb\x85c\u2028d\r"])
def test_lines_with_their_ends_make_the_text_again(text):
    lines = lines_with_ends(text)
    assert "".join(lines) == text
    assert [l.rstrip("\r\n") for l in lines] == (split_lines(text)[:-1] if text.endswith(("\n", "\r"))
                                                  else split_lines(text) if text else [])


def test_a_line_end_counts_once_and_a_slice_counts_its_own():
    assert split_lines("a\r\r\nb\n") == ["a", "", "b", ""]
    assert line_breaks("a\r\r\nb\n") == 3
    assert line_breaks("a\r\nb\rc", 2, 6) == 2


def _ghost(ch: str) -> str:
    """A comment holding ``ch``, then a scene whose shot names an undeclared @Ghost."""
    return f'# a{ch}# b\nscene "A":\n    Shot 1 (3s): @Ghost waves.\n'


def _check(text: str, name: str = "f.kls"):
    path = Path(name).resolve()
    return compiler.check(path, loader=project.Loader({path: text}))


@pytest.mark.parametrize("ch", NOT_LINE_ENDS + ["\r"])
def test_the_code_frame_shows_the_line_of_the_diagnostic(ch):
    text = _ghost(ch)
    checked = _check(text)
    (d,) = [d for d in checked.diagnostics if d.code == "KLS201"]
    want = 4 if ch == "\r" else 3          # a lone CR ends a line; the others do not
    assert d.span.line == want
    frame = render_text([d], lambda _f: text)
    assert f"\n{want} |     Shot 1 (3s): @Ghost waves.\n" in frame
    assert "\n  |                  ^^^^^^\n" in frame


def test_klingc_check_frames_the_line_after_a_form_feed(klingc, tmp_path):
    script = tmp_path / "ff.kls"
    script.write_bytes(_ghost("\f").encode("utf-8"))
    out = klingc("check", script, cwd=tmp_path)
    assert out.returncode == 1
    assert "ff.kls:3:18: error[KLS201]" in out.stdout
    assert "3 |     Shot 1 (3s): @Ghost waves." in out.stdout


@pytest.mark.parametrize("end", LINE_ENDS)
def test_each_line_end_reads_the_same(end):
    lf = 'title: T\nlanguage: English\n\nscene "A":\n    Shot 1 (3s): @Ghost waves.\n'
    text = lf.replace("\n", end)
    doc, diags = parse(text, "x.kls")
    assert diags == []
    ref, _ = parse(lf, "x.kls")
    assert [(type(i).__name__, i.span.line, i.span.column) for i in doc.items] == \
        [(type(i).__name__, i.span.line, i.span.column) for i in ref.items]
    assert [(d.code, d.span.line, d.span.column) for d in _check(text).diagnostics] == \
        [(d.code, d.span.line, d.span.column) for d in _check(lf).diagnostics]
    # Offsets still point into the text as written.
    (d,) = [d for d in _check(text).diagnostics if d.code == "KLS201"]
    assert text[d.span.start:d.span.end] == "@Ghost"


def test_fmt_ends_the_lines_of_a_lone_cr_file_with_lf():
    formatted, diags = format_text('title: T\r\rscene "A":\r    Shot 1 (3s): waves.\r', "x.kls")
    assert diags == []
    assert formatted == 'title: T\n\nscene "A":\n    Shot 1 (3s): waves.\n'


@pytest.mark.parametrize("ch", NOT_LINE_ENDS)
def test_lsp_lines_keep_other_characters_inside_the_line(ch):
    text = f"title: T{ch}x\nscene \"A\":\r\n    Shot 1 (3s): 😊 waves.\rend"
    lines = Lines(text)
    assert lines.text(1) == f"title: T{ch}x"
    assert lines.text(4) == "end"
    assert lines.end() == (3, 3)
    # (2, 19) in UTF-16 units is after the emoji (two units).
    assert lines.offset(2, 19) == text.index(" waves")
    assert lines.offset(3, 0) == text.index("end")
    assert lines.offset(1, 99) == text.index("\r\n")      # past the line's end: its end
    assert lines.offset(9, 0) == len(text)                # past the last line: the end
    assert lines.apply_change((3, 0), (3, 0), "@Zed ") == text.replace("end", "@Zed end")
    assert lines.apply_change((0, 9), (1, 0), "") == f"title: T{ch}scene \"A\":\r\n    Shot 1 (3s): 😊 waves.\rend"


def test_fmt_diff_and_a_utf8_error_count_lsp_lines(klingc, tmp_path):
    script = tmp_path / "cr.kls"
    script.write_bytes(b'title: T\r# a\x0cb\rscene "A":\r    Shot 1 (3s):   waves.\r')
    out = klingc("fmt", "--diff", script, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "No newline at end of file" not in out.stdout
    assert "-    Shot 1 (3s):   waves." in out.stdout and "+    Shot 1 (3s): waves." in out.stdout
    bad = tmp_path / "bad.kls"
    bad.write_bytes(b'title: T\r# \x0c\r\xff\n')
    out = klingc("fmt", bad, cwd=tmp_path)
    assert "bad.kls:3:1: error[KLS100]" in out.stdout


def test_a_byte_order_mark_is_a_character_to_the_client_when_a_change_is_applied():
    lines = Lines("\ufefftitle: T\n")
    assert lines.offset(0, 0) == 0 and lines.offset(0, 1) == 1 and lines.offset(1, 0) == 10
    assert lines.apply_change((0, 0), (0, 0), "# a\n") == "# a\n\ufefftitle: T\n"
    assert lines.apply_change((0, 1), (0, 6), "") == "\ufeff: T\n"
    assert lines.to_lsp(1, 1) == (0, 1)       # while our column 1 is after it

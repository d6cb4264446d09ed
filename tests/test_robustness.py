"""No input ever produces a traceback, and every diagnostic points inside its file.

Arbitrary text, mutated example scripts and random bytes go through the
front end (``compiler.check``) and the formatter; a handful of nasty files go
through the real command line in a fresh process. Exit codes are 0 or 1, and
every span (and label) lies inside the file it names: 1 <= line <= lines,
columns within the line (+1 for the end of the line), offsets that agree with
the line and column.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from klingscript.compiler import check
from klingscript.tools.fmt import format_source, format_text
from klingscript.syntax.parser import parse
from test_fmt import comments, documents, shape  # the formatter's own invariants

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "examples"
GOLDEN = Path(__file__).resolve().parent / "fmt"

# KLS_FUZZ_EXAMPLES=5000 pytest … fuzzes longer than the default budget.
FAST = settings(max_examples=int(os.environ.get("KLS_FUZZ_EXAMPLES", 150)), deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])

PNG = (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00"
       b"\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\xff\xff?\x00\x05\xfe\x02\xfe\xa7\x35\x81\x84"
       b"\x00\x00\x00\x00IEND\xaeB`\x82")


# ---------------------------------------------------------------------------
# What every run must satisfy


def _line_starts(text: str) -> list[int]:
    """Offset of each 1-based line (index 0 unused); a BOM is not part of line 1. Lines end
    at LF, CRLF or a lone CR, as LSP counts them."""
    starts = [0, 1 if text.startswith("\ufeff") else 0]
    starts.extend(m.end() for m in re.finditer("\r\n|\r|\n", text))
    return starts


def _line_content(text: str, starts: list[int], line: int) -> str:
    if line + 1 < len(starts):  # ended by LF, CRLF or a lone CR
        content = text[starts[line]:starts[line + 1]]
        return content[:-2] if content.endswith("\r\n") else content[:-1]
    return text[starts[line]:]


def assert_span_inside(span, text: str, what: str) -> None:
    starts = _line_starts(text)
    nlines = len(starts) - 1
    assert 1 <= span.line <= span.end_line <= nlines, f"{what}: lines {span.line}-{span.end_line} of {nlines}"
    first = _line_content(text, starts, span.line)
    last = _line_content(text, starts, span.end_line)
    assert 1 <= span.column <= len(first) + 1, f"{what}: column {span.column}, line has {len(first)}"
    assert 1 <= span.end_column <= len(last) + 1, f"{what}: end column {span.end_column}, line has {len(last)}"
    assert (span.line, span.column) <= (span.end_line, span.end_column), f"{what}: ends before it starts"
    assert 0 <= span.start <= span.end <= len(text), f"{what}: offsets {span.start}-{span.end} of {len(text)}"
    assert span.start == starts[span.line] + span.column - 1, f"{what}: start offset disagrees with line:column"
    assert span.end == starts[span.end_line] + span.end_column - 1, f"{what}: end offset disagrees with line:column"


def assert_sane(checked) -> None:
    texts = {f.display: f.text for f in checked.program.files.values()}
    for d in checked.diagnostics:
        what = f"{d.code} {d.message!r} at {d.span}"
        assert d.span.file in texts, f"{what}: names a file that was not read"
        assert_span_inside(d.span, texts[d.span.file], what)
        for label in d.labels:
            assert_span_inside(label.span, texts[label.span.file], f"{what} label {label.message!r}")
        assert d.message and "\n" not in d.message


def check_text(folder: Path, name: str, data: bytes | str) -> None:
    """Write a script, run the front end and the formatter on it; nothing may raise."""
    path = folder / name
    if isinstance(data, str):
        data = data.encode("utf-8", errors="surrogatepass")
    path.write_bytes(data)
    checked = check(path)
    assert_sane(checked)
    text = checked.program.main.text
    # The formatter either refuses (with diagnostics inside the file) or keeps the meaning:
    # the parser's, or, where a tab in the indentation leaves the file unreadable to the parser,
    # that of the tab reading it chose (tools/fmt.py), which then reads without a syntax error.
    out, diags = format_text(text, checked.program.main.display)
    if out is None:
        assert diags
        for d in diags:
            assert_span_inside(d.span, text, f"fmt {d.code} {d.message!r} at {d.span}")
    else:
        assert format_source(out) == out, "formatting is not idempotent"
        read = text
        if shape(out) != shape(text):
            from klingscript.syntax.parser import parse
            from klingscript.tools import fmt as F

            assert F._INDENT_TAB.search(text), "formatting changed the meaning"
            assert [d for d in parse(text)[1] if d.code in F.SYNTAX_CODES], \
                "formatting changed the meaning of a file the parser reads"
            bom = "\ufeff" if text.startswith("\ufeff") else ""
            readings = [bom + F._prepare(text, expand)[0] for expand in F._TAB_READINGS[1:]]
            shapes = [shape(r) for r in readings]
            assert shape(out) in shapes, "formatting changed the meaning"
            read = readings[shapes.index(shape(out))]   # the comments of the reading it chose
        assert comments(out) == comments(read), "formatting lost a comment"


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    """A copy of the examples (scripts, cast files, images) to mutate in."""
    root = tmp_path_factory.mktemp("robust")
    if EXAMPLES.is_dir():
        shutil.copytree(EXAMPLES, root / "examples", ignore=shutil.ignore_patterns("*.py"))
    (root / "examples").mkdir(exist_ok=True)
    return root / "examples"


def seeds() -> list[Path]:
    return sorted(EXAMPLES.rglob("*.kls")) + sorted(GOLDEN.glob("*.kls"))


# ---------------------------------------------------------------------------
# Generated input

FRAGMENTS = ["title:", "model:", " kling-v3", "aspect: 16:9", "use ", '"cast.kls"', "character ",
             "location ", "prop ", "scene ", '"Title"', " (3s)", "(2.5s)", " at ", "@Alex", "@",
             "Shot ", "1", "Shot 1 (3s):", ":", " ", "    ", "\t", "\n", "\r\n", "\r", "#", "# c\n",
             '"', "“", "”", "\\", "\\\"", "(", ")", ",", "sad", "Korean", "V.O.", "지우", "花子",
             "Tomás", "first frame:", "images:", "description:", "voice:", "sound:", "\ufeff",
             "\x00", "\ufffd", "é", "😀", "\u200b", "Old Man", "Woman (wistful):", "../", "/etc/passwd"]

texts = st.one_of(
    st.text(max_size=300),
    st.lists(st.sampled_from(FRAGMENTS), max_size=80).map("".join),
    st.lists(st.one_of(st.sampled_from(FRAGMENTS), st.text(max_size=5)), max_size=60).map("".join),
)


@FAST
@given(texts)
def test_arbitrary_text(project, text):
    check_text(project, "arbitrary.kls", text)


@FAST
@given(st.binary(max_size=400))
def test_random_bytes(project, data):
    check_text(project, "bytes.kls", data)


def _mutate(draw, text: str) -> str:
    lines = text.split("\n")
    for _ in range(draw(st.integers(1, 6))):
        if not lines:
            lines = [""]
        i = draw(st.integers(0, len(lines) - 1))
        op = draw(st.sampled_from(["delete", "duplicate", "insert", "remove", "replace", "swap", "indent"]))
        line = lines[i]
        if op == "delete":
            del lines[i]
        elif op == "duplicate":
            lines.insert(i, line)
        elif op == "swap" and len(lines) > 1:
            j = draw(st.integers(0, len(lines) - 1))
            lines[i], lines[j] = lines[j], lines[i]
        elif op == "indent":
            lines[i] = draw(st.sampled_from([" ", "  ", "\t", "        "])) + line
        else:
            pos = draw(st.integers(0, len(line)))
            ch = draw(st.one_of(st.sampled_from(list(':"“”()@#,\\\t ') + ["\n", "Shot ", "지"]),
                                st.characters(blacklist_categories=("Cs",))))
            if op == "insert":
                line = line[:pos] + ch + line[pos:]
            elif op == "remove":
                line = line[:pos] + line[pos + 1:]
            else:
                line = line[:pos] + ch + line[pos + 1:]
            lines[i] = line
    return "\n".join(lines)


@st.composite
def mutated(draw):
    paths = seeds()
    if not paths:
        return None, ""
    path = draw(st.sampled_from(paths))
    return path, _mutate(draw, path.read_bytes().decode("utf-8"))


@FAST
@given(mutated())
def test_mutated_examples(project, case):
    path, text = case
    if path is None:
        pytest.skip("no example scripts")
    # Next to the original, so that its `use` files and images are found.
    if path.is_relative_to(EXAMPLES):
        folder = project / path.parent.relative_to(EXAMPLES)
    else:
        folder = project
    check_text(folder, "mutated.kls", text)


@FAST
@given(st.data())
def test_mutated_generated_documents(project, data):
    text, _ = data.draw(documents())
    check_text(project, "generated.kls", _mutate(data.draw, text))


# ---------------------------------------------------------------------------
# Explicit nasty files


def long_script(lines: int = 5000) -> str:
    out = ["title: A very long film", "model: kling-v3", "",
           "character Alex:", '    description: "late-20s man, messy brown hair"', ""]
    n = 0
    while len(out) < lines:
        n += 1
        out.append(f'scene "Scene {n}":')
        for s in range(1, 4):
            out.append(f"    Shot {s} (3s): @Alex crosses room {n}, part {s}.")
            out.append(f'        @Alex (softly): "Line {n}.{s}."')
        out.append("")
    return "\n".join(out[:lines]) + "\n"


NASTY = {
    "empty": b"",
    "only_newlines": b"\n\n\n",
    "only_comments": "# one\n    # two\n\t# three\n#\n".encode(),
    "png": PNG,
    "nul": b"title: x\x00\x00\nscene \"S\":\n",
    "invalid_utf8": b"title: caf\xe9\nscene \"S\":\n    Shot 1 (3s): \xff\xfe ok\n",
    "bom_crlf": "\ufefftitle: T\r\ncharacter 지우:\r\n    description: \"girl\"\r\n\r\n"
                "scene \"옥상\":\r\n    Shot 1 (3s): @지우 waits.\r\n        @지우 (Korean): \"왜?\"\r\n"
                "    Shot 3 (x): @Nobody\r\n".encode(),
    "bom_only": "\ufeff".encode(),
    "long": long_script().encode(),
    "deep_junk": "".join(" " * (i % 40) + ("Shot ) (: \"\n" if i % 3 else "@@ :: ((\n")
                         for i in range(400)).encode(),
    "deeper": "".join(" " * i + "scene \"x\":\n" for i in range(300)).encode(),
    "unterminated_last": b'scene "S":\n    Shot 1 (3s): x\n        @A: "never closed',
    "unterminated_curly": "scene \u201cS:\n    Woman: \u201cnever closed".encode(),
    "cr_only": b'title: T\rscene "S":\r    Shot 1 (3s): x\r',
    "long_line": ("title: " + "x" * 100_000 + "\n").encode(),
    "many_errors": b"}}}\n" * 500,
    "self_use": b'use "self_use.kls"\nuse "."\nuse ""\n',
}


@pytest.mark.parametrize("name", sorted(NASTY))
def test_nasty_files(project, name):
    check_text(project, f"{name}.kls", NASTY[name])


def test_long_script_has_no_errors(project):
    path = project / "long.kls"
    path.write_text(long_script(), encoding="utf-8")
    checked = check(path)
    assert not [d for d in checked.diagnostics if d.severity.value == "error"]
    assert len(checked.program.main.text.splitlines()) == 5000


def test_unterminated_string_on_last_line_points_at_it():
    text = 'scene "S":\n    Shot 1 (3s): x\n        @A: "never closed'
    _, diags = parse(text, "u.kls")
    assert [d.code for d in diags] == ["KLS102"]
    assert diags[0].span.line == 3 and text[diags[0].span.start] == '"'
    assert_span_inside(diags[0].span, text, "KLS102")


def test_binary_and_invalid_utf8_get_one_clear_error(project):
    for name in ("png", "nul", "invalid_utf8"):
        path = project / f"{name}.kls"
        path.write_bytes(NASTY[name])
        codes = [d.code for d in check(path).diagnostics]
        assert "KLS100" in codes, name
    assert [d.code for d in check(project / "png.kls").diagnostics] == ["KLS100"]


CLI_CASES = ["empty", "only_comments", "png", "nul", "invalid_utf8", "bom_crlf", "deep_junk",
             "unterminated_last", "long"]


@pytest.mark.parametrize("name", CLI_CASES)
def test_cli_never_tracebacks(project, name):
    path = project / f"cli_{name}.kls"
    path.write_bytes(NASTY[name])
    env = dict(os.environ, NO_COLOR="1", PYTHONIOENCODING="utf-8")
    run = subprocess.run([sys.executable, "-m", "klingscript", "check", "--format", "json", str(path)],
                         capture_output=True, env=env, timeout=120)
    assert run.returncode in (0, 1), run.stderr.decode(errors="replace")
    assert b"Traceback" not in run.stderr and b"internal error" not in run.stderr
    text = path.read_bytes().decode("utf-8", errors="replace")
    starts = _line_starts(text)
    for d in json.loads(run.stdout.decode("utf-8")):
        assert 1 <= d["line"] <= d["end_line"] <= len(starts) - 1, d
        assert 1 <= d["column"] <= len(_line_content(text, starts, d["line"])) + 1, d
        assert 1 <= d["end_column"] <= len(_line_content(text, starts, d["end_line"])) + 1, d
    # The text renderer too (code frames on odd lines).
    run = subprocess.run([sys.executable, "-m", "klingscript", "check", str(path)],
                         capture_output=True, env=env, timeout=120)
    assert run.returncode in (0, 1) and b"Traceback" not in run.stderr
    run = subprocess.run([sys.executable, "-m", "klingscript", "fmt", "--check", str(path)],
                         capture_output=True, env=env, timeout=120)
    assert run.returncode in (0, 1) and b"Traceback" not in run.stderr


def test_cli_fmt_never_tracebacks_on_binary(project):
    path = project / "fmt_png.kls"
    path.write_bytes(PNG)
    run = subprocess.run([sys.executable, "-m", "klingscript", "fmt", str(path)], capture_output=True,
                         timeout=120)
    assert run.returncode == 1 and b"Traceback" not in run.stderr
    assert path.read_bytes() == PNG


# ---------------------------------------------------------------------------
# Regressions


def test_offsets_after_a_line_set_aside():
    # Error recovery sets the first line aside; the second error's offset must
    # still count the first line's characters.
    text = "0\n0"
    _, diags = parse(text)
    assert [(d.span.line, d.span.start) for d in diags] == [(1, 0), (2, 2)]
    doc, diags = parse('junk line\ntitle: T\nscene "S":\n    Shot 1 (3s): @Alex\n')
    ref = doc.scenes[0].shots[0].text.refs[0]
    assert 'junk line\ntitle: T\nscene "S":\n    Shot 1 (3s): @Alex\n'[ref.span.start:ref.span.end] == "@Alex"


@pytest.mark.parametrize("text", ["\ufeff\x00", "\n\x00", "title: x\x00", "\r\n\r\nab\x00"])
def test_binary_data_is_reported_where_it_is(text):
    _, diags = parse(text)
    assert [d.code for d in diags] == ["KLS100"]
    assert_span_inside(diags[0].span, text, "binary")
    assert text[diags[0].span.start] == "\x00"


@pytest.mark.parametrize("text, block", [
    ('scene "Kitchen":\n        Shot 1 (3s): Mom opens the fridge.\n    Shot 2 (3s): She closes it.\n', "scene"),
    ('character A:\n        description: "x"\n    voice: "y"\n', "element"),
])
def test_dedent_to_no_level_is_an_indentation_error(text, block):
    # The line stays in the block it fell inside, so the only error is KLS101.
    doc, diags = parse(text)
    assert [(d.code, d.span.line) for d in diags] == [("KLS101", 3)]
    if block == "scene":
        assert [s.number for s in doc.scenes[0].shots] == [1, 2]
    else:
        assert [f.key for f in doc.elements[0].fields] == ["description", "voice"]


def test_a_tab_reading_keeps_the_comments_of_the_lines_it_reads(project):
    """The formatter's reading of a tab-indented file can read a line the parser set aside
    (KLS101) and keep its comment: the comments to compare are that reading's (found by
    test_mutated_generated_documents)."""
    text = ('\ufeff\r\nstyle:“”#\r\ntitle:My Film\r\n\r\nscene “” at @Alex:#\r\n\r\n\r\n first frame:“”#\r\n'
            ' sound:“”#\r\n\r\n @Alex(sad,sad,sad):“”#\r\n\r\nscene “”(1s) at @Alex:\r\n\r\n\r\n'
            '\tfirst frame:“”\r\n\r\n\r\n \tfirst frame:“”#\r\nuse “”#\r\nuse “”#\r\nuse “”#\r\n')
    check_text(project, "tabs.kls", text)

"""``klingc explain CODE``: one page per diagnostic code, and its example is real."""

from __future__ import annotations

import re

import pytest

from klingscript.compiler import check
from klingscript.diagnostics.codes import CODES, explain
from klingscript.resources import data_path

SECTIONS = ("## What triggers it", "## Example", "## How to fix it")
# Checked when the planner lays out jobs; `klingc check` may not report them.
PLANNER_CODES = {"KLS302", "KLS305", "KLS306", "KLS308"}


def page(code: str) -> str:
    text = explain(code)
    assert text is not None, f"no page for {code}: add klingscript/data/explain/{code}.md"
    return text


def snippet(text: str) -> str:
    m = re.search(r"^```kls\n(.*?)^```", text, re.S | re.M)
    assert m, "the Example section needs a ```kls snippet"
    return m.group(1)


def test_every_page_belongs_to_a_code():
    pages = {p.stem for p in data_path("explain").glob("*.md")}
    assert pages == set(CODES), f"pages without a code: {pages - set(CODES)}; codes without a page: {set(CODES) - pages}"


@pytest.mark.parametrize("code", sorted(CODES))
def test_page_has_title_and_sections(code):
    text = page(code)
    title = text.splitlines()[0]
    info = CODES[code]
    assert title == f"# {code} ({info.severity.value}): {info.summary}"
    positions = [text.find(s) for s in SECTIONS]
    assert all(p > 0 for p in positions) and positions == sorted(positions), \
        f"{code}: sections {SECTIONS} in this order"
    example = text[positions[1]:positions[2]]
    assert "```kls" in example, f"{code}: the example needs a ```kls snippet"
    assert re.search(rf"(error|warning|note)\[{code}\]", example), \
        f"{code}: the example shows the diagnostic it gets"
    assert f"{info.severity.value}[{code}]" in example
    assert len(text[positions[2]:].split()) > 15, f"{code}: say how to fix it"


@pytest.mark.parametrize("code", sorted(CODES))
def test_example_produces_its_code(code, tmp_path, monkeypatch):
    script = tmp_path / "project" / "pilot.kls"
    script.parent.mkdir()
    text = snippet(page(code))
    script.write_text(text, encoding="utf-8")
    if code != "KLS501":
        # The images an example names exist, so that it gets only its own problem.
        from PIL import Image
        for rel in re.findall(r'"([^"]+\.(?:png|jpe?g))"', text):
            image = script.parent / rel
            image.parent.mkdir(parents=True, exist_ok=True)
            Image.new("RGB", (1280, 720), (120, 90, 60)).save(image)
    monkeypatch.chdir(script.parent)
    program = check("pilot.kls")
    codes = {d.code for d in program.diagnostics}
    if code not in codes and code in PLANNER_CODES:
        pytest.skip(f"{code} is reported by the planner; `klingc check` does not report it")
    if code not in ("KLS501", "KLS502"):
        assert "KLS501" not in codes, "an example's images exist"
    assert code in codes, f"the {code} example gets {sorted(codes)}"
    shown = re.search(r"```text\n(.*?)```", page(code), re.S).group(1)
    first = shown.splitlines()[0]
    line, col = map(int, re.match(r"pilot\.kls:(\d+):(\d+):", first).groups())
    assert any(d.code == code and (d.span.line, d.span.column) == (line, col) for d in program.diagnostics), \
        f"the page shows {code} at {line}:{col}; klingc reports it at " \
        f"{[(d.span.line, d.span.column) for d in program.diagnostics if d.code == code]}"


def test_cli_explain_is_case_insensitive(klingc):
    r = klingc("explain", "kls201")
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("# KLS201 (error)") and "## How to fix it" in r.stdout
    assert r.stdout == klingc("explain", "KLS201").stdout


def test_cli_explain_unknown_code_exits_2(klingc):
    r = klingc("explain", "KLS999")
    assert r.returncode == 2 and r.stdout == "" and "KLS999" in r.stderr
    assert klingc("explain", "nonsense").returncode == 2


def test_cli_explain_lists_every_code(klingc):
    r = klingc("explain")
    assert r.returncode == 0
    assert [line.split()[0] for line in r.stdout.splitlines()] == list(CODES)

"""The parser is Lark's standalone parser generated from grammar/klingscript.lark
(klingscript/syntax/_lark_standalone.py, by scripts/gen_lark_standalone.py): the
committed module must be what the generator makes of the grammar and the installed
Lark, and must read every example as Lark itself does."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

from klingscript.syntax import parser as P

ROOT = Path(__file__).resolve().parent.parent
GEN = ROOT / "scripts" / "gen_lark_standalone.py"


@pytest.fixture(scope="module")
def gen():
    spec = importlib.util.spec_from_file_location("gen_lark_standalone", GEN)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_the_committed_parser_is_generated_from_the_grammar_and_lark(gen):
    committed = gen.MODULE.read_text(encoding="utf-8")
    assert f"# grammar sha256: {gen.grammar_digest(gen.GRAMMAR.read_text(encoding='utf-8'))}\n" in committed, \
        "grammar/klingscript.lark changed: run python scripts/gen_lark_standalone.py"
    assert gen.code_part(committed) == gen.code_part(gen.generate()), \
        "Lark or the generator changed: run python scripts/gen_lark_standalone.py"


def test_the_check_fails_on_a_stale_module(gen, tmp_path, monkeypatch):
    stale = tmp_path / "_lark_standalone.py"
    stale.write_text(gen.MODULE.read_text(encoding="utf-8").replace("# grammar sha256: ", "# grammar sha256: 0"),
                     encoding="utf-8")
    monkeypatch.setattr(gen, "MODULE", stale)
    assert gen.main(["--check"]) == 1
    edited = tmp_path / "klingscript.lark"
    edited.write_text(gen.GRAMMAR.read_text(encoding="utf-8") + "\n// a change\n", encoding="utf-8")
    monkeypatch.setattr(gen, "MODULE", gen.MODULE.__class__(P.__file__).with_name("_lark_standalone.py"))
    monkeypatch.setattr(gen, "GRAMMAR", edited)
    assert gen.main(["--check"]) == 1


def test_parsing_does_not_import_lark():
    code = ("import sys; from klingscript.syntax.parser import parse; "
            "d = parse(open(sys.argv[1], encoding='utf-8').read(), 'film.kls'); "
            "print(sorted(m for m in sys.modules if m == 'lark' or m.startswith('lark.')))")
    r = subprocess.run([sys.executable, "-c", code, str(ROOT / "examples" / "sitcom_coffee_shop.kls")],
                       capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[]"


def _lark_parser():
    from lark import Lark

    # The same post-lexer (Lark only calls its `process`), over Lark's own lexer and tables.
    return Lark((ROOT / "grammar" / "klingscript.lark").read_text(encoding="utf-8"), parser="lalr",
                lexer="contextual", postlex=P._make_indenter(), maybe_placeholders=False)


def _shape(tree):
    """A parse tree as nested tuples of rule names and (type, text, line, column) tokens."""
    if hasattr(tree, "data"):
        return (str(tree.data), tuple(_shape(c) for c in tree.children))
    return (tree.type, str(tree), tree.line, tree.column)


@pytest.mark.parametrize("path", sorted((ROOT / "examples").rglob("*.kls")), ids=lambda p: p.name)
def test_the_standalone_parser_reads_each_example_as_lark_does(path):
    lark_parser = _lark_parser()
    text = "\n" + path.read_text(encoding="utf-8")
    assert _shape(P.get_parser().parse(text)) == _shape(lark_parser.parse(text))

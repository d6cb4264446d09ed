"""The TextMate grammar, tokenized by the engine VS Code uses.

``tests/textmate/tokenize.js`` runs vscode-textmate with vscode-oniguruma
(installed from npm into ``tests/textmate/node_modules`` on first use, from
the committed lock file). The tests skip only when Node.js or npm is missing.
The KlingScript parser is the oracle: every reference, speaker, shot and
scene it finds in the examples must carry the matching scope.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest

from klingscript.syntax import ast as A
from klingscript.syntax.parser import parse

REPO = Path(__file__).resolve().parent.parent
TM_DIR = REPO / "tests" / "textmate"
GRAMMAR = REPO / "grammar" / "klingscript.tmLanguage.json"
VSCODE = REPO / "editors" / "vscode"
EXAMPLES = sorted((REPO / "examples").rglob("*.kls"))

SAMPLE = '''\
# A sample with the harder corners of the language
title: Episode #1
model: kling-v3-omni
language: 한국어
style: "noir, \\"hard\\" shadows"   # trailing comment
negative: \u201ccurly negative\u201d

use "cast.kls"  # the shared cast

character Ha_Eun:  # lead
    description: "대학생, 노란 우산 🌂"
    images: "refs/a.png", "refs/b.png"
prop Umbrella:
    description: "yellow umbrella"

scene "Rain 🌧" (12s) at @Street:
    first frame: "frames/rain.png"
    sound: "rain on asphalt"

    Shot 1 (4s): @Ha_Eun opens @Umbrella. #1 fan waves.
        Old Man (O.S., weary): "Close the door."
        @Ha_Eun (shy, ko, V.O.): "비가 와요 😊"  # Korean line
        sound: "thunder"
    Shot 2: She runs.
        Mom: \u201cCome home!\u201d
'''


def _run(cmd, cwd, timeout):
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, encoding="utf-8", timeout=timeout)


@pytest.fixture(scope="module")
def engine() -> Path:
    node, npm = shutil.which("node"), shutil.which("npm")
    if not node or not npm:
        pytest.skip("Node.js and npm are needed to run vscode-textmate")
    if not (TM_DIR / "node_modules" / "vscode-textmate").is_dir() \
            or not (TM_DIR / "node_modules" / "vscode-oniguruma").is_dir():
        lock = TM_DIR / "package-lock.json"
        cmd = [npm, "ci"] if lock.exists() else [npm, "install"]
        r = _run(cmd + ["--no-audit", "--no-fund", "--loglevel=error"], TM_DIR, 600)
        assert r.returncode == 0, f"installing vscode-textmate failed:\n{r.stderr}"
    return Path(node)


@pytest.fixture(scope="module")
def tokens(engine, tmp_path_factory):
    """{path: [[(text, scopes), ...] per line]} for every example and the sample."""
    sample = tmp_path_factory.mktemp("tm") / "sample.kls"
    sample.write_text(SAMPLE, encoding="utf-8")
    files = [str(p) for p in EXAMPLES] + [str(sample)]
    r = _run([str(engine), str(TM_DIR / "tokenize.js"), str(GRAMMAR), *files], TM_DIR, 300)
    assert r.returncode == 0, r.stderr
    raw = json.loads(r.stdout)
    out = {Path(f): [[(t["text"], t["scopes"]) for t in line] for line in lines] for f, lines in raw.items()}
    out["sample"] = out[sample]
    return out


def scopes_at(lines, line: int, column: int) -> list[str]:
    """Scopes of the token at 1-based line and code-point column."""
    pos = 1
    for text, scopes in lines[line - 1]:
        if pos <= column < pos + len(text):
            return scopes
        pos += len(text)
    raise AssertionError(f"no token at {line}:{column}")


def scopes_of(lines, line: int, needle: str, nth: int = 0) -> list[str]:
    """Scopes of the token that starts where ``needle`` occurs (nth occurrence) on ``line``."""
    text = "".join(t for t, _ in lines[line - 1])
    idx = -1
    for _ in range(nth + 1):
        idx = text.index(needle, idx + 1)
    return scopes_at(lines, line, idx + 1)


def line_of(needle: str) -> int:
    for i, line in enumerate(SAMPLE.splitlines(), 1):
        if needle in line:
            return i
    raise AssertionError(needle)


def has(scopes: list[str], prefix: str) -> bool:
    return any(s == prefix or s.startswith(prefix + ".") for s in scopes)


# -- chosen tokens ------------------------------------------------------------

@pytest.mark.parametrize("needle,text,scope", [
    ("# A sample", "# A sample", "comment.line.number-sign"),
    ("title: Episode", "title", "support.type.property-name.setting"),
    ("title: Episode", "Episode #1", "string.unquoted.setting-value"),
    ("model: kling", "kling-v3-omni", "constant.language.setting-value"),
    ("language: 한국어", "한국어", "support.constant.language"),
    ("style:", "noir", "string.quoted.double"),
    ("style:", "\\\"", "constant.character.escape"),
    ("style:", "# trailing", "comment.line.number-sign"),
    ("negative:", "curly", "string.quoted.double.curly"),
    ("use \"cast", "use", "keyword.control.import"),
    ("use \"cast", "cast.kls", "string.quoted.double"),
    ("use \"cast", "# the shared", "comment.line.number-sign"),
    ("character Ha_Eun", "character", "storage.type.element"),
    ("character Ha_Eun", "Ha_Eun", "entity.name.type.element"),
    ("character Ha_Eun", "# lead", "comment.line.number-sign"),
    ("description: \"대학생", "description", "support.type.property-name.field"),
    ("description: \"대학생", "🌂", "string.quoted.double"),
    ("images:", "refs/b.png", "string.quoted.double"),
    ("prop Umbrella", "prop", "storage.type.element"),
    ("scene \"Rain", "scene", "keyword.control.scene"),
    ("scene \"Rain", "\"Rain", "entity.name.section.scene"),
    ("scene \"Rain", "(12s)", "constant.numeric.duration"),
    ("scene \"Rain", "at", "keyword.other.at"),
    ("scene \"Rain", "Street", "variable.other.reference"),
    ("first frame:", "first frame", "support.type.property-name.setting"),
    ("sound: \"rain", "sound", "keyword.other.sound"),
    ("sound: \"rain", "rain on", "string.quoted.double"),
    ("sound: \"thunder", "sound", "keyword.other.sound"),
    ("Shot 1 (4s)", "Shot", "keyword.control.shot"),
    ("Shot 1 (4s)", "1", "constant.numeric.shot-number"),
    ("Shot 1 (4s)", "(4s)", "constant.numeric.duration"),
    ("Shot 1 (4s)", "Ha_Eun", "variable.other.reference"),
    ("Shot 1 (4s)", "@Umbrella", "punctuation.definition.reference"),
    ("Shot 2:", "2", "constant.numeric.shot-number"),
    ("Old Man (O.S.", "Old Man", "entity.name.tag.speaker"),
    ("Old Man (O.S.", "O.S.", "keyword.other.offscreen"),
    ("Old Man (O.S.", "weary", "entity.other.attribute-name.tone"),
    ("Old Man (O.S.", "Close the door.", "string.quoted.double"),
    ("@Ha_Eun (shy", "Ha_Eun", "entity.name.tag.speaker"),
    ("@Ha_Eun (shy", "Ha_Eun", "variable.other.reference"),
    ("@Ha_Eun (shy", "shy", "entity.other.attribute-name.tone"),
    ("@Ha_Eun (shy", "ko", "support.constant.language"),
    ("@Ha_Eun (shy", "V.O.", "keyword.other.offscreen"),
    ("@Ha_Eun (shy", "비가 와요 😊", "string.quoted.double"),
    ("@Ha_Eun (shy", "# Korean", "comment.line.number-sign"),
    ("Mom: ", "Mom", "entity.name.tag.speaker"),
    ("Mom: ", "Come home!", "string.quoted.double.curly"),
])
def test_chosen_tokens(tokens, needle, text, scope):
    scopes = scopes_of(tokens["sample"], line_of(needle), text)
    assert has(scopes, scope), f"{text!r} on the line with {needle!r}: {scopes}"


def test_hash_inside_prose_is_text(tokens):
    lines = tokens["sample"]
    assert not has(scopes_of(lines, line_of("#1 fan"), "#1 fan"), "comment")
    assert not has(scopes_of(lines, line_of("title: Episode"), "#1"), "comment")


def test_scope_kinds_are_distinct(tokens):
    """The kinds of token the issue names each get their own scope."""
    lines = tokens["sample"]
    picks = {
        "comment": scopes_of(lines, 1, "#"),
        "setting key": scopes_of(lines, line_of("model:"), "model"),
        "setting value": scopes_of(lines, line_of("model:"), "kling"),
        "element kind": scopes_of(lines, line_of("prop Umbrella"), "prop"),
        "element name": scopes_of(lines, line_of("prop Umbrella"), "Umbrella"),
        "reference": scopes_of(lines, line_of("Shot 1"), "Umbrella"),
        "scene header": scopes_of(lines, line_of("scene \"Rain"), "scene"),
        "shot header": scopes_of(lines, line_of("Shot 1"), "Shot"),
        "duration": scopes_of(lines, line_of("Shot 1"), "(4s)"),
        "speaker": scopes_of(lines, line_of("Old Man"), "Old"),
        "direction": scopes_of(lines, line_of("Old Man"), "weary"),
        "language": scopes_of(lines, line_of("@Ha_Eun (shy"), "ko"),
        "string": scopes_of(lines, line_of("Old Man"), "Close"),
        "sound cue": scopes_of(lines, line_of("sound: \"thunder"), "sound"),
    }
    innermost = {k: v[-1] for k, v in picks.items()}
    assert len(set(innermost.values())) == len(innermost), innermost


# -- the parser as oracle on every example -------------------------------------

def _nodes(path: Path):
    doc, diags = parse(path.read_text(encoding="utf-8"), str(path))
    assert not [d for d in diags if d.code in ("KLS100", "KLS101", "KLS102")]
    return list(A.walk(doc)), doc


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: str(p.relative_to(REPO / "examples")))
def test_examples_agree_with_parser(tokens, path):
    lines = tokens[path]
    nodes, doc = _nodes(path)
    for n in nodes:
        s = getattr(n, "span", None)
        if isinstance(n, A.Ref):
            assert has(scopes_at(lines, s.line, s.column + 1), "variable.other.reference"), (s, n)
        elif isinstance(n, A.Dialogue):
            sp = n.speaker.span
            assert has(scopes_at(lines, sp.line, sp.column + 1), "entity.name.tag.speaker"), sp
            assert has(scopes_at(lines, n.line.span.line, n.line.span.column), "string.quoted"), n.line.span
            if n.direction is not None:
                for item in n.direction.items:
                    scopes = scopes_at(lines, item.span.line, item.span.column)
                    if n.direction.language is not None and item.span == n.direction.language.span:
                        assert has(scopes, "support.constant.language"), item
                    elif item.value in n.direction.tones:
                        assert has(scopes, "entity.other.attribute-name.tone"), item
                    else:
                        assert has(scopes, "keyword.other.offscreen"), item
        elif isinstance(n, A.Shot):
            assert has(scopes_at(lines, n.head_span.line, n.head_span.column), "keyword.control.shot")
            assert has(scopes_at(lines, n.number_span.line, n.number_span.column), "constant.numeric.shot-number")
            if n.duration is not None:
                d = n.duration.span
                assert has(scopes_at(lines, d.line, d.column), "constant.numeric.duration")
        elif isinstance(n, A.Scene):
            t = n.title.span
            assert has(scopes_at(lines, n.head_span.line, n.head_span.column), "keyword.control.scene")
            assert has(scopes_at(lines, t.line, t.column + 1), "entity.name.section.scene")
        elif isinstance(n, A.Element):
            assert has(scopes_at(lines, n.name_span.line, n.name_span.column), "entity.name.type.element")
        elif isinstance(n, A.Sound):
            assert has(scopes_at(lines, n.span.line, n.span.column), "keyword.other.sound")
        elif isinstance(n, A.Comment):
            assert has(scopes_at(lines, s.line, s.column), "comment.line.number-sign")
    for item in doc.items:
        if isinstance(item, A.Setting):
            assert has(scopes_at(lines, item.key_span.line, item.key_span.column),
                       "support.type.property-name.setting"), item.key
    for scene in doc.scenes:
        for st in scene.settings:
            want = "keyword.other.sound" if st.key == "sound" else "support.type.property-name.setting"
            assert has(scopes_at(lines, st.key_span.line, st.key_span.column), want), st.key


def test_no_invalid_scopes_on_examples(tokens):
    for path in EXAMPLES:
        for i, line in enumerate(tokens[path], 1):
            for text, scopes in line:
                assert not any(s.startswith("invalid") for s in scopes), (path, i, text)


# -- the grammar file and the VS Code extension ---------------------------------

def _grammar() -> dict:
    return json.loads(GRAMMAR.read_text(encoding="utf-8"))


def test_grammar_knows_every_language_name():
    """The language names in directions come from data/languages.toml."""
    direction = _grammar()["repository"]["direction"]["patterns"]
    pattern = next(p["match"] for p in direction if "support.constant.language" in json.dumps(p))
    body = re.search(r"\(\?i:\((.*)\)\)", pattern).group(1)
    rx = re.compile(r"(?i:(?:" + body + r"))\Z")
    table = tomllib.loads((REPO / "klingscript" / "data" / "languages.toml").read_text(encoding="utf-8"))
    for name, entry in table.items():
        for n in [name, entry["code"], *entry.get("names", ())]:
            if "(" in n:
                continue  # a parenthesis cannot appear inside a direction
            assert rx.match(n), f"the TextMate grammar does not know the language name {n!r}"


def test_vscode_grammar_copy_is_identical():
    copy = VSCODE / "syntaxes" / "klingscript.tmLanguage.json"
    assert copy.read_bytes() == GRAMMAR.read_bytes(), \
        "copy grammar/klingscript.tmLanguage.json to editors/vscode/syntaxes/"


def test_vscode_extension_manifest():
    pkg = json.loads((VSCODE / "package.json").read_text(encoding="utf-8"))
    contributes = pkg["contributes"]
    lang = contributes["languages"][0]
    assert lang["id"] == "klingscript" and ".kls" in lang["extensions"]
    assert (VSCODE / lang["configuration"]).is_file()
    grammar = contributes["grammars"][0]
    assert grammar["scopeName"] == _grammar()["scopeName"] == "source.klingscript"
    assert (VSCODE / grammar["path"]).is_file()
    for s in contributes["snippets"]:
        snippets = json.loads((VSCODE / s["path"]).read_text(encoding="utf-8"))
        bodies = {k.lower(): "\n".join(v["body"]) for k, v in snippets.items()}
        assert bodies["character"].startswith("character ")
        assert bodies["scene"].startswith("scene ")
        assert bodies["shot"].startswith("Shot ")
    assert (VSCODE / pkg["main"]).is_file()


def test_language_configuration():
    conf = json.loads((VSCODE / "language-configuration.json").read_text(encoding="utf-8"))
    assert conf["comments"]["lineComment"] == "#"
    pairs = {p["open"]: p["close"] for p in conf["autoClosingPairs"]}
    assert pairs["("] == ")" and pairs['"'] == '"' and pairs["\u201c"] == "\u201d"
    assert conf["folding"]["offSide"] is True
    inc = re.compile(conf["indentationRules"]["increaseIndentPattern"])
    for opener in ("character Alex:", "scene \"Terrace\" (10s):", "    Shot 2 (3s): @Alex rushes in.",
                   "location CoffeeShop:"):
        assert inc.search(opener), opener
    for plain in ("title: Pilot", "    @Alex: \"Hi\"", "    description: \"x\""):
        assert not inc.search(plain), plain

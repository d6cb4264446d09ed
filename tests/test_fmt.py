"""``klingc fmt``: the canonical layout.

Checked the way gdtoolkit checks its formatter: for every example script and
for generated documents, (a) formatting twice changes nothing, (b) the
formatted file parses to the same tree, (c) no comment is lost or reordered.
Golden pairs in ``tests/fmt/NAME.in.kls`` -> ``NAME.out.kls`` pin the layout
itself (rewrite them with ``pytest --update-golden``).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from klingscript.syntax import ast as A
from klingscript.tools.fmt import escape, format_source, format_text
from klingscript.syntax.parser import parse

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "examples"
GOLDEN = Path(__file__).resolve().parent / "fmt"


def example_files() -> list[Path]:
    return sorted(EXAMPLES.rglob("*.kls"))


def golden_inputs() -> list[Path]:
    return sorted(GOLDEN.glob("*.in.kls"))


def read(path: Path) -> str:
    return path.read_bytes().decode("utf-8")


# ---------------------------------------------------------------------------
# What must not change


def shape(text: str):
    """The tree of ``text`` without spans or layout: what formatting must keep."""
    doc, _ = parse(text)
    uses = tuple(u.path.value for u in doc.uses)  # ast.structure leaves out `path` fields
    return _canon(A.structure(doc)), uses


def _canon(node):
    """``( 4s )`` and ``(4s)`` are one duration: compare durations by their seconds."""
    if type(node) is tuple:
        if node[:1] == ("Duration",):
            fields = dict(node[1:])
            if fields["seconds"] is not None:
                return ("Duration", ("seconds", fields["seconds"]))
        return tuple(_canon(v) for v in node)
    return node


_HEAD_COMMENT = re.compile(r"[ \t]*:[ \t]*(#[^\r\n]*?)[ \t]*\r?$")


def comments(text: str) -> list[str]:
    """Every comment of ``text`` in source order: whole lines, after strings, after heads."""
    doc, _ = parse(text)
    lines = re.split("\r\n|\r|\n", text[1:] if text.startswith("\ufeff") else text)   # LSP's lines
    found = [(c.span.line, c.span.column, c.text) for c in doc.comments]
    for node in A.walk(doc):
        c = getattr(node, "comment", None)
        if isinstance(c, A.Comment):
            found.append((c.span.line, c.span.column, c.text))
        head = node.name_span if isinstance(node, A.Element) else \
            node.head_span if isinstance(node, A.Scene) else None
        if head is not None:
            m = _HEAD_COMMENT.match(lines[head.end_line - 1][head.end_column - 1:])
            if m:
                found.append((head.end_line, head.end_column + m.start(1), m.group(1)))
    return [t for _, _, t in sorted(found)]


def check_properties(text: str) -> str:
    out = format_source(text)
    assert out is not None, format_text(text)[1]
    assert format_source(out) == out, "formatting is not idempotent"
    assert shape(out) == shape(text), "formatting changed the meaning of the script"
    assert comments(out) == comments(text), "formatting lost or moved a comment"
    assert "\t" not in "".join(l[: len(l) - len(l.lstrip())] for l in out.split("\n"))
    assert "\r" not in out and not out.startswith("\ufeff")
    assert out == "" or (out.endswith("\n") and not out.endswith("\n\n"))
    assert "\n\n\n" not in out
    return out


# ---------------------------------------------------------------------------
# The examples


@pytest.mark.parametrize("path", example_files(), ids=lambda p: str(p.relative_to(EXAMPLES)))
def test_examples_keep_their_meaning(path):
    check_properties(read(path))


# ---------------------------------------------------------------------------
# Golden pairs


@pytest.mark.parametrize("path", golden_inputs(), ids=lambda p: p.name[: -len(".in.kls")])
def test_golden(path, golden):
    out = check_properties(read(path))
    golden(path.with_name(path.name[: -len(".in.kls")] + ".out.kls"), out)


@pytest.mark.parametrize("path", sorted(GOLDEN.glob("*.out.kls")), ids=lambda p: p.name)
def test_golden_outputs_are_canonical(path):
    text = read(path)
    assert format_source(text) == text


def test_golden_pairs_exist():
    names = {p.name[: -len(".in.kls")] for p in golden_inputs()}
    assert {"messy", "comments", "crlf_bom", "tabs"} <= names


# ---------------------------------------------------------------------------
# Layout rules, one at a time


def fmt(text: str) -> str:
    out = format_source(text)
    assert out is not None, format_text(text)[1]
    return out


def test_settings_group_and_blocks_are_separated_by_one_blank_line():
    src = ('title:   A\n\n\nmodel:kling-v3\nuse "a.kls"\n\n\nuse "b.kls"\n'
           'character Ann:\n  description: "x"\n\n  voice: "y"\ncharacter Bo:\n  description: "z"\n'
           'scene "S":\n  aspect: 9:16\n  Shot 1 (3s): @Ann waves.\n\n  Shot 2 (3s): @Bo waves back.\n')
    assert fmt(src) == (
        'title: A\nmodel: kling-v3\n\nuse "a.kls"\nuse "b.kls"\n\n'
        'character Ann:\n    description: "x"\n    voice: "y"\n\n'
        'character Bo:\n    description: "z"\n\n'
        'scene "S":\n    aspect: 9:16\n\n    Shot 1 (3s): @Ann waves.\n    Shot 2 (3s): @Bo waves back.\n')


def test_heads_are_normalised():
    src = ('scene   “Café”  ( 10 s )   at   @Park  :\n'
           '  first   frame:"f.png"\n'
           '  Shot 1(4s):text\n'
           '     @Tomás( sad ,Korean ,  V.O. ):"hi"\n'
           '     Old   Man  :  “yo”\n'
           '     sound:"rain"\n'
           '  Shot 2  :\n')
    assert fmt(src) == (
        'scene “Café” (10s) at @Park:\n'
        '    first frame: "f.png"\n\n'
        '    Shot 1 (4s): text\n'
        '        @Tomás (sad, Korean, V.O.): "hi"\n'
        '        Old Man: “yo”\n'
        '        sound: "rain"\n'
        '    Shot 2:\n')


def test_images_are_comma_separated():
    src = 'character A:\n description:"d"\n images:"a.png" ,"b.png","c.png"\n'
    assert fmt(src) == 'character A:\n    description: "d"\n    images: "a.png", "b.png", "c.png"\n'


@pytest.mark.parametrize("value", ['plain', 'say "hi"', 'back\\slash', 'end\\', 'two\\\\', 'quote\\"', '\\n'])
def test_strings_round_trip_with_minimal_escapes(value):
    literal = '"' + escape(value) + '"'
    doc, diags = parse(f"style: {literal}\n")
    assert not diags and doc.settings[0].value == value
    assert fmt(f"style: {literal}\n") == f"style: {literal}\n"


def test_escapes_are_minimal():
    assert fmt('style: "a \\\\n b"\n') == 'style: "a \\n b"\n'
    assert escape('a "b" \\ c\\') == 'a \\"b\\" \\ c\\\\'


def test_invalid_duration_is_kept_as_written():
    src = 'scene "S":\n    Shot 1 (2.5s): x\n'
    assert fmt(src) == src


def test_comments_stay_where_they_were():
    src = ('# header\n\n'
           'title: T  \n'
           '# about the model\n'
           'model: kling-v3\n'
           'character A:   # trailing head\n'
           '  # before the field\n'
           '  description: "d"   # after a string\n'
           '    # deeper, still in the element\n'
           '# before the scene\n'
           'scene "S":\n'
           '  Shot 1 (3s): @A looks.\n'
           '      @A: "hi"#tight\n'
           '      # end of the shot\n'
           '   # end of the scene\n'
           '# end of the file')
    assert fmt(src) == ('# header\n\n'
                        'title: T\n'
                        '# about the model\n'
                        'model: kling-v3\n\n'
                        'character A:  # trailing head\n'
                        '    # before the field\n'
                        '    description: "d"  # after a string\n'
                        '    # deeper, still in the element\n\n'
                        '# before the scene\n'
                        'scene "S":\n'
                        '    Shot 1 (3s): @A looks.\n'
                        '        @A: "hi"  #tight\n'
                        '        # end of the shot\n'
                        '    # end of the scene\n\n'
                        '# end of the file\n')


def test_comment_only_and_empty_files():
    assert fmt("") == ""
    assert fmt("\n\n   \n") == ""
    assert fmt("   # one\n\n\n# two\n") == "# one\n\n# two\n"


def test_crlf_bom_and_tabs_are_normalised():
    src = '\ufefftitle: T\r\nscene "S":\r\n\tShot 1 (3s): x\r\n\t\t@A: "y"\r\n'
    assert fmt(src) == 'title: T\n\nscene "S":\n    Shot 1 (3s): x\n        @A: "y"\n'


@pytest.mark.parametrize("lines", [
    # A tab the editor showed at 8 columns, under a shot indented with four spaces.
    ['    Shot 1 (3s): x', '\t@A: "y"'],
    # A shot indented by six spaces, its line by a tab: to the parser a dedent to nowhere.
    ['      Shot 1 (3s): x', '\t@A: "y"'],
])
def test_a_tab_the_parser_reads_wrongly_is_still_fixed(lines):
    # `check` says "replace the tab with spaces (klingc fmt does this)": fmt must, even when
    # four spaces a tab leave the file unreadable (issue 11).
    from klingscript.syntax.parser import parse

    src = 'title: T\n\nscene "S":\n' + "\n".join(lines) + "\n"
    assert [d.message for d in parse(src)[1] if "tab" not in d.message]  # not only the tab
    out = check_properties(src)
    assert out == 'title: T\n\nscene "S":\n    Shot 1 (3s): x\n        @A: "y"\n'
    assert not parse(out)[1]


def test_a_tab_is_read_as_the_parser_reads_it_when_that_parses():
    # Four spaces a tab, as `check` read it: the dialogue stays under the shot, not deeper.
    src = 'title: T\n\nscene "S":\n\tShot 1 (3s): x\n\t    @A: "y"\n\tShot 2 (3s): z\n'
    assert fmt(src) == 'title: T\n\nscene "S":\n    Shot 1 (3s): x\n        @A: "y"\n    Shot 2 (3s): z\n'


def test_a_tab_does_not_hide_a_real_syntax_error():
    src = 'title: T\n\nscene "S":\n\tShot 1 (3s): x\n\t\t@A: "y\n'
    out, diags = format_text(src, "bad.kls")
    assert out is None and [d.code for d in diags] == ["KLS102"]
    assert (diags[0].span.line, diags[0].span.column) == (5, 7)


def test_syntax_errors_are_reported_not_formatted():
    src = 'title: T\nscene "S":\n  Shot 1 (3s) missing colon\n'
    out, diags = format_text(src, "bad.kls")
    assert out is None and format_source(src) is None
    assert [d.code for d in diags] == ["KLS100"]
    assert (diags[0].span.file, diags[0].span.line, diags[0].span.column) == ("bad.kls", 3, 3)


def test_error_spans_point_into_the_file_as_written():
    # A tab is expanded before parsing; the reported column is the one in the file.
    src = '\ufeffscene "S":\r\n\tShot 1 (3s) x\r\n'
    out, diags = format_text(src)
    assert out is None
    d = diags[0]
    assert (d.span.line, d.span.column) == (2, 2)
    assert src[d.span.start:d.span.end].startswith("Shot 1")


def test_only_one_bom_is_skipped():
    # The parser skips one BOM; a second one is text, which the formatter must not hide.
    assert format_source("\ufeff\ufefftitle: T\n") is None
    assert format_source("\ufefftitle: T\n") == "title: T\n"


def test_binary_is_refused():
    assert format_source("title: \x00\x01") is None


# ---------------------------------------------------------------------------
# The command


def test_cli_check_diff_and_write(tmp_path, klingc):
    messy = tmp_path / "messy.kls"
    messy.write_bytes(b'title:T\r\nscene "S":\r\n  Shot 1(3s):x\r\n')
    clean = tmp_path / "clean.kls"
    clean.write_text('title: T\n\nscene "S":\n    Shot 1 (3s): x\n', encoding="utf-8")
    before = messy.read_bytes()

    r = klingc("fmt", "--check", messy, clean)
    assert r.returncode == 1 and "messy.kls" in r.stdout and "clean.kls" not in r.stdout
    assert messy.read_bytes() == before

    r = klingc("fmt", "--diff", messy)
    assert r.returncode == 0 and "+    Shot 1 (3s): x" in r.stdout
    assert messy.read_bytes() == before

    mtime = clean.stat().st_mtime_ns
    r = klingc("fmt", messy, clean)
    assert r.returncode == 0, r.stderr
    assert messy.read_text(encoding="utf-8") == clean.read_text(encoding="utf-8")
    assert clean.stat().st_mtime_ns == mtime  # unchanged files are not rewritten
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
    assert klingc("fmt", "--check", messy).returncode == 0


def test_cli_refuses_files_it_cannot_parse(tmp_path, klingc):
    bad = tmp_path / "bad.kls"
    bad.write_text('scene "S":\n  Shot 1 (3s) x\n', encoding="utf-8")
    before = bad.read_bytes()
    r = klingc("fmt", bad)
    assert r.returncode == 1 and "KLS100" in r.stdout and "Traceback" not in r.stderr
    assert bad.read_bytes() == before
    notutf8 = tmp_path / "latin1.kls"
    notutf8.write_bytes(b"title: caf\xe9\n")
    r = klingc("fmt", notutf8)
    assert r.returncode == 1 and "UTF-8" in r.stdout
    assert notutf8.read_bytes() == b"title: caf\xe9\n"


def test_cli_unreadable_files_exit_2(tmp_path, klingc):
    good = tmp_path / "good.kls"
    good.write_text("title:T\n", encoding="utf-8")
    r = klingc("fmt", tmp_path / "missing.kls", good)
    assert r.returncode == 2 and "missing.kls" in r.stderr
    assert good.read_text(encoding="utf-8") == "title: T\n"  # the readable file is still formatted
    assert klingc("fmt", tmp_path).returncode == 2


def test_write_is_atomic_and_keeps_permissions(tmp_path, monkeypatch):
    from klingscript.commands import fmt as command
    path = tmp_path / "s.kls"
    path.write_text("title:T\n", encoding="utf-8")
    os.chmod(path, 0o640)

    def boom(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(command.os, "replace", boom)
    with pytest.raises(OSError):
        command._write_atomic(str(path), "title: T\n")
    assert path.read_text(encoding="utf-8") == "title:T\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.kls"]
    monkeypatch.undo()
    command._write_atomic(str(path), "title: T\n")
    assert path.read_text(encoding="utf-8") == "title: T\n"
    assert path.stat().st_mode & 0o777 == 0o640


# ---------------------------------------------------------------------------
# Generated documents

NAMES = ["Alex", "Jamie", "Tomás", "지우", "花子", "Zoë", "Ngozi", "O_Neil2", "Ana", "Minji"]
ROLES = ["Woman", "Old Man", "Mrs. Kim", "Young Woman Two", "Narrator", "Élodie"]
WORDS = ["the", "camera", "pans", "slowly", "across", "rain", "#2", "café", "비", "雨", "—", "it's",
         "(wide)", "50%", "a,b", "@", "x@y", "100", "Close-up", "dolly"]
TONES = ["sad", "softly", "whispering", "Korean", "ko", "한국어", "English", "V.O.", "O.S.",
         "japanese", "with a smile", "angry!"]
KEYS_QUOTED = ["style", "negative", "title"]
KEYS_BARE = {"title": ["My Film", "Episode #2", "지우의 하루"], "model": ["kling-v3", "kling-v3-omni"],
             "resolution": ["720p", "1080p"], "aspect": ["16:9", "9:16", "1:1"],
             "audio": ["on", "off"], "language": ["English", "Korean", "한국어"], "multishot": ["api", "text"]}
SCENE_KEYS = ["first frame", "last frame", "sound", "style", "aspect", "negative"]


class Gen:
    """Draws the pieces of a document and remembers the comments it wrote."""

    def __init__(self, draw):
        self.draw = draw
        self.lines: list[str] = []
        self.comments: list[str] = []

    def pick(self, seq):
        return self.draw(st.sampled_from(seq))

    def chance(self, p=0.3) -> bool:
        return self.draw(st.floats(0, 1)) < p

    def sp(self, lo=0, hi=3) -> str:
        return " " * self.draw(st.integers(lo, hi))

    def comment_text(self) -> str:
        body = self.draw(st.text(st.characters(blacklist_categories=("Cs", "Cc", "Zl", "Zp")),
                                 max_size=12)).rstrip()
        return "#" + body

    def noise(self, indent: str) -> None:
        """Blank lines and whole-line comments, at random indentation."""
        for _ in range(self.draw(st.integers(0, 2))):
            if self.chance(0.5):
                self.lines.append(self.pick(["", "   ", "\t", " \t "]))
            else:
                c = self.comment_text()
                self.comments.append(c)
                self.lines.append(self.pick([indent, "", " " * self.draw(st.integers(0, 12))]) + c)

    def trailing(self, p: float = 0.25) -> str:
        """Spaces, or (with chance ``p``) a trailing comment."""
        if not self.chance(p):
            return self.sp(0, 2)
        c = self.comment_text()
        self.comments.append(c)
        return self.sp(0, 3) + c

    def string(self) -> str:
        if self.chance(0.2):
            body = self.draw(st.text(st.characters(blacklist_categories=("Cs", "Cc", "Zl", "Zp"),
                                                   blacklist_characters="\u201d"), max_size=10))
            return "\u201c" + body + "\u201d"
        pieces = self.draw(st.lists(st.one_of(
            st.text(st.characters(blacklist_categories=("Cs", "Cc", "Zl", "Zp"),
                                  blacklist_characters='"\\'), min_size=1, max_size=6),
            st.sampled_from(['\\"', "\\\\", "\\n", "\\t", "#", " # "])), max_size=4))
        return '"' + "".join(pieces) + '"'

    def words(self, lo=1, hi=5) -> str:
        n = self.draw(st.integers(lo, hi))
        out = []
        for i in range(n):
            if self.chance(0.25):
                w = "@" + self.pick(NAMES) + self.pick(["", "'s", ".", ","])
            else:
                w = self.pick(WORDS)
            out.append(w)
        return self.pick([" ", "  "]).join(out)

    def indent(self, base: str) -> str:
        """A deeper indentation than ``base``: any width, sometimes with tabs."""
        width = self.draw(st.integers(1, 6))
        if width == 4 and self.chance(0.5):
            return base + "\t"
        return base + " " * width

    # -- constructs ------------------------------------------------------------
    def setting(self, indent: str, keys=None) -> None:
        key = self.pick(keys or (KEYS_QUOTED + list(KEYS_BARE)))
        shown = key.replace(" ", self.pick([" ", "  ", "\t"]))
        if key in KEYS_BARE and (key not in KEYS_QUOTED or self.chance()):
            value = self.pick(KEYS_BARE[key])
            self.lines.append(f"{indent}{shown}{self.sp(0, 1)}:{self.sp(0, 3)}{value}{self.sp()}")
        else:
            value = ("," + self.sp()).join(self.string() for _ in range(self.draw(st.integers(1, 2))))
            self.lines.append(f"{indent}{shown}{self.sp(0, 1)}:{self.sp(0, 3)}{value}{self.trailing()}")

    def use(self) -> None:
        self.lines.append(f"use{self.sp(1, 3)}{self.string()}{self.trailing()}")

    def element(self) -> None:
        kind = self.pick(["character", "location", "prop"])
        head = f"{kind}{self.sp(1, 2)}{self.pick(NAMES)}{self.sp(0, 2)}:"
        self.lines.append(head + self.trailing(0.2))
        inner = self.indent("")
        for _ in range(self.draw(st.integers(0, 3))):
            self.noise(inner)
            key = self.pick(["description", "images", "voice", "hair"])
            value = ("," + self.sp()).join(self.string() for _ in range(
                self.draw(st.integers(1, 3)) if key == "images" else 1))
            self.lines.append(f"{inner}{key}{self.sp(0, 1)}:{self.sp(0, 2)}{value}{self.trailing()}")

    def duration(self) -> str:
        n = self.draw(st.integers(1, 20))
        return self.pick([f"({n}s)", f"( {n}s )", f"({n} s)", f"({n}.5s)"])

    def scene(self) -> None:
        head = f"scene{self.sp(1, 2)}{self.string()}"
        if self.chance(0.4):
            head += self.sp(0, 2) + self.duration()
        if self.chance(0.4):
            head += f"{self.sp(1, 2)}at{self.sp(1, 2)}@{self.pick(NAMES)}"
        self.lines.append(head + self.sp(0, 1) + ":" + self.trailing(0.2))
        inner = self.indent("")
        for _ in range(self.draw(st.integers(0, 2))):
            self.noise(inner)
            self.setting(inner, SCENE_KEYS)
        for _ in range(self.draw(st.integers(0, 2))):
            self.noise(inner)
            self.line(inner)
        deeper = self.indent(inner)
        for number in range(1, self.draw(st.integers(0, 4)) + 1):
            self.noise(inner)
            head = f"{inner}Shot{self.sp(1, 2)}{number}"
            if self.chance(0.7):
                head += self.sp(0, 1) + self.duration()
            head += self.sp(0, 1) + ":"
            if self.chance(0.8):
                head += self.sp(0, 2) + self.words()
            self.lines.append(head + self.sp())
            for _ in range(self.draw(st.integers(0, 3))):
                self.noise(deeper)
                self.line(deeper)

    def line(self, indent: str) -> None:
        kind = self.pick(["dialogue", "dialogue", "action", "sound", "note"])
        if kind == "dialogue":
            who = "@" + self.pick(NAMES) if self.chance(0.6) else self.pick(ROLES)
            if self.chance(0.6):
                items = [self.pick(TONES) for _ in range(self.draw(st.integers(0, 3)))]
                who += self.sp(0, 1) + "(" + ",".join(self.sp(0, 1) + i + self.sp(0, 1) for i in items) + ")"
            self.lines.append(f"{indent}{who}{self.sp(0, 1)}:{self.sp(0, 2)}{self.string()}{self.trailing()}")
        elif kind == "sound":
            self.lines.append(f"{indent}sound{self.sp(0, 1)}:{self.sp(0, 2)}{self.string()}{self.trailing()}")
        elif kind == "note":
            # `word: text` that is no setting is an action line, kept as written.
            self.lines.append(f"{indent}zzz:{self.sp(0, 2)}{self.words()}")
        else:
            first = self.pick(["The", "A", "Close-up:", "@" + self.pick(NAMES), "Rain", "지우가"])
            self.lines.append(f"{indent}{first} {self.words(0, 5)}{self.sp()}")


@st.composite
def documents(draw):
    """A valid KlingScript document (as text) and the comments written into it."""
    g = Gen(draw)
    g.noise("")
    for _ in range(draw(st.integers(0, 3))):
        g.setting("")
        g.noise("")
    for _ in range(draw(st.integers(0, 5))):
        kind = g.pick(["use", "element", "element", "scene", "scene", "scene", "setting"])
        getattr(g, kind)("") if kind == "setting" else getattr(g, kind)()
        g.noise("")
    newline = "\r\n" if g.chance(0.2) else "\n"
    text = newline.join(g.lines) + (newline if g.chance(0.8) else "")
    if g.chance(0.1):
        text = "\ufeff" + text
    return text, g.comments


# KLS_FUZZ_EXAMPLES=5000 pytest … tries more documents than the default budget.
FAST = settings(max_examples=int(os.environ.get("KLS_FUZZ_EXAMPLES", 150)), deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(documents())
def test_generated_documents(doc):
    text, written = doc
    _, diags = parse(text.replace("\t", "    "))
    assert not [d for d in diags if d.code in ("KLS100", "KLS101", "KLS102")], (text, diags)
    out = check_properties(text)
    assert comments(out) == written


def test_cli_rewrites_the_target_of_a_symlink(tmp_path, klingc):
    target = tmp_path / "real.kls"
    target.write_text("title:T\n", encoding="utf-8")
    link = tmp_path / "link.kls"
    link.symlink_to(target)
    assert klingc("fmt", link).returncode == 0
    assert link.is_symlink() and target.read_text(encoding="utf-8") == "title: T\n"


@pytest.mark.parametrize("space", ["\x0c", "\x0b", "\u3000", "\x85", "\x0c \x0b"])
def test_prose_of_whitespace_the_lexer_keeps_is_kept(space):
    """A line of nothing but whitespace that is not a space or a tab (a form feed, U+3000) is
    prose to the parser; the formatter keeps it as written, so that formatting twice changes
    nothing (found by tests/test_robustness.py)."""
    text = f'title: T\n\nscene "A":\n    Shot 1 (3s): A dock.\n        The rain.\n        {space}\n        Gulls.\n'
    out = format_source(text)
    assert out is not None
    assert format_source(out) == out
    assert shape(out) == shape(text)

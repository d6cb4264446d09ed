"""The parser reads a script block by block, with the result of reading it whole.

``parse`` cuts the text into its top-level blocks (``syntax.blocks``) and
parses each on its own, recovering from a syntax error inside its block. The
reference below is the parser as it was before: the whole file in one Lark
parse, re-parsed whole after each error. It is slow (quadratic in the number
of errors), so it lives here, and every result of ``parse`` must equal its
own: the Document (every node and span) and the diagnostics, in order.
"""

from __future__ import annotations

import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from klingscript.syntax import ast as A, blocks
from klingscript.syntax import parser as P
from klingscript.syntax.parser import parse, parse_block
from test_fmt import documents
from test_robustness import EXAMPLES, FAST, GOLDEN, NASTY, _mutate, long_script, mutated, texts

DIAGNOSTICS = EXAMPLES.parent / "tests" / "diagnostics"


def reference_parse(text: str, path: str = "<input>"):
    """The whole file as one parse, re-read whole after each syntax error."""
    from klingscript.syntax._lark_standalone import UnexpectedInput

    if "\x00" in text:
        return parse(text, path)
    src = P._Source.of_file(text, path)
    lines = src.padded.split("\n")
    diags = []
    P._scan_tabs(src, lines, diags)
    comments = P._scan_comments(src, lines)
    mended = P.mend_shot_headers(src, lines)
    parser = P.get_parser()
    blanked: set[int] = set()
    errors = 0
    while True:
        try:
            tree = parser.parse("\n".join(lines))
            bad_dedents = list(parser.options.postlex.bad_dedents)
            break
        except UnexpectedInput as e:
            errors += 1
            diag, line_no = P._describe_error(e, src, lines)
            diags.append(diag)
            if errors >= P.MAX_SYNTAX_ERRORS:
                diags.append(P.too_many_errors(diag.span))
                for i in range(line_no - 1, len(lines)):
                    lines[i] = ""
                continue
            if not P._blank_block(lines, line_no, blanked):
                for i in range(len(lines)):
                    lines[i] = ""
    diags += P.dedent_errors(src, lines, bad_dedents)
    items = P._Builder(src, lines, diags, mended).document(tree)
    end_line = max(1, len(lines) - 2)
    return A.Document(path, tuple(items), tuple(comments), A.Span(path, 1, 1, end_line + 1, 1, 0, len(text))), diags


def assert_same_as_whole_file(text: str) -> None:
    doc, diags = parse(text, "t.kls")
    ref_doc, ref_diags = reference_parse(text, "t.kls")
    assert diags == ref_diags
    assert doc == ref_doc


def scripts():
    return (sorted(EXAMPLES.rglob("*.kls")) + sorted(DIAGNOSTICS.glob("*.kls")) + sorted(GOLDEN.glob("*.kls")))


@pytest.mark.parametrize("path", scripts(), ids=lambda p: p.name)
def test_scripts_parse_as_a_whole_file(path):
    assert_same_as_whole_file(path.read_text(encoding="utf-8"))


@pytest.mark.parametrize("name", sorted(set(NASTY) - {"png", "invalid_utf8"}))
def test_nasty_files_parse_as_a_whole_file(name):
    assert_same_as_whole_file(NASTY[name].decode("utf-8"))


# Lines a block can hold or start with, odd ones included: a form feed, lone
# carriage returns, a comment with a carriage return in it, a byte-order mark.
LINES = ['title: T', 'model: kling-v3', 'use "cast.kls"', 'character Alex:', '    description: "x"',
         'scene "A" (3s) at @Home:', 'scene "B":', '    Shot 1 (3s): @Alex waits.', '    Shot 2: x',
         '        @Alex (sad): "Hi."', '        Woman: "Yes"', '    sound: "rain"', '    duration: 5s',
         '    An action line.', '        deeper', '      odd', '  two', 'stray text', 'Shot 1 (3s): top',
         '# comment', '    # indented comment', '', '   ', '\t', '\x0c', '  \x0c', '\r\r', '\rx', '#a\rb',
         '  # a\rb', '\ufeffscene "C":', '\ufeff', '    "open', 'title "x', '}}}', '@Alex: "unclosed',
         '    first frame: "f.png"', 'scene', 'location ', 'use ']


@st.composite
def line_soups(draw):
    return "\n".join(draw(st.lists(st.sampled_from(LINES), max_size=40)))


@st.composite
def mutated_documents(draw):
    return _mutate(draw, draw(documents())[0])


# The one known difference: a line that opens with a comment holding a lone
# carriage return (`#a\rb`) is, to the lexer, a comment and then text at the
# top level. When it opens a block, the block parser lists what the top level
# expects; the whole-file parser, right after a setting, listed what may follow
# a setting anywhere (a shot, a dialogue line, text). Indented by less than
# the block around it (` #a\rb` after a stray top-level line), the text after
# the carriage return is an indented line to the block parser (KLS101) and a
# bad field to the whole-file one: the same difference.
_COMMENT_WITH_CR = re.compile(r"^[ \t]*#[^\n]*\r[^\n]", re.M)


@FAST
@given(st.one_of(texts, line_soups(), mutated_documents(), mutated().map(lambda case: case[1])))
def test_any_text_parses_as_a_whole_file(text):
    if not _COMMENT_WITH_CR.search(text):
        assert_same_as_whole_file(text)


def test_text_after_a_comment_at_the_top_level_expects_what_the_top_level_does():
    _, diags = parse("a:\n0\n#\r0")   # a lone CR ends the comment's line (as LSP counts lines)
    assert [d.span.line for d in diags] == [2, 4]
    assert diags[1].message == diags[0].message      # stray text at the top level, as line 2 is
    assert "a shot" not in diags[1].message


def test_the_error_cap_counts_over_all_blocks():
    text = "".join(f'junk {i}\nscene "S{i}":\n    Shot 1 (3s): x\n        @A: "open\n' for i in range(120))
    doc, diags = parse(text)
    # 100 syntax errors (the junk lines), the cap, then the unclosed strings of the scenes read.
    assert [d.message.startswith("too many") for d in diags[:101]] == [False] * 100 + [True]
    assert len(doc.scenes) == 99 and len(diags) == 101 + 99
    assert_same_as_whole_file(text)


# ---------------------------------------------------------------------------
# One block's error stays in the block

SCENES = ['title: T\n\ncharacter Alex:\n    description: "a man"\n\n']
SCENES += [f'scene "S{n}" at @Home:\n    # about scene {n}\n    Shot 1 (3s): @Alex walks {n}.\n'
           f'        @Alex (sad): "Line {n}."\n    Shot 2 (2s): He stops.\n\n' for n in range(4)]

# Each replaces the line `    Shot 2 (2s): He stops.` of scene S1 (and is made as long).
BREAKS = ['    "He stops, not closed', "    }}}}}}}", "  He stops.", "Shot 2 He stops", "    duration: 5s",
          "      He stops", "    Shot 2 (2s) He stops.", '    @Alex (sad): "unclosed', "    @", "\tShot 2 (2s): x"]


@pytest.mark.parametrize("broken", BREAKS)
def test_an_error_in_one_scene_leaves_the_others_alone(broken):
    good = "".join(SCENES)
    old_line = "    Shot 2 (2s): He stops."
    at = good.index(old_line, good.index('scene "S1"'))
    broken = broken.ljust(len(old_line), "x")
    bad = good[:at] + broken + good[at + len(old_line):]
    good_doc, good_diags = parse(good, "t.kls")
    bad_doc, bad_diags = parse(bad, "t.kls")
    assert not good_diags and bad_diags
    s1 = good_doc.scenes[1].span
    assert all(s1.line <= d.span.line <= s1.end_line + 1 for d in bad_diags)
    assert [s for s in bad_doc.scenes if s.title.value != "S1"] == [s for s in good_doc.scenes
                                                                     if s.title.value != "S1"]
    assert bad_doc.settings == good_doc.settings and bad_doc.elements == good_doc.elements
    assert_same_as_whole_file(bad)


def test_a_block_parses_alone_in_file_coordinates():
    text = "".join(SCENES)
    lines = text.split("\n")
    doc, _ = parse(text, "t.kls")
    found = [r for r in blocks.ranges(lines) if lines[r[0]].startswith('scene "S2"')]
    (start, end), = found
    block = "\n".join(lines[start:end]) + "\n"
    result = parse_block(block, start + 1, sum(len(l) + 1 for l in lines[:start]), "t.kls")
    assert result.items == (doc.scenes[2],) and not result.syntax and not result.errors


# ---------------------------------------------------------------------------
# The block splitter


def test_blocks_take_the_blank_and_comment_lines_after_them():
    lines = ["# header", "", "  stray", "title: T", "", "# about the cast", "character A:",
             '    description: "x"', "    # note", "", 'scene "S":', "    Shot 1 (3s): x", "# end"]
    assert blocks.ranges(lines) == [(0, 3), (3, 6), (6, 10), (10, 13)]
    assert blocks.around(lines, 8) == (6, 10) and blocks.around(lines, 1) == (0, 3)
    assert blocks.ranges(lines, 4, 11) == [(4, 6), (6, 10), (10, 11)]


# ---------------------------------------------------------------------------
# Lines after a shot at scene indentation (KLS101)


def test_many_lines_after_a_shot_are_all_taken_by_it():
    n = 20_000
    text = 'scene "S":\n    Shot 1 (3s): x\n        y\n' + "    after the shot\n" * n
    doc, diags = parse(text)
    assert len(diags) == n and {d.code for d in diags} == {"KLS101"}
    shot, = doc.scenes[0].shots
    assert len(shot.lines) == n + 1
    assert shot.span.end_line == n + 3 and shot.span.end == len(text) - 1
    small = 'scene "S":\n    Shot 1 (3s): x\n    after\n    Shot 2 (3s): y\n    after 2\n    after 3\n'
    assert_same_as_whole_file(small)
    assert [len(s.lines) for s in parse(small)[0].scenes[0].shots] == [1, 2]


def test_a_long_script_parses_as_a_whole_file():
    assert_same_as_whole_file(long_script(2000))


# ---------------------------------------------------------------------------
# The shapes the builder and the language server use are the grammar's


def _terminal(name: str) -> str:
    from klingscript.resources import grammar_path
    m = re.search(rf"^{name}(?:\.-?\d+)?: /(.*?)/", grammar_path().read_text(encoding="utf-8"), re.M)
    return m.group(1)


def test_shapes_are_the_grammars():
    from klingscript.syntax import shapes
    assert _terminal("NAME") == shapes.NAME and _terminal("REF") == shapes.REF
    assert _terminal("DURATION") == shapes.PARENS
    assert _terminal("KEY") == shapes.KEY + r"[ \t]*:"
    assert _terminal("SHOT_LINE").startswith(r"Shot[ \t]+" + shapes.SHOT_NUMBER + r"[ \t]*(?:" + shapes.PARENS)
    # The grammar spells characters beyond Latin-1 outside [...] sets; the matches are the same.
    grammar_speaker = re.compile(_terminal("DIALOGUE_LINE").split(r")[ \t]*(?:\(")[0] + ")")
    grammar_string = re.compile(_terminal("STRING"))
    samples = ["Alex", "@Alex", "Old Man", "Dr. Kim", "O\u2019Neil", "Mary-Jane Watson Smith", "a b", "선생님",
               "@지우", "Four Word Name Here", "@1x", '"a \\" b"', "\u201ccurly\u201d", '"open', "\u201copen"]
    for s in samples:
        assert bool(grammar_speaker.fullmatch(s)) == bool(re.fullmatch(shapes.SPEAKER, s)), s
        assert bool(grammar_string.fullmatch(s)) == bool(re.fullmatch(shapes.STRING, s)), s

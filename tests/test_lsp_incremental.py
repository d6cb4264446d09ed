"""The language server's way of calling the incremental check: one ``memory`` kept between
edits, the edited text as an editor's buffer.

``compiler.diagnose`` with a ``memory`` keeps, besides the scene results, what
only speeds up the next call (``compiler._Memo``): the last text and its blocks,
so that an edit is cut into blocks again only around the change; the blocks'
keys; the decoded diagnostics; the texts of the files on disk. None of it may
change an answer:

- cutting again around a change gives what ``split_file`` gives for the new text
  (any edit: Hypothesis, on texts made of lines of every kind);
- a history of edits checked through one ``memory``, each text an unsaved buffer,
  gives the full check's diagnostics after every edit.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings, strategies as st

from klingscript import compiler
from klingscript.project import Loader
from klingscript.syntax import parser as P
from test_scene_results import _full, _histories

LINES = ["scene \"A\" at @Dock:", "scene B:", "title: X", "character Ben:", "use \"cast.kls\"",
         "    Shot 1 (3s): @Ben runs.", "        @Ben: \"Hi\"", "    sound: \"rain\"", "", "   ", "# note",
         "    # inner", "\tShot 2: tab", "  \t", "stray", "\r", "x\r"]
PIECES = ["", "\n", "\n\n", "s", "scene ", "#", " ", "\t", "\"", ":\n", "\nscene C:\n    Shot 1: a.\n",
          "\ncharacter Z:\n", "\n    ", "\r\n", "\ufeff"]


def _cut(text: str) -> tuple:
    split = P.split_file(text, "f.kls")
    return len(split.lines) - 2, split.tabs, split.comments, [tuple(b) for b in split.blocks]


@st.composite
def _edits(draw):
    text = "".join(l + "\n" for l in draw(st.lists(st.sampled_from(LINES), max_size=14)))
    if draw(st.booleans()) and text.endswith("\n"):
        text = text[:-1]   # a file without its last line end
    out = [text]
    for _ in range(draw(st.integers(1, 4))):
        i = draw(st.integers(0, len(text)))
        j = draw(st.integers(i, min(len(text), i + 12)))
        text = text[:i] + "".join(draw(st.lists(st.sampled_from(PIECES), max_size=3))) + text[j:]
        out.append(text)
    return out


@settings(max_examples=400, deadline=None)
@given(_edits())
def test_cutting_again_around_an_edit_equals_cutting_the_whole_text(texts):
    memo = compiler._Memo()
    for text in texts:
        assert memo.split(text, "f.kls") == _cut(text)


def test_an_edit_is_cut_again_only_around_the_change(monkeypatch):
    memo = compiler._Memo()
    scenes = [f'scene "S{k}":\n    Shot 1 (3s): a.\n\n' for k in range(20)]
    memo.split("title: X\n\n" + "".join(scenes), "f.kls")
    scenes[10] = scenes[10].replace("a.", "ab.")
    text = "title: X\n\n" + "".join(scenes)
    want = _cut(text)
    cut = []
    real = P.split_file
    monkeypatch.setattr(P, "split_file", lambda text, path: cut.append(text) or real(text, path))
    assert memo.split(text, "f.kls") == want
    assert cut == [scenes[10]]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_histories())
def test_edits_checked_through_one_memory_equal_the_full_check(history):
    with tempfile.TemporaryDirectory() as d:
        root = Path(d)
        (root / "frames").mkdir()
        path = root / "film.kls"
        memory: dict = {}
        first = True
        for head, body, cast in history:
            text = head + "".join(body)
            if first:    # the file on disk is the first text; the later ones are unsaved buffers
                path.write_text(text)
                first = False
            (root / "cast.kls").write_text(cast)
            got = compiler.diagnose(path, memory=memory, loader=Loader({path: text}))
            path_text = path.read_text()
            path.write_text(text)
            want = _full(path)
            path.write_text(path_text)
            assert got.diagnostics == want


def test_a_scene_moved_along_its_line_keeps_its_offsets(tmp_path):
    # Typing in a scene moves the scenes after it by characters, not lines: their kept
    # diagnostics must move with them (offsets are in the spans, lines are not enough).
    path = tmp_path / "film.kls"
    one = 'scene "One":\n    Shot 1 (3s): A quiet room.\n\n'
    two = 'scene "Two":\n    Shot 1 (3s): @Nobody waits.\n\n'
    memory: dict = {}
    for text in ("title: X\n\n" + one + two, "title: X\n\n" + one.replace("quiet", "very quiet") + two):
        path.write_text(text)
        got = compiler.diagnose(path, memory=memory, loader=Loader({path: text}))
        assert got.diagnostics == _full(path)
        assert any(d.span.line == 7 for d in got.diagnostics)

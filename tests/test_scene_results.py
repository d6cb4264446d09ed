"""Scene results (cache/scenes.py): the incremental check gives the full check's diagnostics.

Random edits of a script and its ``use`` file, each checked with a warm cache
(``compiler.diagnose``) and without any cache (``compiler.check`` with
``KLINGSCRIPT_NO_CACHE=1``): the diagnostics must be the same.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings, strategies as st

from klingscript import compiler
from klingscript.cache import scenes

CAST = '''character Mara:
    description: "woman of 40, grey coat, red scarf"
location Dock:
    description: "a rainy harbour dock at night"
'''

HEAD = '''# A test script.
title: Harbour
model: kling-v3-omni
language: English
use "cast.kls"

character Ben:
    description: "tall man of 30, wet hair"
prop Lamp:
    description: "an old brass lamp"

'''

SCENES = [
    '''scene "Arrival" at @Dock:
    sound: "rain, gulls"
    Shot 1 (3s): @Mara walks along the @Dock.
        @Mara: "Is anyone here?"
    Shot 2 (4s): @Ben steps out of the dark.
        @Ben (quiet): "Only me."

''',
    '''scene "Lamp" at @Dock (5s):
    @Ben lights the @Lamp. Rain falls.
    @Ben: "We wait."

''',
    '''scene "Talk" at @Dock:
    first frame: "frames/start.png"
    Shot 1: @Mara looks at @Ben.
        @Mara: "You came back after all these years, and you did not even write to me once."
    Shot 2 (2s): They stand still.

''',
    '''scene "Gone" at @Dock:
    Shot 1 (5s): The dock is empty.
    Shot 2 (3s): A gull lands.

''',
]

SNIPPETS = [" again", "@Mara ", "@Nobody ", "@Dock ", " (Korean)", "\n    Shot 9 (2s): Late.",
            "\n    Shot 3 (xs): Bad.", "\n  stray", "\n\tShot 3 (2s): tab", ":", '"', "(30s)",
            "\n        @Ben: \"안녕하세요\"", "\n    model: nope", "\n    language: Klingon"]

SETTINGS = ["language: Korean\n", "model: kling-v2-6\n", "resolution: 4k\n", "audio: off\n",
            "bogus: 1\n", "title: Harbour\n"]


def _edit(draw, head: str, body: list[str], cast: str):
    kind = draw(st.sampled_from(["type", "insert", "delete", "rename", "setting", "cast", "frame"]))
    if kind == "type" and body:
        i = draw(st.integers(0, len(body) - 1))
        at = draw(st.integers(0, len(body[i]) - 1))
        body[i] = body[i][:at] + draw(st.sampled_from(SNIPPETS)) + body[i][at:]
    elif kind == "insert":
        i = draw(st.integers(0, len(body)))
        body.insert(i, draw(st.sampled_from(SCENES)))
    elif kind == "delete" and body:
        del body[draw(st.integers(0, len(body) - 1))]
    elif kind == "rename":
        old, new = draw(st.sampled_from([("Ben", "Benn"), ("Lamp", "Lantern"), ("Ben", "Mara")]))
        head = head.replace(f" {old}:", f" {new}:", 1)
    elif kind == "setting":
        head = head.replace("use ", draw(st.sampled_from(SETTINGS)) + "use ", 1)
    elif kind == "cast":
        cast = draw(st.sampled_from([cast.replace("Mara", "Maria"), cast + "prop Lamp:\n",
                                     cast.replace("location Dock", "character Dock"), ""]))
    elif kind == "frame":
        head = head.replace('"cast.kls"', draw(st.sampled_from(['"cast.kls"', '"cast2.kls"'])))
    return head, body, cast


def _full(path: Path) -> list:
    return _full_check(path).diagnostics


def _full_check(path: Path) -> compiler.Compilation:
    old = os.environ.get("KLINGSCRIPT_NO_CACHE")
    os.environ["KLINGSCRIPT_NO_CACHE"] = "1"
    try:
        return compiler.check(path)
    finally:
        if old is None:
            del os.environ["KLINGSCRIPT_NO_CACHE"]
        else:
            os.environ["KLINGSCRIPT_NO_CACHE"] = old


@st.composite
def _histories(draw):
    head, body, cast = HEAD, list(SCENES), CAST
    out = [(head, list(body), cast)]
    for _ in range(draw(st.integers(1, 4))):
        head, body, cast = _edit(draw, head, body, cast)
        out.append((head, list(body), cast))
    return out


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_histories())
def test_incremental_check_equals_full_check(history):
    with tempfile.TemporaryDirectory() as d:
        root = Path(d)
        (root / "frames").mkdir()
        path = root / "film.kls"
        for head, body, cast in history:
            path.write_text(head + "".join(body))
            (root / "cast.kls").write_text(cast)
            full = _full_check(path)
            want = full.diagnostics
            got = compiler.diagnose(path)
            assert got.diagnostics == want
            again = compiler.diagnose(path)
            assert again.diagnostics == want     # the whole-file shortcut
            if full.ok:   # check's success line: from the kept job summaries, as from the plan
                assert compiler.figures(got) == compiler.figures(again) == compiler.figures(full)


def test_a_frame_image_that_appears_is_seen(tmp_path):
    (tmp_path / "frames").mkdir()
    (tmp_path / "cast.kls").write_text(CAST)
    path = tmp_path / "film.kls"
    path.write_text(HEAD + "".join(SCENES))
    before = compiler.diagnose(path).diagnostics
    assert any("start.png" in d.message for d in before)
    import shutil
    here = Path(__file__).resolve().parent.parent / "examples" / "frames"
    shutil.copy(next(here.glob("*.png")), tmp_path / "frames" / "start.png")
    assert compiler.diagnose(path).diagnostics == _full(path) != before


def test_odd_files_take_the_full_path(tmp_path):
    path = tmp_path / "film.kls"
    path.write_bytes(b"title: x\n\xff\n")
    assert compiler._incremental(path, False, None, None) is None
    path.write_bytes(b"title: x\0\n")
    assert compiler._incremental(path, False, None, None) is None


# -- a result that quotes a line of its own scene ------------------------------------------

TWICE = '''scene "Twice" at @Dock:
    sound: "rain"
    sound: "gulls"
    Shot 1 (3s): @Ben waits.

'''


def test_klingc_check_with_a_warm_cache_names_the_moved_line(tmp_path):
    # KLS104's help names the line where the setting was first given; a line added in an
    # earlier scene moves it, and the warm cache must say the new line (it said the old).
    from conftest import klingc_command
    import subprocess

    (tmp_path / "cast.kls").write_text(CAST)
    path = tmp_path / "film.kls"
    body = SCENES[:2] + [TWICE] + SCENES[2:]
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")}
    env.pop("KLINGSCRIPT_NO_CACHE", None)

    def klingc_check() -> str:
        r = subprocess.run(klingc_command() + ["check", "film.kls"], cwd=tmp_path, env=env,
                           capture_output=True, text=True)
        return r.stdout + r.stderr

    path.write_text(HEAD + "".join(body))
    first = klingc_check()
    line = (HEAD + "".join(body)).split("\n").index('    sound: "rain"') + 1
    assert f"the first is at line {line}" in first
    body[0] = body[0].replace("    Shot 2 (4s)", "    Shot 3 (1s): A gull.\n    Shot 2 (4s)")
    path.write_text(HEAD + "".join(body))
    again = klingc_check()
    assert f"the first is at line {line + 1}" in again
    env["KLINGSCRIPT_NO_CACHE"] = "1"
    assert again == klingc_check()


def test_a_result_quoting_a_line_is_reused_only_where_it_was_made(tmp_path):
    (tmp_path / "cast.kls").write_text(CAST)
    path = tmp_path / "film.kls"
    memory: dict = {}
    for body in ([TWICE] + SCENES, SCENES[:1] + [TWICE] + SCENES[1:], SCENES + [TWICE]):
        path.write_text(HEAD + "".join(body))
        assert compiler.diagnose(path, memory=memory).diagnostics == _full(path)


def test_an_unchanged_script_with_a_use_file_takes_the_whole_file_shortcut(tmp_path):
    (tmp_path / "cast.kls").write_text(CAST)
    path = tmp_path / "film.kls"
    path.write_text(HEAD + "".join(SCENES))
    first = compiler.diagnose(path)
    again = compiler.diagnose(path)
    assert again.program.main.doc is None          # answered without parsing
    assert again.diagnostics == first.diagnostics == _full(path)


# -- the editor's buffers ----------------------------------------------------------------

def test_unsaved_buffers_are_checked_in_memory_only(tmp_path):
    from klingscript.cache import store
    from klingscript.project import Loader

    (tmp_path / "frames").mkdir()
    (tmp_path / "cast.kls").write_text(CAST)
    path = tmp_path / "film.kls"
    saved = HEAD + "".join(SCENES)
    path.write_text(saved)
    where = (str(path),)
    memory: dict = {}
    # the buffer as on disk: the disk store is used
    assert compiler.diagnose(path, memory=memory, loader=Loader({path: saved})).diagnostics == _full(path)
    on_disk = store().get(scenes.NAMESPACE, where)
    assert on_disk == memory[where]
    # an unsaved buffer of the script, then of its cast file: memory only, and the
    # diagnostics of those texts
    buffer = saved.replace("@Ben steps", "@Bem steps")
    cast = CAST.replace("Mara", "Maria")
    for overlays in ({path: buffer}, {path: buffer, tmp_path / "cast.kls": cast}):
        got = compiler.diagnose(path, memory=memory, loader=Loader(overlays)).diagnostics
        assert got == compiler.check(path, loader=Loader(overlays)).diagnostics
        assert memory[where] != on_disk
        assert store().get(scenes.NAMESPACE, where) == on_disk
    assert any(d.code == "KLS201" and "Mara" in d.message for d in got)
    # the same texts again: the whole-file shortcut reads the cast file's buffer too
    assert compiler.diagnose(path, memory=memory, loader=Loader(overlays)).diagnostics == got

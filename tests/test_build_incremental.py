"""A build after an edit does work in proportion to the change, and makes what a fresh build makes.

- Writing: a previous build is brought up to date in place (``commands/build.py``,
  ``write_build``): only the files whose bytes change are written, the others
  are left as they are (same inode, same modification time), what the new build
  does not have is removed, and the folder ends byte for byte, entry for entry,
  as a new build into an empty folder.
- Scenes (``cache/builds.py``): the scenes unchanged since the last build keep
  their plan.json entries, requests and prompt pages; only the edited ones are
  planned and emitted. After every kind of edit the output is a fresh full build's.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from conftest import files_of
from klingscript.commands import build as B


def entries(folder: Path) -> dict:
    """Every entry under ``folder`` (files by their bytes, folders as None, links by target)."""
    out = {}
    for p in sorted(folder.rglob("*")):
        rel = p.relative_to(folder).as_posix()
        out[rel] = ("link", os.readlink(p)) if p.is_symlink() else None if p.is_dir() else p.read_bytes()
    return out


BASE = {"plan.json": "{}\n", "prompts/scene01.txt": "one\n", "prompts/scene02.txt": "two\n",
        "requests/a.json": "A\n", "requests/b.json": "B\n"}


def test_only_changed_files_are_written_and_stale_ones_removed(tmp_path):
    target = tmp_path / "out"
    B.write_build(target, BASE)
    before = {rel: os.stat(target / rel) for rel in BASE}
    new = dict(BASE, **{"requests/c.json": "C\n", "prompts/scene01.txt": "ONE\n", "plan.json": "{ }\n"})
    del new["requests/b.json"]
    (target / "stray.txt").write_text("left by hand", encoding="utf-8")
    (target / "old").mkdir()
    (target / "old" / "x").write_text("x", encoding="utf-8")
    B.write_build(target, new)
    fresh = tmp_path / "fresh"
    B.write_build(fresh, new)
    assert entries(target) == entries(fresh)
    for rel in ("prompts/scene02.txt", "requests/a.json"):   # unchanged: not written again
        st = os.stat(target / rel)
        assert (st.st_ino, st.st_mtime_ns) == (before[rel].st_ino, before[rel].st_mtime_ns)
    assert os.stat(target / "plan.json").st_ino != before["plan.json"].st_ino
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fresh", "out"]   # no temporary files


def test_an_entry_in_the_way_replaces_the_whole_folder(tmp_path):
    target = tmp_path / "out"
    B.write_build(target, BASE)
    shutil.rmtree(target / "requests")
    (target / "requests").write_text("a file where a folder goes", encoding="utf-8")
    (target / "prompts" / "scene01.txt").unlink()
    (target / "prompts" / "scene01.txt").mkdir()
    os.symlink(tmp_path / "elsewhere", target / "link")
    B.write_build(target, BASE)
    fresh = tmp_path / "fresh"
    B.write_build(fresh, BASE)
    assert entries(target) == entries(fresh)


def test_a_failed_write_leaves_the_old_build(tmp_path, monkeypatch):
    target = tmp_path / "out"
    B.write_build(target, BASE)
    before = files_of(target)
    real = B._write_file
    calls = []

    def failing(path, data):
        calls.append(path)
        if len(calls) == 2:
            raise OSError(28, "No space left on device")
        real(path, data)

    monkeypatch.setattr(B, "_write_file", failing)
    with pytest.raises(OSError):
        B.write_build(target, dict(BASE, **{"requests/a.json": "A2\n", "requests/b.json": "B2\n"}))
    assert files_of(target) == before
    assert entries(target).keys() == entries(tmp_path / "out").keys() == set(before) | {"prompts", "requests"}


names = st.sampled_from(["plan.json", "prompts/scene01.txt", "prompts/scene02.txt", "requests/a.json",
                         "requests/b.json", "requests/c.json", "x/y/z.json"])
trees = st.dictionaries(names, st.sampled_from(["", "a\n", "b\n", "ab\n", "é\n"]), min_size=1).map(
    lambda d: {**d, "plan.json": d.get("plan.json", "{}\n")})


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(first=trees, second=trees)
def test_any_update_ends_as_a_fresh_write(tmp_path, first, second):
    target, fresh = tmp_path / "out", tmp_path / "fresh"
    for p in (target, fresh):
        shutil.rmtree(p, ignore_errors=True)
    B.write_build(target, first)
    B.write_build(target, second)
    B.write_build(fresh, second)
    assert entries(target) == entries(fresh)


# -- scenes: a build after an edit equals a fresh full build ---------------------------

from conftest import EXAMPLES                       # noqa: E402
from klingscript import compiler                    # noqa: E402
from klingscript.cli import main                    # noqa: E402

HEAD = ('title: Harbour Lights - Tests\nmodel: kling-v3-omni\nresolution: 1080p\naudio: on\n'
        'style: "film noir"\n\nuse "cast.kls"\n\n')
SCENES = [
    'scene "Rent day" at @Office:\n    sound: "rain on glass"\n\n'
    '    Shot 1 (3s): @Vance dozes in his chair.\n'
    '    Shot 2 (4s): @Marisol marches in, waving an envelope.\n'
    '        @Marisol (furious, Spanish): "¡Tres meses sin pagar!"\n',
    'scene "The docks" at @Docks:\n    Shot 1 (5s): Fog rolls over the docks.\n'
    '    Shot 2 (4s): @Kenji steps out, hands raised.\n',
    'scene "Plain" (6s):\n    model: kling-v3\n    @Kenji runs along the quay.\n',
    'scene "Long" at @Office:\n' + "".join(f'    Shot {i} (5s): @Vance paces, take {i}.\n' for i in range(1, 7)),
    'scene "Landlady":\n    Shot 1 (4s): @Marisol counts the money.\n',
]


def _build(capsys, script, out, no_cache):
    env = {"KLINGSCRIPT_NO_CACHE": "1"} if no_cache else {}
    old = {k: os.environ.get(k) for k in ("KLINGSCRIPT_NO_CACHE",)}
    os.environ.pop("KLINGSCRIPT_NO_CACHE", None)
    os.environ.update(env)
    try:
        capsys.readouterr()
        code = main(["build", str(script), "-o", str(out)])
        stdout, stderr = capsys.readouterr()
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return code, stdout.replace(str(out), "OUT"), stderr, files_of(out) if code == 0 else None


@pytest.fixture
def series(tmp_path, monkeypatch):
    folder = tmp_path / "series"
    shutil.copytree(EXAMPLES / "series", folder)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.chdir(folder)
    return folder


class Emitted:
    """The scene numbers each build after an edit planned and emitted (None: the full path)."""

    def __init__(self, monkeypatch):
        self.runs: list = []
        real, emit = compiler.build_incremental, compiler._emit_scenes

        def incremental(*a, **k):
            if os.environ.get("KLINGSCRIPT_NO_CACHE"):     # the fresh build compared with
                return real(*a, **k)
            self.runs.append([])
            done = real(*a, **k)
            if done is None:
                self.runs[-1] = None
            return done

        def scenes(program, numbers, *a):
            self.runs[-1].extend(numbers)
            return emit(program, numbers, *a)

        monkeypatch.setattr(compiler, "build_incremental", incremental)
        monkeypatch.setattr(compiler, "_emit_scenes", scenes)


def _same_as_fresh(capsys, folder, name="ep.kls"):
    got = _build(capsys, name, folder / "out", no_cache=False)
    shutil.rmtree(folder / "fresh", ignore_errors=True)
    want = _build(capsys, name, folder / "fresh", no_cache=True)
    assert got == want
    return got


def test_editing_one_scene_plans_and_emits_only_that_scene(series, capsys, monkeypatch):
    script = series / "ep.kls"
    script.write_text(HEAD + "\n".join(SCENES), encoding="utf-8")
    first = _same_as_fresh(capsys, series)
    assert first[0] == 0
    emitted = Emitted(monkeypatch)
    edited = list(SCENES)
    edited[3] = edited[3].replace("take 2", "take two")
    script.write_text(HEAD + "\n".join(edited), encoding="utf-8")
    after = _same_as_fresh(capsys, series)
    assert emitted.runs == [[4]]
    changed = {k for k in after[3] if first[3].get(k) != after[3][k]}
    assert "plan.json" in changed and "prompts/scene04.txt" in changed
    assert not any(k.startswith("prompts/") and k != "prompts/scene04.txt" for k in changed)
    # Unchanged again, into the same folder: the whole-build shortcut; into another: nothing emitted.
    assert _build(capsys, "ep.kls", series / "other", no_cache=False)[3] == after[3]
    assert emitted.runs[-1] == []


def _edit(scenes: list, head: str, cast: str, op: tuple):
    kind, i, j = op
    scenes = list(scenes)
    n = len(scenes)
    if kind == "shot" and n:
        scenes[i % n] = scenes[i % n].replace("(4s)", "(5s)", 1).replace(".\n", f", again {j}.\n", 1)
    elif kind == "insert":
        scenes.insert(i % (n + 1), SCENES[j % len(SCENES)].replace('scene "', f'scene "New {j} ', 1))
    elif kind == "delete" and n > 1:
        del scenes[i % n]
    elif kind == "swap" and n > 1:
        a, b = i % n, j % n
        scenes[a], scenes[b] = scenes[b], scenes[a]
    elif kind == "setting":
        head = head.replace('style: "film noir', f'style: "film noir {j}', 1)
    elif kind == "cast":
        cast = cast.replace('tired eyes', f'tired eyes {j}', 1)
    elif kind == "error" and n:
        scenes[i % n] = scenes[i % n].replace("(3s)", "(0.5s)", 1).replace("(5s)", "(0.5s)", 1)
    elif kind == "element" and n:
        scenes[i % n] = scenes[i % n].replace("@Kenji", "@Marisol", 1)
    elif kind == "image":       # another picture in the place of one: checked again, built the same
        refs = EXAMPLES / "series" / "refs"
        shutil.copyfile(refs / ("harbour_office.png" if j % 2 else "landlady_left.png"),
                        Path("refs") / "detective_left.png")
    return scenes, head, cast


# Edits within a scene (the ones a build after an edit takes without the full path) weigh more.
ops = st.tuples(st.sampled_from(["shot", "shot", "shot", "element", "image", "insert", "delete", "swap",
                                 "setting", "cast", "error"]),
                st.integers(0, 9), st.integers(0, 9))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(edits=st.lists(ops, min_size=1, max_size=4))
def test_a_build_after_any_edits_is_a_fresh_full_build(series, capsys, monkeypatch, edits):
    import tempfile

    # A cache of its own for each example (the store of a folder removed would stay open).
    monkeypatch.setenv("XDG_CACHE_HOME", tempfile.mkdtemp(dir=series.parent, prefix="cache"))
    shutil.rmtree(series / "out", ignore_errors=True)
    shutil.copytree(EXAMPLES / "series" / "refs", series / "refs", dirs_exist_ok=True)
    cast_file = series / "cast.kls"
    cast0 = (EXAMPLES / "series" / "cast.kls").read_text(encoding="utf-8")
    scenes, head, cast = list(SCENES), HEAD, cast0
    cast_file.write_text(cast, encoding="utf-8")
    (series / "ep.kls").write_text(head + "\n".join(scenes), encoding="utf-8")
    _same_as_fresh(capsys, series)
    for op in edits:
        scenes, head, cast = _edit(scenes, head, cast, op)
        cast_file.write_text(cast, encoding="utf-8")
        (series / "ep.kls").write_text(head + "\n".join(scenes), encoding="utf-8")
        _same_as_fresh(capsys, series)


def test_a_request_file_changed_since_the_last_build_is_written_again(series, capsys):
    script = series / "ep.kls"
    script.write_text(HEAD + "\n".join(SCENES), encoding="utf-8")
    _same_as_fresh(capsys, series)
    request = sorted((series / "out" / "requests").iterdir())[0]
    data = request.read_bytes()
    request.write_bytes(data.replace(b"1080p", b"1081p") if b"1080p" in data else data[:-2] + b"X\n")
    edited = list(SCENES)
    edited[1] = edited[1].replace("Fog rolls", "Mist rolls")
    script.write_text(HEAD + "\n".join(edited), encoding="utf-8")
    _same_as_fresh(capsys, series)
    assert request.read_bytes() == data


@pytest.mark.parametrize("forged", [
    {"doc": None, "scenes": []},
    "not a dict",
    {"doc": "x", "head": 3, "elements": 4, "scenes": {"k": (1, 2)}},
    "same doc, parts of another shape",
])
def test_a_scene_outputs_entry_of_another_shape_is_not_trusted(series, capsys, forged):
    from klingscript import cache
    from klingscript.cache import builds as CB

    script = series / "ep.kls"
    script.write_text(HEAD + "\n".join(SCENES), encoding="utf-8")
    _same_as_fresh(capsys, series)
    where = (os.path.abspath(script),)
    entry = cache.store().get(CB.PARTS, where)
    assert isinstance(entry, dict) and entry["scenes"]
    if forged == "same doc, parts of another shape":
        forged = dict(entry, scenes={k: ((("x",) * 11,), None, None) for k in entry["scenes"]},
                      elements=((), "?"))
    cache.store().put(CB.PARTS, where, forged, CB.MAX_PARTS)
    edited = list(SCENES)
    edited[0] = edited[0].replace("dozes", "sleeps")
    script.write_text(HEAD + "\n".join(edited), encoding="utf-8")
    assert _same_as_fresh(capsys, series)[0] == 0

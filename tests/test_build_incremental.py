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

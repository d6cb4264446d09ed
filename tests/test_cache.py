"""klingc's on-disk cache: a hit is exactly what the parser returns, and a bad entry is a miss."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from klingscript import cache
from klingscript.compiler import check
from klingscript.project import Loader
from klingscript.syntax.parser import parse

SCRIPT = '''title: "Cache"
# a comment
character Nora:
    description: "detective, 40s"

scene "Office" (6s):
    Shot 1 (3s): @Nora looks up.  # not a comment
        @Nora (tired, English): "Again?"  # a trailing comment
    Shot 2: She sighs.
        sound: "rain"
    Shot 3 (2.5s): @Ghost waves.
'''


@pytest.fixture
def cache_dir(tmp_path, monkeypatch) -> Path:
    """An empty cache folder for this test."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv("KLINGSCRIPT_NO_CACHE", raising=False)
    return tmp_path / "xdg" / "klingscript" / "parse"


def entries(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.entry")) if folder.exists() else []


def test_a_hit_is_the_parse_result(cache_dir):
    expected = parse(SCRIPT, "film.kls")
    first = cache.parse(SCRIPT, "film.kls")
    assert len(entries(cache_dir)) == 1
    second = cache.parse(SCRIPT, "film.kls")
    for got in (first, second):
        assert got[0] == expected[0]          # the whole tree, spans and comments included
        assert got[1] == expected[1]          # the syntax diagnostics, in order
        assert isinstance(got[1], list)
    assert expected[0].scenes and expected[0].comments


def test_a_hit_changes_no_diagnostic(cache_dir, tmp_path):
    path = tmp_path / "film.kls"
    path.write_text(SCRIPT, encoding="utf-8")
    cold = check(path).diagnostics
    assert len(entries(cache_dir)) == 1
    warm = check(path).diagnostics
    assert warm == cold and any(d.code == "KLS301" for d in warm)  # (2.5s) is not whole seconds


def test_display_path_and_text_are_part_of_the_key(cache_dir):
    a = cache.parse(SCRIPT, "a.kls")
    b = cache.parse(SCRIPT, "b.kls")
    c = cache.parse(SCRIPT + "\n", "a.kls")
    assert a[0].span.file == "a.kls" and b[0].span.file == "b.kls"
    assert c[0] == parse(SCRIPT + "\n", "a.kls")[0]
    assert len(entries(cache_dir)) == 3


def test_turned_off(cache_dir, monkeypatch):
    monkeypatch.setenv("KLINGSCRIPT_NO_CACHE", "1")
    assert cache.parse(SCRIPT, "film.kls") == parse(SCRIPT, "film.kls")
    assert not cache_dir.parent.exists()


def test_unsaved_buffers_are_not_cached(cache_dir, tmp_path):
    path = tmp_path / "film.kls"
    path.write_text(SCRIPT, encoding="utf-8")
    check(path, loader=Loader({path: SCRIPT.replace("Office", "Desk")}))
    assert entries(cache_dir) == []
    checked = check(path)
    assert len(entries(cache_dir)) == 1
    assert checked.program.main.doc.scenes[0].title.value == "Office"


def test_old_entries_are_pruned(cache_dir, monkeypatch):
    monkeypatch.setattr(cache, "MAX_ENTRIES", 3)
    cache_dir.mkdir(parents=True)
    (cache_dir / "0123abcd-99.pickle").write_bytes(b"an older klingc's entry")
    os.utime(cache_dir / "0123abcd-99.pickle", (1, 1))
    for i in range(6):
        cache.parse(f'title: "{i}"\n', "film.kls")
    assert len(entries(cache_dir)) == 3 and len(list(cache_dir.iterdir())) == 3


def test_an_unwritable_cache_is_no_error(tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker))
    monkeypatch.delenv("KLINGSCRIPT_NO_CACHE", raising=False)
    assert cache.parse(SCRIPT, "film.kls") == parse(SCRIPT, "film.kls")


def test_a_warm_check_does_not_load_the_parser(tmp_path):
    path = tmp_path / "film.kls"
    path.write_text(SCRIPT, encoding="utf-8")
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "xdg")}
    env.pop("KLINGSCRIPT_NO_CACHE", None)
    code = ("import sys; from klingscript.compiler import check; p = check(sys.argv[1]); "
            "print('klingscript.syntax._lark_standalone' in sys.modules, len(p.diagnostics))")
    runs = [subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, env=env)
            for _ in range(2)]
    for r in runs:
        assert r.returncode == 0, r.stderr
    cold, warm = (r.stdout.split() for r in runs)
    assert cold[0] == "True" and warm[0] == "False"
    assert cold[1] == warm[1]


def test_the_parser_does_not_import_the_cache():
    """No cycle syntax -> languages -> resources -> cache -> syntax: the parser and the data
    files are read without the cache."""
    code = ("import sys; from klingscript.syntax.parser import parse; from klingscript.resources import data_toml; "
            f"parse({SCRIPT!r}, 'film.kls'); data_toml('speech_rates.toml'); "
            "print(sorted(m for m in sys.modules if m.startswith('klingscript.cache')))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[]"


def test_odd_names_and_a_relative_cache_home(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("XDG_CACHE_HOME", "relative")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("KLINGSCRIPT_NO_CACHE", raising=False)
    name = "film-\udcff.kls"   # a file name that is not valid UTF-8 on disk
    assert cache.parse(SCRIPT, name) == parse(SCRIPT, name)
    assert not (tmp_path / "relative").exists()
    assert len(entries(tmp_path / "home" / ".cache" / "klingscript" / "parse")) == 1

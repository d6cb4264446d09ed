"""The cache's store: entries are authenticated before anything is unpickled, the key is
private or there is no cache, and klingc's own package as a whole is in every key."""

from __future__ import annotations

import os
import pickle
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from klingscript import cache
from klingscript.cache import stamp as S
from klingscript.cache.store import KEY_FILE, MAGIC, Store
from klingscript.syntax.parser import parse

SCRIPT = 'title: "Store"\ncharacter Nora:\n    description: "detective"\n\nscene "Office" (5s):\n    @Nora sighs.\n'
KEY = ("film.kls", SCRIPT)


@pytest.fixture
def root(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv("KLINGSCRIPT_NO_CACHE", raising=False)
    return tmp_path / "xdg" / "klingscript"


def parse_entry(root: Path) -> Path:
    cache.parse(SCRIPT, "film.kls")
    (entry,) = (root / "parse").glob("*.entry")
    return entry


def is_fresh_parse(root: Path) -> bool:
    """The cache gives the parser's result, and the entry was rewritten (it was a miss)."""
    entry = Path(cache.store().path("parse", KEY))
    before = entry.read_bytes()
    assert cache.parse(SCRIPT, "film.kls") == parse(SCRIPT, "film.kls")
    return entry.read_bytes() != before


class _Exploit:
    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


def forge(store: Store, namespace: str, key_parts, payload: bytes, key: bytes) -> bytes:
    """An entry of ``payload`` tagged with ``key``."""
    real, store._key = store._key, key
    try:
        return MAGIC + store._tag(namespace, store.digest(namespace, key_parts), payload) + payload
    finally:
        store._key = real


# -- entries that are not to be trusted ------------------------------------------------

def test_a_good_entry_is_a_hit(root):
    entry = parse_entry(root)
    assert not is_fresh_parse(root)
    assert entry.read_bytes().startswith(MAGIC)


@pytest.mark.parametrize("damage", ["flipped byte", "truncated", "empty", "no tag", "not ours"])
def test_a_damaged_entry_is_a_miss(root, damage):
    entry = parse_entry(root)
    data = entry.read_bytes()
    if damage == "flipped byte":     # in the scene's title: the entry still unpickles
        at = data.index(b"Office")
        data = data[:at] + bytes([data[at] ^ 1]) + data[at + 1:]
    elif damage == "truncated":
        data = data[:len(data) // 2]
    elif damage == "empty":
        data = b""
    elif damage == "no tag":        # a plain pickle, as an older klingc (or anyone) writes
        data = pickle.dumps(parse(SCRIPT, "film.kls"))
    else:                           # a valid-looking entry under another key
        data = forge(cache.store(), "parse", KEY, data[len(MAGIC) + 32:], os.urandom(32))
    entry.write_bytes(data)
    assert is_fresh_parse(root)
    assert not is_fresh_parse(root)   # the rewritten entry is good


def test_an_entry_of_another_key_is_a_miss(root):
    """An authentic entry copied over the name of another key's entry is not used for it."""
    entry = parse_entry(root)
    cache.parse(SCRIPT + "\n", "film.kls")
    other = next(p for p in (root / "parse").glob("*.entry") if p != entry)
    entry.write_bytes(other.read_bytes())
    assert is_fresh_parse(root)


def test_a_pickle_that_would_run_code_never_runs(root, tmp_path):
    entry = parse_entry(root)
    marker = tmp_path / "ran"
    payload = pickle.dumps(_Exploit(str(marker)))
    # Without the key: refused before unpickling.
    entry.write_bytes(MAGIC + b"\0" * 32 + payload)
    assert is_fresh_parse(root)
    # Even with the key (a bug of our own, say), unpickling makes only the syntax tree's classes.
    s = cache.store()
    entry.write_bytes(forge(s, "parse", KEY, payload, s._key))
    assert is_fresh_parse(root)
    assert not marker.exists()


# -- the key -------------------------------------------------------------------------

def test_the_key_and_the_folder_are_private(root):
    parse_entry(root)
    key = root / KEY_FILE
    assert stat.S_IMODE(key.stat().st_mode) == 0o600 and key.stat().st_size == 32
    assert stat.S_IMODE(root.stat().st_mode) == 0o700
    assert not [p for p in root.iterdir() if p.name.startswith(".key.")]   # no temporary file left
    # Another process (a fresh store) uses the same key, and never replaces it.
    again = Store(str(root), "stamp")
    assert again.put("test", ("x",), 1, 10) and again._key == key.read_bytes()


def test_a_folder_made_by_an_older_klingc_becomes_private(root):
    root.mkdir(parents=True, mode=0o755)
    os.chmod(root, 0o755)
    parse_entry(root)
    assert stat.S_IMODE(root.stat().st_mode) == 0o700


@pytest.mark.parametrize("how", ["readable by others", "writable by the group", "a link", "wrong size"])
def test_a_key_that_is_not_private_means_no_cache(root, tmp_path, how):
    entry = parse_entry(root)
    key = root / KEY_FILE
    if how == "readable by others":
        os.chmod(key, 0o644)
    elif how == "writable by the group":
        os.chmod(key, 0o620)
    elif how == "a link":
        target = tmp_path / "elsewhere"
        target.write_bytes(key.read_bytes())
        os.chmod(target, 0o600)
        key.unlink()
        key.symlink_to(target)
    else:
        key.write_bytes(key.read_bytes() + b"!")
    cache._stores.clear()   # a new process
    entry.unlink()
    assert cache.parse(SCRIPT, "film.kls") == parse(SCRIPT, "film.kls")
    assert list((root / "parse").glob("*.entry")) == []     # nothing read, nothing written
    assert key.exists() or key.is_symlink()                  # and the key is left alone


@pytest.mark.skipif(not hasattr(os, "chown") or os.geteuid() != 0, reason="needs to give a file away")
def test_a_key_of_another_user_means_no_cache(root):
    entry = parse_entry(root)
    os.chown(root / KEY_FILE, os.getuid() + 4242, -1)
    cache._stores.clear()
    entry.unlink()
    assert cache.parse(SCRIPT, "film.kls") == parse(SCRIPT, "film.kls")
    assert list((root / "parse").glob("*.entry")) == []


def test_a_cache_folder_of_another_user_is_not_used(root, monkeypatch):
    parse_entry(root)
    cache._stores.clear()
    real = os.getuid()
    monkeypatch.setattr(os, "getuid", lambda: real + 4242)   # the folder is now someone else's
    (entry,) = (root / "parse").glob("*.entry")
    entry.unlink()
    assert cache.parse(SCRIPT, "film.kls") == parse(SCRIPT, "film.kls")
    assert list((root / "parse").glob("*.entry")) == []


# -- klingc's own stamp ------------------------------------------------------------------

@pytest.fixture
def package_copy(tmp_path) -> Path:
    """A copy of the klingscript package (and, in a source tree, the grammar beside it)."""
    from klingscript.resources import grammar_path

    dest = tmp_path / "site"
    shutil.copytree(S.PACKAGE, dest / "klingscript", ignore=shutil.ignore_patterns("__pycache__"))
    grammar = grammar_path()
    if not str(grammar).startswith(S.PACKAGE + os.sep):
        (dest / "grammar").mkdir()
        shutil.copy2(grammar, dest / "grammar" / grammar.name)
    return dest


def stamp_of(folder: Path) -> str:
    S._stamps.pop(str(folder), None)
    return S.package_stamp(str(folder))


@pytest.mark.parametrize("change", ["a data file", "a module", "a new module", "a template", "the grammar"])
def test_any_file_of_the_package_is_in_the_stamp(package_copy, change):
    pkg = package_copy / "klingscript"
    before = stamp_of(pkg)
    assert stamp_of(pkg) == before
    (pkg / "__pycache__").mkdir(exist_ok=True)
    (pkg / "__pycache__" / "x.cpython.pyc").write_bytes(b"bytecode")   # not part of it
    assert stamp_of(pkg) == before
    target = {"a data file": pkg / "data" / "languages.toml", "a module": pkg / "model" / "languages.py",
              "a new module": pkg / "model" / "new_module.py", "a template": pkg / "templates" / "job.j2",
              "the grammar": next(package_copy.rglob("klingscript.lark"))}[change]
    with open(target, "a", encoding="utf-8") as f:
        f.write("\n")
    assert stamp_of(pkg) != before


def test_a_stale_entry_is_a_miss(tmp_path):
    old, new = Store(str(tmp_path), "klingc as it was"), Store(str(tmp_path), "klingc as it is")
    assert old.put("parse", KEY, ("tree", ()), 10)
    assert old.get("parse", KEY) == ("tree", ())
    assert new.get("parse", KEY) is None


def test_a_changed_data_file_of_the_installed_package_is_a_miss(package_copy, tmp_path):
    """End to end, in a copy of the package: an edit to one of its data files (a file no
    list names) makes the next check parse again."""
    script = tmp_path / "film.kls"
    script.write_text(SCRIPT, encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(package_copy), "XDG_CACHE_HOME": str(tmp_path / "xdg")}
    env.pop("KLINGSCRIPT_NO_CACHE", None)
    code = ("import sys, klingscript; from klingscript.compiler import check; "
            "assert klingscript.__file__.startswith(sys.argv[2]), klingscript.__file__; "
            "p = check(sys.argv[1]); print('klingscript.syntax._lark_standalone' in sys.modules)")
    parse_folder = tmp_path / "xdg" / "klingscript" / "parse"

    def run() -> str:
        r = subprocess.run([sys.executable, "-c", code, str(script), str(package_copy)],
                           capture_output=True, text=True, env=env, cwd=tmp_path)
        assert r.returncode == 0, r.stderr
        return r.stdout.strip()

    assert run() == "True" and run() == "False"
    assert len(list(parse_folder.glob("*.entry"))) == 1
    with open(package_copy / "klingscript" / "data" / "speech_rates.toml", "a", encoding="utf-8") as f:
        f.write("\n# edited\n")
    assert run() == "True"
    assert len(list(parse_folder.glob("*.entry"))) == 2

"""The build memo (cache.BuildMemo): a rebuild takes unchanged scenes from the last build, and
its output is always byte for byte what a build without any cache writes."""

from __future__ import annotations

import json
import pickle
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import EXAMPLES, files_of

SITCOM = EXAMPLES / "sitcom_coffee_shop.kls"
LIVING_ROOM = EXAMPLES / "living_room.kls"


def build(klingc, script: Path, out: Path, cache: Path, *extra, no_cache=False):
    env = {"XDG_CACHE_HOME": str(cache), "KLINGSCRIPT_NO_CACHE": "1" if no_cache else None}
    r = klingc("build", str(script), "-o", str(out), *extra, cwd=script.parent, env=env)
    assert r.returncode == 0, r.stderr[-2000:]
    return files_of(out)


def fresh(klingc, script: Path, tmp_path: Path, *extra):
    """What a build without any cache writes."""
    return build(klingc, script, tmp_path / "fresh", tmp_path / "unused", *extra, no_cache=True)


def copy_example(src: Path, tmp_path: Path) -> Path:
    folder = tmp_path / "project"
    if not folder.exists():
        import shutil
        shutil.copytree(src.parent, folder, ignore=shutil.ignore_patterns("series"))
    return folder / src.name


def memo_files(cache: Path) -> list[Path]:
    return sorted((cache / "klingscript" / "build").glob("*.entry"))


@pytest.mark.parametrize("example", [SITCOM, LIVING_ROOM], ids=lambda p: p.stem)
def test_a_rebuild_is_the_same_and_renders_nothing(klingc, tmp_path, example):
    cache = tmp_path / "cache"
    first = build(klingc, example, tmp_path / "a", cache)
    assert memo_files(cache)
    # Run again in a process that reports what it imported: a rebuild from the memo needs
    # neither Jinja2 (prompts) nor pydantic (requests).
    code = ("import sys; from klingscript.cli import main; "
            f"code = main(['build', {str(example)!r}, '-o', {str(tmp_path / 'b')!r}]); "
            "print('jinja2' in sys.modules, 'pydantic' in sys.modules, file=sys.stderr); sys.exit(code)")
    import os
    env = {**os.environ, "XDG_CACHE_HOME": str(cache)}
    env.pop("KLINGSCRIPT_NO_CACHE", None)
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                       cwd=example.parent, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stderr.strip().splitlines()[-1] == "False False"
    assert files_of(tmp_path / "b") == first == fresh(klingc, example, tmp_path)


def rebuild_after_edit(klingc, tmp_path, script: Path, text: str, edited: str):
    """Build ``text``, then ``edited`` with the memo: both outputs, the second checked
    against a build without any cache."""
    cache = tmp_path / "cache"
    script.write_text(text, encoding="utf-8")
    before = build(klingc, script, tmp_path / "a", cache)
    script.write_text(edited, encoding="utf-8")
    after = build(klingc, script, tmp_path / "b", cache)
    assert after == fresh(klingc, script, tmp_path)
    return before, after


def test_editing_one_scene_changes_only_that_scene(klingc, tmp_path):
    script = copy_example(SITCOM, tmp_path)
    text = script.read_text(encoding="utf-8")
    before, after = rebuild_after_edit(
        klingc, tmp_path, script, text + '\nscene "The Last Word" (5s):\n    @Tom drops his mug.\n',
        text + '\nscene "The Last Word" (5s):\n    @Tom drops his mug and laughs.\n')
    changed = {name for name in set(before) | set(after) if before.get(name) != after.get(name)}
    assert "plan.json" in changed
    assert {n for n in changed if n.startswith("prompts/")} == {"prompts/scene02.txt"}
    assert len([n for n in changed if n.startswith("requests/")]) == 2     # one job: old and new id


@pytest.mark.parametrize("edit", ["element", "setting", "template", "pricing"])
def test_what_every_scene_is_made_from_renders_them_again(klingc, tmp_path, edit):
    script = copy_example(LIVING_ROOM, tmp_path)
    templates = tmp_path / "templates"
    templates.mkdir()
    pricing = tmp_path / "pricing.toml"
    from klingscript.resources import PACKAGE
    pricing.write_text((PACKAGE / "data" / "pricing.toml").read_text(encoding="utf-8"), encoding="utf-8")
    extra = ["--templates", str(templates), "--pricing", str(pricing)]
    cache = tmp_path / "cache"
    build(klingc, script, tmp_path / "a", cache, *extra)
    text = script.read_text(encoding="utf-8")
    if edit == "element":
        script.write_text(text.replace("description: \"", "description: \"tall, ", 1), encoding="utf-8")
    elif edit == "setting":
        script.write_text(text.replace("aspect: 16:9", "aspect: 9:16") if "aspect: 16:9" in text
                          else "aspect: 9:16\n" + text, encoding="utf-8")
    elif edit == "template":
        (templates / "webapp.j2").write_text(
            (PACKAGE / "templates" / "webapp.j2").read_text(encoding="utf-8") + "\n(made with care)\n",
            encoding="utf-8")
    else:
        pricing.write_text(pricing.read_text(encoding="utf-8") + "\n# a comment\n", encoding="utf-8")
    after = build(klingc, script, tmp_path / "b", cache, *extra)
    assert after == fresh(klingc, script, tmp_path, *extra)
    if edit == "template":
        assert all(b"(made with care)" in v for k, v in after.items() if k.startswith("prompts/"))


def test_a_broken_or_foreign_memo_is_ignored(klingc, tmp_path, monkeypatch):
    from klingscript import cache as C
    from klingscript.cache.store import MAGIC

    cache = tmp_path / "cache"
    build(klingc, SITCOM, tmp_path / "a", cache)
    (entry,) = memo_files(cache)
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache))
    monkeypatch.delenv("KLINGSCRIPT_NO_CACHE", raising=False)
    store = C.store()
    assert store.get("build", (str(SITCOM),)) is not None    # the memo's key, as the build made it
    digest = store.digest("build", (str(SITCOM),))

    class Evil:
        def __reduce__(self):
            return (print, ("never run",))

    def signed(value) -> bytes:    # authentic: only the restriction to plain data refuses it
        payload = pickle.dumps(value)
        return MAGIC + store._tag("build", digest, payload) + payload

    expected = fresh(klingc, SITCOM, tmp_path)
    for n, content in enumerate((b"not a pickle", pickle.dumps(("build-outputs", {"x": Evil()})),
                                 signed({"x": Evil()}), signed("not a dict"), signed({"x": "not a scene"}))):
        entry.write_bytes(content)
        # A folder of its own each time: an unchanged build into the same one takes the
        # whole-build shortcut (cache/builds.py) and never reads the memo.
        r_files = build(klingc, SITCOM, tmp_path / f"b{n}", cache)
        assert r_files == expected
    # The memo written again is authentic and plain data.
    value = store.get("build", (str(SITCOM),))
    assert isinstance(value, dict) and value
    json.dumps(list(value), default=str)


def test_compiled_templates_are_in_the_store_and_a_forged_one_never_runs(klingc, tmp_path):
    """Jinja2 runs the code it loads: a compiled template is taken only from an authentic entry."""
    import marshal

    from jinja2.bccache import bc_magic
    from klingscript.cache.store import MAGIC

    cache = tmp_path / "cache"
    first = build(klingc, LIVING_ROOM, tmp_path / "a", cache)
    compiled = sorted((cache / "klingscript" / "templates").glob("*.entry"))
    assert compiled
    marker = tmp_path / "ran"
    for entry in compiled:      # the same template, source checksum and all, but other code
        bucket = pickle.loads(entry.read_bytes()[len(MAGIC) + 32:])
        checksum = pickle.loads(bucket[len(bc_magic):])
        code = compile(f"open({str(marker)!r}, 'w').close()", "<forged>", "exec")
        forged = bc_magic + pickle.dumps(checksum, 2) + marshal.dumps(code)
        entry.write_bytes(MAGIC + b"\0" * 32 + pickle.dumps(forged))
    for memo in memo_files(cache):
        memo.unlink()           # so that the prompts are rendered again
    assert build(klingc, LIVING_ROOM, tmp_path / "b", cache) == first
    assert not marker.exists()


def test_a_scene_that_starts_using_an_element_makes_its_request(klingc, tmp_path):
    script = copy_example(LIVING_ROOM, tmp_path)
    head = script.read_text(encoding="utf-8").split("\nscene ", 1)[0]
    before, after = rebuild_after_edit(
        klingc, tmp_path, script, head + '\nscene "Hello" (5s) at @LivingRoom:\n    @Grace waves.\n',
        head + '\nscene "Hello" (5s) at @LivingRoom:\n    @Grace waves at @Alan.\n')
    names = [e["name"] for e in json.loads(after["plan.json"])["elements"]]
    assert "Alan" in names and names != [e["name"] for e in json.loads(before["plan.json"])["elements"]]


def test_only_the_memos_of_the_scripts_built_last_are_kept(tmp_path, monkeypatch):
    from klingscript import cache
    from klingscript.cli import main

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("KLINGSCRIPT_NO_CACHE", raising=False)
    monkeypatch.setattr(cache, "MAX_BUILDS", 2)
    monkeypatch.chdir(EXAMPLES)
    for name in ("truck_driver", "villa_terrace", "family_couch"):
        assert main(["build", f"{name}.kls", "-o", str(tmp_path / name)]) == 0
    kept = [p.name for p in memo_files(tmp_path / "cache")]
    assert len(kept) == 2 and not any("truck_driver" in k for k in kept)

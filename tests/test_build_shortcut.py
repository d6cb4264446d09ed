"""The whole-build shortcut (cache/builds.py): ``klingc build`` of an unchanged script, with
unchanged options, into an unchanged output folder prints what the build printed and leaves the
folder as it is; anything else it was made from changed, and the build runs again, its output
byte for byte a build's without any cache."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from conftest import EXAMPLES, files_of
from klingscript import compiler
from klingscript.cli import main

SERIES = EXAMPLES / "series"


@pytest.fixture
def project(tmp_path, monkeypatch):
    """A copy of examples/series (an episode with a cast file and images), the cache in tmp_path."""
    folder = tmp_path / "project"
    shutil.copytree(SERIES, folder)
    shutil.copytree(EXAMPLES / "refs", folder / "refs", dirs_exist_ok=True)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("KLINGSCRIPT_NO_CACHE", raising=False)
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.chdir(folder)
    return folder


def build(capsys, *args):
    capsys.readouterr()
    code = main(["build", *map(str, args)])
    out, err = capsys.readouterr()
    return code, out, err


class Compiles:
    """Counts the builds that compile, in full or after an edit (the others took the shortcut)."""

    def __init__(self, monkeypatch):
        self.count = 0
        real, incremental = compiler.compile_script, compiler.build_incremental

        def counted(*a, **k):
            self.count += 1
            return real(*a, **k)

        def built(*a, **k):
            done = incremental(*a, **k)
            self.count += done is not None
            return done

        monkeypatch.setattr(compiler, "compile_script", counted)
        monkeypatch.setattr(compiler, "build_incremental", built)


def fresh(tmp_path, monkeypatch, capsys, script, *extra):
    """What a build without any cache prints and writes."""
    with monkeypatch.context() as m:
        m.setenv("KLINGSCRIPT_NO_CACHE", "1")
        out = tmp_path / "fresh"
        shutil.rmtree(out, ignore_errors=True)
        code, stdout, stderr = build(capsys, script, "-o", out, *extra)
    return code, stdout.replace(str(out), "OUT"), stderr, files_of(out)


WARNED = 'model: kling-v3-omni\nuse "cast.kls"\ncharacter Extra:\n    description: "a passer-by"\nscene "Rain":\n    Shot 1 (4s): @Vance waits.\n'


def test_an_unchanged_build_prints_the_same_and_writes_nothing(project, monkeypatch, capsys):
    (project / "warned.kls").write_text(WARNED, encoding="utf-8")
    first = build(capsys, "warned.kls", "-o", "out")
    assert first[0] == 0 and "warning[KLS403]" in first[2]
    written = files_of(project / "out")
    inode = (project / "out" / "plan.json").stat().st_ino
    compiles = Compiles(monkeypatch)
    assert build(capsys, "warned.kls", "-o", "out") == first
    assert compiles.count == 0
    assert files_of(project / "out") == written and (project / "out" / "plan.json").stat().st_ino == inode
    # Another output folder, and the default one, are builds of their own.
    assert build(capsys, "warned.kls", "-o", "other")[1] == first[1].replace("out:", "other:")
    assert build(capsys, "warned.kls")[0] == 0
    assert compiles.count == 2
    assert build(capsys, "warned.kls")[0] == 0 and compiles.count == 2


def _edit_script(project, script):
    script.write_text(script.read_text(encoding="utf-8").replace("dozes", "sleeps"), encoding="utf-8")


def _edit_use_file(project, script):
    cast = project / "cast.kls"
    cast.write_text(cast.read_text(encoding="utf-8").replace("tired eyes", "sad eyes"), encoding="utf-8")


def _remove_image(project, script):
    (project / "refs" / "detective_left.png").unlink()


def _edit_output(project, script):
    (project / "out" / "plan.json").write_text("{}", encoding="utf-8")


def _add_output(project, script):
    (project / "out" / "prompts" / "mine.txt").write_text("mine", encoding="utf-8")


def _remove_output(project, script):
    next((project / "out" / "requests").iterdir()).unlink()


def _remove_folder(project, script):
    shutil.rmtree(project / "out")


def _copy_folder(project, script):
    shutil.copytree(project / "out", project / "copy", copy_function=shutil.copy2)
    shutil.rmtree(project / "out")
    (project / "copy").rename(project / "out")


def _template(project, script):
    (project / "tpl" / "webapp.j2").write_text("{{ scene.title }}\n", encoding="utf-8")


def _pricing(project, script):
    p = project / "pricing.toml"
    p.write_text(p.read_text(encoding="utf-8") + "\n# a comment\n", encoding="utf-8")


@pytest.mark.parametrize("change", [_edit_script, _edit_use_file, _remove_image, _edit_output, _add_output,
                                    _remove_output, _remove_folder, _copy_folder, _template, _pricing],
                         ids=lambda f: f.__name__.strip("_"))
def test_a_change_builds_again(project, tmp_path, monkeypatch, capsys, change):
    from klingscript.resources import PACKAGE

    (project / "tpl").mkdir()
    (project / "pricing.toml").write_text((PACKAGE / "data" / "pricing.toml").read_text(encoding="utf-8"),
                                          encoding="utf-8")
    extra = ["--templates", "tpl", "--pricing", "pricing.toml"]
    script = project / "episode1.kls"
    assert build(capsys, script.name, "-o", "out", *extra)[0] == 0
    compiles = Compiles(monkeypatch)
    change(project, script)
    code, out, err = build(capsys, script.name, "-o", "out", *extra)
    assert compiles.count == 1
    expected = fresh(tmp_path, monkeypatch, capsys, script.name, *extra)
    assert (code, out.replace("out", "OUT", 1), err) == expected[:3]
    if code == 0:
        assert files_of(project / "out") == expected[3]
    before = compiles.count
    assert build(capsys, script.name, "-o", "out", *extra)[:2] == (code, out)
    assert compiles.count == before + (code != 0)       # a failed build is never a shortcut


def test_a_missing_template_folder_is_still_reported(project, capsys):
    script = project / "episode1.kls"
    assert build(capsys, script.name, "-o", "out")[0] == 0
    code, _, err = build(capsys, script.name, "-o", "out", "--templates", "nowhere")
    assert code == 2 and "no such template folder" in err


# -- --api and --callback-url are in the cache's keys -------------------------------------------

OPTIONS = [(), ("--api", "legacy"), ("--api", "legacy"), ("--callback-url", "https://example.com/cb"),
           ("--api", "legacy", "--callback-url", "https://example.com/cb"), ("--api", "current"), (),
           ("--api", "legacy")]


def test_switching_api_and_callback_between_builds(project, tmp_path, monkeypatch, capsys):
    """Builds into one folder with the cache on, switching `--api` and `--callback-url` (and
    editing a scene in between): each equals a build without any cache with the same options,
    and an unchanged build with the same options takes the shortcut."""
    script = project / "episode1.kls"
    compiles = Compiles(monkeypatch)
    last = None
    for k, extra in enumerate(OPTIONS):
        if k == 6:       # an edit: the build after it takes the scenes kept for these options
            script.write_text(script.read_text(encoding="utf-8").replace("(4s)", "(5s)", 1),
                              encoding="utf-8")
        before = compiles.count
        code, out, err = build(capsys, script.name, "-o", "out", *extra)
        compiled = compiles.count - before
        assert code == 0, err
        want = fresh(tmp_path, monkeypatch, capsys, script.name, *extra)
        assert (code, out.replace("out", "OUT", 1), files_of(project / "out")) == \
            (want[0], want[1], want[3]), extra
        api = extra[extra.index("--api") + 1] if "--api" in extra else "current"
        plan = (project / "out" / "plan.json").read_text(encoding="utf-8")
        assert f'"api": "{api}"' in plan
        assert ("https://example.com/cb" in plan) == ("--callback-url" in extra)
        # the same options again, nothing changed: the shortcut (no compile)
        if extra == last:
            assert compiled == 0, extra
        last = extra

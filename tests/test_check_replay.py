"""An unchanged check prints what it printed last time without checking again (cache/shown.py),
and checks again as soon as anything its output depends on has changed."""

from __future__ import annotations

import os

import pytest

from klingscript import cli, compiler
from klingscript.cache import shown

CAST = '''character Mara:
    description: "woman of 40, grey coat, red scarf"
'''

SCRIPT = '''title: Harbour
model: kling-v3-omni
use "cast.kls"

scene "Arrival":
    first frame: "start.png"
    Shot 1 (3s): @Mara walks along the dock. @Ghost waves.
        @Mara: "Is anyone here?"
'''


@pytest.fixture
def project(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv("KLINGSCRIPT_NO_CACHE", raising=False)
    monkeypatch.delenv("NO_COLOR", raising=False)
    folder = tmp_path / "p"
    folder.mkdir()
    (folder / "cast.kls").write_text(CAST)
    (folder / "pilot.kls").write_text(SCRIPT)
    monkeypatch.chdir(folder)
    return folder


def run(capsys, *args):
    code = cli.main(["check", *args])
    return code, capsys.readouterr().out


class Counting:
    """``compiler.diagnose``, counting its calls: a replayed check makes none."""

    def __init__(self, monkeypatch):
        self.calls = 0
        real = compiler.diagnose

        def diagnose(*a, **k):
            self.calls += 1
            return real(*a, **k)
        monkeypatch.setattr(compiler, "diagnose", diagnose)


def test_an_unchanged_check_is_replayed_byte_for_byte(project, capsys, monkeypatch):
    seen = Counting(monkeypatch)
    first = run(capsys, "pilot.kls")
    assert first[0] == 1 and "KLS" in first[1] and seen.calls == 1
    again = run(capsys, "pilot.kls")
    assert again == first
    assert seen.calls == 1          # printed again without checking


@pytest.mark.parametrize("change", ["script", "use file", "image appears", "profiles folder"])
def test_a_change_of_anything_the_output_depends_on_checks_again(project, capsys, monkeypatch, tmp_path,
                                                                 change):
    seen = Counting(monkeypatch)
    first = run(capsys, "pilot.kls")
    if change == "script":
        (project / "pilot.kls").write_text(SCRIPT.replace("@Ghost waves.", "Gulls cry."))
    elif change == "use file":
        (project / "cast.kls").write_text(CAST.replace("Mara", "Ghost"))
    elif change == "image appears":
        from PIL import Image
        Image.new("RGB", (1280, 720)).save(project / "start.png")
    else:
        from klingscript.model import profiles
        other = tmp_path / "profiles"
        other.mkdir()
        for p in profiles.folder().glob("*.toml"):
            (other / p.name).write_bytes(p.read_bytes())
        monkeypatch.setenv(profiles.ENV, str(other))
    again = run(capsys, "pilot.kls")
    assert seen.calls == 2
    monkeypatch.setenv("KLINGSCRIPT_NO_CACHE", "1")
    assert again == run(capsys, "pilot.kls")    # what a check without any cache prints
    if change != "profiles folder":
        assert again != first


@pytest.mark.parametrize("options", [["--format", "json"], ["-q"], ["--allow-outside"]])
def test_each_option_has_its_own_output(project, capsys, monkeypatch, options):
    (project / "pilot.kls").write_text(SCRIPT.replace("@Ghost waves.", "Gulls cry."))   # clean
    run(capsys, "pilot.kls")
    seen = Counting(monkeypatch)
    with_options = run(capsys, *options, "pilot.kls")
    assert seen.calls == 1
    monkeypatch.setenv("KLINGSCRIPT_NO_CACHE", "1")
    assert with_options == run(capsys, *options, "pilot.kls")


def test_two_scripts_are_one_entry_and_a_missing_one_is_never_kept(project, capsys, monkeypatch):
    (project / "other.kls").write_text(SCRIPT.replace("Harbour", "Other"))
    both = run(capsys, "pilot.kls", "other.kls")
    seen = Counting(monkeypatch)
    assert run(capsys, "pilot.kls", "other.kls") == both and seen.calls == 0
    code = cli.main(["check", "pilot.kls", "missing.kls"])
    assert code == 2
    calls = seen.calls
    assert cli.main(["check", "pilot.kls", "missing.kls"]) == 2
    assert seen.calls == calls + 2       # checked again (one call a file), not replayed


def test_a_damaged_entry_is_a_miss(project, capsys, monkeypatch):
    first = run(capsys, "pilot.kls")
    entries = list((project.parent / "xdg" / "klingscript" / shown.NAMESPACE).iterdir())
    assert len(entries) == 1
    data = entries[0].read_bytes()
    entries[0].write_bytes(data[:-10] + b"x" * 10)       # not authentic any more
    seen = Counting(monkeypatch)
    assert run(capsys, "pilot.kls") == first and seen.calls == 1


def test_an_entry_of_another_shape_is_a_miss(project, capsys, monkeypatch):
    first = run(capsys, "pilot.kls")
    s = shown.S.store()
    where = shown._where(["pilot.kls"], ("check", "text", False, False), shown._keys(["pilot.kls"], False))
    for odd in ([1, 2], ("k",), ((((), ()),), b"out", 0), ((((), ()),), "out", "0"), None, "text"):
        s.put(shown.NAMESPACE, where, odd, shown.MAX_ENTRIES)
        assert shown.replay(["pilot.kls"], ("check", "text", False, False), False) is None
    assert run(capsys, "pilot.kls") == first


def test_no_entry_without_the_cache(project, capsys, monkeypatch):
    monkeypatch.setenv("KLINGSCRIPT_NO_CACHE", "1")
    run(capsys, "pilot.kls")
    assert not os.path.exists(project.parent / "xdg" / "klingscript" / shown.NAMESPACE)


def fresh(capsys, monkeypatch, *args):
    """What a check without any cache prints."""
    with monkeypatch.context() as m:
        m.setenv("KLINGSCRIPT_NO_CACHE", "1")
        return run(capsys, *args)


def test_a_use_file_refused_for_a_secret_is_read_again_once_the_secret_is_gone(project, capsys, monkeypatch):
    (project / "pilot.kls").write_text(SCRIPT.replace("@Ghost waves.", "Gulls cry.").replace(
        'first frame: "start.png"\n', ""))
    (project / "cast.kls").write_text(CAST + "# token abcdefghijkl\n")
    monkeypatch.setenv("KLING_API_KEY", "abcdefghijkl")
    refused = run(capsys, "pilot.kls")
    assert refused[0] == 1 and "holds the value of KLING_API_KEY" in refused[1]
    monkeypatch.delenv("KLING_API_KEY")
    again = run(capsys, "pilot.kls")
    assert again == fresh(capsys, monkeypatch, "pilot.kls") and "holds the value" not in again[1]


def test_a_mended_symlink_loop_is_read_again(project, capsys, monkeypatch):
    # No missing image: its signature (the folder's listing) would change with the mending.
    (project / "pilot.kls").write_text(SCRIPT.replace('first frame: "start.png"\n', ""))
    (project / "cast.kls").unlink()
    os.symlink("loop", project / "cast.kls")
    os.symlink("cast.kls", project / "loop")
    looped = run(capsys, "pilot.kls")
    assert "loops back on itself" in looped[1]
    (project / "cast.kls").unlink()
    (project / "loop").unlink()
    (project / "cast.kls").write_text(CAST)
    assert run(capsys, "pilot.kls") == fresh(capsys, monkeypatch, "pilot.kls") != looped


def test_a_use_file_that_a_link_now_leads_outside_the_project_is_checked_again(project, capsys, monkeypatch):
    (project / "lib").mkdir()
    os.replace(project / "cast.kls", project / "lib" / "cast.kls")
    (project / "pilot.kls").write_text(SCRIPT.replace('use "cast.kls"', 'use "lib/cast.kls"'))
    inside = run(capsys, "pilot.kls")
    assert "KLS502" not in inside[1]
    shared = project.parent / "shared"
    os.replace(project / "lib", shared)          # the same file, with the same times, now outside
    os.symlink(shared, project / "lib")
    outside = run(capsys, "pilot.kls")
    assert "KLS502" in outside[1] and outside == fresh(capsys, monkeypatch, "pilot.kls")

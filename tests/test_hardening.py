"""Issue 12's command-line and render-folder hardening: no option prefixes, checked --api-base
values (no credentials in them), Ctrl-C's exit code, and one render per folder (a lock)."""

from __future__ import annotations

import asyncio
import fcntl
import os
from pathlib import Path

import pytest

from runtime_support import build_plan, fast_retry, text_script  # noqa: E402

from klingscript import cli
from klingscript.runtime import ledger as L
from klingscript.runtime.progress import Quiet
from klingscript.runtime.render import (LOCK_FILE, FolderBusy, Options, lock_folder, prepare_folder,
                                        render_plan, unlock_folder)
from klingscript.runtime.simulator import Simulator


@pytest.fixture
def film(tmp_path):
    path = tmp_path / "film.kls"
    path.write_text(text_script(1, 3), encoding="utf-8")
    return path


def usage_error(capsys, *argv) -> str:
    with pytest.raises(SystemExit) as e:
        cli.main(list(map(str, argv)))
    assert e.value.code == 2, argv
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return err


# -- item 10: no silent abbreviations ----------------------------------------------------------

@pytest.mark.parametrize("argv", [
    ["render", "{film}", "--api-ba", "http://127.0.0.1:9"],   # was read as --api-base
    ["render", "{film}", "--max-cred", "5"],                  # was read as --max-credits
    ["check", "--form", "json", "{film}"],                    # was read as --format
    ["--vers"],                                               # was read as --version
])
def test_prefixes_of_long_options_are_usage_errors(capsys, film, argv):
    err = usage_error(capsys, *[a.format(film=film) for a in argv])
    assert "unrecognized arguments" in err


def test_every_parser_refuses_prefixes():
    parser = cli.build_parser()
    subs = [a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction"]
    assert parser.allow_abbrev is False
    assert subs and all(sp.allow_abbrev is False for sp in subs[0].choices.values())


# -- item 9: Ctrl-C ------------------------------------------------------------------------------

def test_ctrl_c_exits_130_and_is_documented(monkeypatch, capsys, film):
    import klingscript.commands.check as check

    def interrupted(args):
        raise KeyboardInterrupt
    monkeypatch.setattr(check, "run", interrupted)
    assert cli.main(["check", str(film)]) == 130
    assert capsys.readouterr().err == "klingc: interrupted\n"
    assert "130" in cli.__doc__
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    assert "**130**" in readme


# -- items 6 and 4: --api-base ------------------------------------------------------------------

@pytest.mark.parametrize("command", ["render", "voices"])
@pytest.mark.parametrize("url, says", [
    ("http://[::1", "Invalid IPv6 URL"),
    ("api.example.com", "does not start with http:// or https://"),
    ("ht!tp://%%%", "does not start with http:// or https://"),
    ("ftp://example.com", "does not start with http:// or https://"),
    ("http://", "has no valid host name"),
    ("http://%%%/", "has no valid host name"),
    ("http://example.com:port", "Port could not be cast"),
])
def test_bad_api_base_is_a_usage_error_at_once(capsys, monkeypatch, film, command, url, says):
    monkeypatch.setenv("KLING_API_KEY", "test-api-key-0123456789")
    argv = ["render", film, "--api-base", url] if command == "render" else ["voices", "--api-base", url]
    err = usage_error(capsys, *argv)
    assert "--api-base: not a usable API base URL" in err and says in err


@pytest.mark.parametrize("url", ["http://user:secret@127.0.0.1:9", "https://:secret@example.com/v1",
                                 "http://secret@example.com"])
def test_credentials_in_the_api_base_are_refused_before_anything_is_stored(capsys, monkeypatch, tmp_path,
                                                                           film, url):
    monkeypatch.setenv("KLING_API_KEY", "test-api-key-0123456789")
    out = tmp_path / "out"
    err = usage_error(capsys, "render", film, "-o", out, "--api-base", url)
    assert "user name or password" in err and "secret" not in err
    assert not out.exists()


@pytest.mark.parametrize("url", ["https://api-singapore.klingai.com", "http://127.0.0.1:8765/",
                                 "http://[::1]:8765", "http://localhost:8765/v1"])
def test_good_api_base_values_pass(url):
    from klingscript.commands._args import api_base_url

    assert api_base_url(url) == url


# -- item 7: one render per folder --------------------------------------------------------------

def snapshot(folder: Path) -> dict:
    return {p.relative_to(folder).as_posix(): (p.stat().st_mtime_ns, p.read_bytes() if p.is_file() else None)
            for p in sorted(folder.rglob("*"))}


def hold(folder: Path, pid: str = "4242"):
    """The folder's lock, as another render would hold it (flock: another open file conflicts)."""
    folder.mkdir(parents=True, exist_ok=True)
    fd = os.open(folder / LOCK_FILE, os.O_RDWR | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    os.ftruncate(fd, 0)
    os.write(fd, f"{pid}\n".encode())
    return fd


def test_a_second_render_on_a_locked_folder_names_the_holder_and_touches_nothing(capsys, tmp_path, film):
    out = tmp_path / "out"
    assert cli.main(["render", str(film), "-o", str(out), "--simulate", "--latency", "0.05",
                     "--poll-interval", "0.02", "--progress", "quiet"]) == 0
    assert (out / L.FILENAME).exists()
    capsys.readouterr()
    fd = hold(out)
    try:
        before = snapshot(out)
        code = cli.main(["render", str(film), "-o", str(out), "--simulate", "--latency", "0.05",
                         "--poll-interval", "0.02", "--progress", "quiet", "--retake", "1"])
        err = capsys.readouterr().err
        assert code == 2, err
        assert "process 4242 is already rendering into this folder" in err
        assert snapshot(out) == before
    finally:
        os.close(fd)
    # Once the holder is gone, the folder renders again (the lock file left behind is no obstacle).
    assert cli.main(["render", str(film), "-o", str(out), "--simulate", "--latency", "0.05",
                     "--poll-interval", "0.02", "--progress", "quiet"]) == 0


def test_the_lock_is_held_for_the_renders_life_and_released_after(tmp_path, film):
    plan, script_dir, root = build_plan(film)
    out = tmp_path / "out"
    seen = []

    class Watch(Quiet):
        def state(self, key, label, state, detail=""):
            try:
                unlock_folder(lock_folder(out))
                seen.append("free")
            except FolderBusy as e:
                seen.append(str(e))

    with Simulator(access_key="a", secret_key="s" * 32, latency=0.05) as sim:
        from klingscript.runtime.client import Credentials

        opts = Options(output=out, api_base=sim.url, poll_interval=0.02, retry=fast_retry(), root=root)
        result = asyncio.run(render_plan(plan, script_dir, Credentials("a", "s" * 32), opts, Watch()))
    assert result.code == 0, result.message
    assert seen and all(s.startswith(f"process {os.getpid()} is already rendering") for s in seen)
    unlock_folder(lock_folder(out))       # released at the end


def test_a_folder_left_with_only_its_lock_file_is_still_a_render_folder(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / LOCK_FILE).write_text("99\n")
    prepare_folder(out)                   # a render killed before its ledger was made
    (out / "other.txt").write_text("x")
    with pytest.raises(OSError, match="not a klingc render folder"):
        prepare_folder(out)


def hold_in_another_process(folder: Path):
    """The folder's lock held by another process, as a render there holds it: (process, pid)."""
    import subprocess
    import sys

    code = ("import fcntl, os, sys\n"
            f"fd = os.open({str(folder / LOCK_FILE)!r}, os.O_RDWR | os.O_CREAT)\n"
            "fcntl.flock(fd, fcntl.LOCK_EX)\n"
            "os.ftruncate(fd, 0); os.write(fd, b'%d\\n' % os.getpid())\n"
            "print('held', flush=True); sys.stdin.read()\n")
    proc = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline() == "held\n"
    return proc


def test_pick_review_export_and_render_refuse_a_folder_another_process_renders_into(capsys, tmp_path, film):
    out = tmp_path / "out"
    fast = ["--simulate", "--latency", "0.05", "--poll-interval", "0.02", "--progress", "quiet"]
    assert cli.main(["render", str(film), "-o", str(out), *fast]) == 0
    capsys.readouterr()
    proc = hold_in_another_process(out)
    try:
        before = snapshot(out)
        runs = {
            "render": (["render", str(film), "-o", str(out), *fast, "--retake", "1"],
                       "is already rendering into this folder"),
            "pick": (["pick", str(out), "1", "1"], "pick the take when it has finished"),
            "review": (["review", str(film), "-o", str(out)], "write the review page when it has finished"),
            "export": (["export", str(out), "--otio", str(tmp_path / "film.otio")],
                       "export the film when it has finished"),
        }
        for name, (argv, says) in runs.items():
            code = cli.main(argv)
            err = capsys.readouterr().err
            assert code == 2, (name, err)
            assert f"process {proc.pid} " in err and says in err, (name, err)
            assert snapshot(out) == before, name
        assert not (tmp_path / "film.otio").exists()
    finally:
        proc.stdin.close()
        proc.wait(timeout=10)
    # Free again: each works, and a pick holds the lock while it picks.
    assert cli.main(["pick", str(out), "1", "1"]) == 0
    assert cli.main(["export", str(out), "--otio", str(tmp_path / "film.otio")]) == 0
    assert cli.main(["review", str(film), "-o", str(out)]) == 0


def test_a_render_is_refused_while_a_pick_holds_the_folder(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    fd = lock_folder(out, "pick")
    try:
        with pytest.raises(FolderBusy, match=rf"process {os.getpid()} \(klingc pick\) is using this folder"):
            lock_folder(out)
    finally:
        unlock_folder(fd)


@pytest.mark.parametrize("kind", ["symlink", "fifo"])
def test_a_lock_file_that_is_not_a_regular_file_is_refused_never_followed_or_waited_on(
        capsys, tmp_path, film, kind):
    """A render folder from elsewhere may hold anything as render.lock: a symbolic link to a file
    of the user's is never written through, and a FIFO is never waited on (exit 2, said why)."""
    out = tmp_path / "out"
    fast = ["--simulate", "--latency", "0.05", "--poll-interval", "0.02", "--progress", "quiet"]
    assert cli.main(["render", str(film), "-o", str(out), *fast]) == 0
    capsys.readouterr()
    victim = tmp_path / "victim.txt"
    victim.write_text("precious data")
    (out / LOCK_FILE).unlink()
    if kind == "symlink":
        os.symlink(victim, out / LOCK_FILE)
    else:
        os.mkfifo(out / LOCK_FILE)
    runs = {"render": ["render", str(film), "-o", str(out), *fast, "--retake", "1"],
            "pick": ["pick", str(out), "1", "1"],
            "review": ["review", str(film), "-o", str(out)],
            "export": ["export", str(out), "--otio", str(tmp_path / "film.otio")]}
    for name, argv in runs.items():
        code = cli.main(argv)      # a FIFO opened for reading without O_NONBLOCK would hang here
        err = capsys.readouterr().err
        assert code == 2, (name, err)
        assert LOCK_FILE in err and "remove it" in err, (name, err)
    assert victim.read_text() == "precious data"
    assert not (tmp_path / "film.otio").exists()

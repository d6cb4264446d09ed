"""The console script's entry point (``cli.entry``, also ``python -m klingscript``): main's
exit code and every byte of its output, atexit handlers run, and no interpreter teardown
unless another thread is still running."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from klingscript import cli

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "sitcom_coffee_shop.kls"

# A module-level object whose finalizer says when the interpreter is torn down, and an
# atexit handler; then the entry point, as the console script calls it.
PROGRAM = """\
import atexit, os, sys, threading
from klingscript import cli

class Teardown:
    def __del__(self):
        os.write(2, b"<teardown>")

teardown = Teardown()
atexit.register(lambda: os.write(2, b"<atexit>"))
if sys.argv[1] == "thread":
    done = threading.Event()
    threading.Thread(target=done.wait, args=(5,), daemon=True).start()
sys.argv = ["klingc", *sys.argv[2:]]
cli.entry()
"""


def run(*args: str, mode: str = "plain") -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}   # stdout block-buffered
    return subprocess.run([sys.executable, "-c", PROGRAM, mode, *args], capture_output=True, cwd=ROOT, env=env)


def test_the_entry_point_prints_what_main_prints_and_exits_with_its_code(capsys):
    code = cli.main(["check", str(EXAMPLE)])   # in-process, main returns
    out, err = capsys.readouterr()
    r = run("check", str(EXAMPLE))
    assert r.returncode == code == 0
    assert r.stdout.decode() == out   # through a pipe: block-buffered, flushed before leaving
    assert r.stderr.decode() == err + "<atexit>"


def test_the_entry_point_skips_the_teardown_but_not_atexit():
    r = run("check", "no-such-file.kls")
    assert r.returncode == 2
    assert r.stderr.endswith(b"<atexit>")
    assert b"<teardown>" not in r.stderr


def test_with_another_thread_running_the_interpreter_exits_as_usual():
    r = run("check", str(EXAMPLE), mode="thread")
    assert r.returncode == 0
    assert b"<atexit>" in r.stderr and b"<teardown>" in r.stderr


def test_python_dash_m_uses_the_entry_point():
    r = subprocess.run([sys.executable, "-m", "klingscript", "check", "no-such-file.kls"],
                       capture_output=True, cwd=ROOT)
    assert r.returncode == 2
    assert r.stderr == b"klingc: no-such-file.kls: no such file\n"

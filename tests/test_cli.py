"""klingc as a user runs it: a fresh process, real files, exit codes and output shape."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap

import pytest

from conftest import EXAMPLES, klingc_command

CLEAN = textwrap.dedent('''\
    title: Clean
    character Ana:
        description: "woman with a red umbrella"
    scene "Rain" (4s):
        @Ana opens her umbrella.
    ''')

# Two errors on different lines: an undeclared name and an unclosed string.
BROKEN = textwrap.dedent('''\
    character Ana:
        description: "woman with a red umbrella"
    scene "Rain" (4s):
        @Anna opens her umbrella.
        @Ana: "It never stops
    ''')

HEADER = re.compile(r"^(?P<file>[^:\n]+):(?P<line>\d+):(?P<col>\d+): "
                    r"(?P<sev>error|warning|note)\[(?P<code>KLS\d{3})\]: (?P<msg>.+)$", re.M)
JSON_KEYS = {"file", "line", "column", "end_line", "end_column", "severity", "code", "message", "help"}


@pytest.fixture
def project(tmp_path):
    (tmp_path / "clean.kls").write_text(CLEAN, encoding="utf-8")
    (tmp_path / "broken.kls").write_text(BROKEN, encoding="utf-8")
    return tmp_path


def no_traceback(r):
    assert "Traceback" not in r.stderr and "Traceback" not in r.stdout


# -- check ---------------------------------------------------------------------

def test_check_clean_file_exits_0(project, klingc):
    r = klingc("check", "clean.kls", cwd=project)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "error" not in r.stdout
    no_traceback(r)


def test_check_text_output(project, klingc):
    r = klingc("check", "broken.kls", cwd=project)
    assert r.returncode == 1
    headers = [m.groupdict() for m in HEADER.finditer(r.stdout)]
    assert {h["code"] for h in headers} >= {"KLS201", "KLS102"}
    assert all(h["file"] == "broken.kls" for h in headers)
    undeclared = next(h for h in headers if h["code"] == "KLS201")
    assert (undeclared["line"], undeclared["col"]) == ("4", "5")
    # Each diagnostic has a code frame: the source line and carets under the span.
    assert "4 |     @Anna opens her umbrella." in r.stdout
    assert "  |     ^^^^^" in r.stdout
    assert "= help: did you mean @Ana?" in r.stdout
    # A closing summary line counts what was found.
    assert re.search(r"^\d+ errors?", r.stdout.splitlines()[-1])
    no_traceback(r)


def test_check_json_output(project, klingc):
    r = klingc("check", "--format", "json", "broken.kls", cwd=project)
    assert r.returncode == 1
    diags = json.loads(r.stdout)
    assert isinstance(diags, list) and len(diags) >= 2
    for d in diags:
        assert JSON_KEYS <= d.keys()
        assert d["line"] >= 1 and d["column"] >= 1
        assert (d["end_line"], d["end_column"]) >= (d["line"], d["column"])
        assert d["severity"] in ("error", "warning", "note")
        assert re.fullmatch(r"KLS\d{3}", d["code"])
    undeclared = next(d for d in diags if d["code"] == "KLS201")
    assert (undeclared["file"], undeclared["line"], undeclared["column"], undeclared["end_column"]) == \
        ("broken.kls", 4, 5, 10)
    assert "@Ana" in undeclared["help"]


def test_check_json_clean_is_empty_list(project, klingc):
    r = klingc("check", "--format", "json", "clean.kls", cwd=project)
    assert r.returncode == 0
    assert [d for d in json.loads(r.stdout) if d["severity"] != "note"] == []


def test_check_several_files(project, klingc):
    r = klingc("check", "clean.kls", "broken.kls", cwd=project)
    assert r.returncode == 1
    files = {m.group("file") for m in HEADER.finditer(r.stdout)}
    assert files == {"broken.kls"}
    r = klingc("check", "--format", "json", "clean.kls", "clean.kls", cwd=project)
    assert r.returncode == 0


def _cost_total(klingc, cwd, *files) -> str:
    """`klingc cost`'s total line, without its `total: ` (the figures the success line gives)."""
    r = klingc("cost", *files, cwd=cwd, env={"NO_COLOR": "1"})
    assert r.returncode == 0, r.stdout + r.stderr
    return r.stdout.splitlines()[-1].split(": ", 1)[1]


def test_check_says_what_a_clean_script_makes(project, klingc):
    # One line: scenes, jobs, seconds and the estimated cost, the same with the cache off, cold,
    # warm (the whole-file shortcut) and after an edit (scene results kept and made).
    total = _cost_total(klingc, project, "clean.kls")
    assert total == "1 job, 4s, 3.6 units ($0.50), ~36 credits (estimate)"
    want = f"clean.kls: ok, 1 scene, {total}\n"
    assert klingc("check", "clean.kls", cwd=project, env={"KLINGSCRIPT_NO_CACHE": "1"}).stdout == want
    cache = {"XDG_CACHE_HOME": str(project / "cache"), "KLINGSCRIPT_NO_CACHE": None}
    assert klingc("check", "clean.kls", cwd=project, env=cache).stdout == want
    assert klingc("check", "clean.kls", cwd=project, env=cache).stdout == want
    (project / "clean.kls").write_text(CLEAN + 'scene "Sun" (12s):\n    @Ana closes it.\n', encoding="utf-8")
    want = "clean.kls: ok, 2 scenes, " + _cost_total(klingc, project, "clean.kls").replace("1 job", "2 jobs") + "\n"
    for env in (cache, {"KLINGSCRIPT_NO_CACHE": "1"}):
        assert klingc("check", "clean.kls", cwd=project, env=env).stdout == want


def test_check_success_line_quiet_json_and_errors(project, klingc):
    assert klingc("check", "-q", "clean.kls", cwd=project).stdout == ""
    assert klingc("check", "--quiet", "clean.kls", "clean.kls", cwd=project).stdout == ""
    r = klingc("check", "--format", "json", "clean.kls", cwd=project)
    assert json.loads(r.stdout) == []
    r = klingc("check", "clean.kls", "clean.kls", cwd=project)
    assert r.stdout.count("clean.kls: ok, 1 scene, 1 job") == 2
    # A run with an error (in any file) says no success.
    r = klingc("check", "clean.kls", "broken.kls", cwd=project)
    assert ": ok," not in r.stdout
    (project / "cast.kls").write_text(CLEAN.split("scene")[0], encoding="utf-8")
    assert klingc("check", "cast.kls", cwd=project).stdout == "cast.kls: ok, 0 scenes\n"


@pytest.mark.parametrize("target", ["missing.kls", "."])
def test_unreadable_file_exits_2(project, klingc, target):
    r = klingc("check", target, cwd=project)
    assert r.returncode == 2
    assert r.stderr.startswith("klingc: ")
    no_traceback(r)


def test_unreadable_file_does_not_hide_the_others(project, klingc):
    r = klingc("check", "missing.kls", "broken.kls", cwd=project)
    assert r.returncode == 2
    assert "missing.kls" in r.stderr
    assert "KLS201" in r.stdout


@pytest.mark.parametrize("data", [b"", b"\x00\x01\x02\xff\xfe binary", b"scene \"x", b"\xff\xfe\xfa not utf-8\n",
                                  "\ufefftitle: BOM\r\nscene \"A\" (3s):\r\n    A man waits.\r\n".encode()])
def test_odd_input_never_crashes(tmp_path, klingc, data):
    (tmp_path / "odd.kls").write_bytes(data)
    for fmt in ("text", "json"):
        r = klingc("check", "--format", fmt, "odd.kls", cwd=tmp_path)
        assert r.returncode in (0, 1), r.stderr
        no_traceback(r)
        if fmt == "json":
            json.loads(r.stdout)


@pytest.mark.parametrize("args", [
    ["check"],                                  # no file
    ["check", "--format", "xml", "clean.kls"],  # bad option value
    ["check", "--nope", "clean.kls"],           # unknown option
    ["frobnicate", "clean.kls"],                # unknown command
    [],                                         # no command at all
])
def test_usage_errors_exit_2(project, klingc, args):
    r = klingc(*args, cwd=project)
    assert r.returncode == 2, (args, r.stdout, r.stderr)
    no_traceback(r)
    assert r.stderr.strip() or r.stdout.strip()


def test_unknown_command_names_the_known_ones(project, klingc):
    r = klingc("frobnicate", cwd=project)
    assert r.returncode == 2
    assert "frobnicate" in r.stderr
    assert "check" in r.stderr


def test_version_and_help(klingc):
    r = klingc("--version")
    assert r.returncode == 0 and r.stdout.startswith("klingc ")
    r = klingc("--help")
    assert r.returncode == 0
    for name in ("check", "fmt", "explain"):
        assert name in r.stdout


def test_python_dash_m(project):
    r = subprocess.run([sys.executable, "-m", "klingscript", "check", "broken.kls"], cwd=project,
                       capture_output=True, text=True, encoding="utf-8")
    assert r.returncode == 1
    assert "KLS201" in r.stdout


# -- colour ---------------------------------------------------------------------

def test_no_colour_when_not_a_terminal(project, klingc):
    r = klingc("check", "broken.kls", cwd=project)
    assert "\x1b[" not in r.stdout


def _run_on_terminal(args, cwd, env_extra) -> str:
    """Run klingc with stdout on a pseudo-terminal and return what it wrote."""
    pty = pytest.importorskip("pty")
    master, slave = pty.openpty()
    env = dict(os.environ)
    env.pop("NO_COLOR", None)
    env.update(env_extra)
    try:
        proc = subprocess.Popen([*klingc_command(), *args], cwd=cwd, env=env, stdout=slave,
                                stderr=subprocess.PIPE)
        os.close(slave)
        chunks = []
        while True:
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not data:
                break
            chunks.append(data)
        proc.wait(timeout=60)
    finally:
        os.close(master)
    return b"".join(chunks).decode("utf-8", "replace")


@pytest.mark.skipif(sys.platform == "win32", reason="needs a pseudo-terminal")
def test_colour_on_a_terminal_unless_no_color(project):
    coloured = _run_on_terminal(["check", "broken.kls"], project, {})
    assert "\x1b[" in coloured
    plain = _run_on_terminal(["check", "broken.kls"], project, {"NO_COLOR": "1"})
    assert "KLS201" in plain
    assert "\x1b[" not in plain


# -- explain --------------------------------------------------------------------

def test_explain_a_code(klingc):
    r = klingc("explain", "KLS201")
    assert r.returncode == 0, r.stderr
    assert "KLS201" in r.stdout
    assert len(r.stdout.splitlines()) > 3
    assert klingc("explain", "kls201").stdout == r.stdout


def test_explain_every_registered_code(klingc):
    from klingscript.diagnostics.codes import CODES
    listing = klingc("explain")
    assert listing.returncode == 0
    for code in CODES:
        assert code in listing.stdout
        r = klingc("explain", code)
        assert r.returncode == 0, (code, r.stderr)
        assert r.stdout.strip()


def test_explain_unknown_code_exits_2(klingc):
    r = klingc("explain", "KLS999")
    assert r.returncode == 2
    assert "KLS999" in r.stderr
    no_traceback(r)


# -- paths outside the project ----------------------------------------------------

def test_allow_outside(tmp_path, klingc):
    (tmp_path / "cast.kls").write_text('character Ana:\n    description: "woman with a red umbrella"\n',
                                       encoding="utf-8")
    proj = tmp_path / "film"
    proj.mkdir()
    (proj / "film.kls").write_text('use "../cast.kls"\n\nscene "Rain" (4s):\n    @Ana opens her umbrella.\n',
                                   encoding="utf-8")
    r = klingc("check", "--format", "json", "film.kls", cwd=proj)
    assert r.returncode == 1
    codes = [d["code"] for d in json.loads(r.stdout)]
    assert "KLS502" in codes
    assert "--allow-outside" in next(d["help"] for d in json.loads(r.stdout) if d["code"] == "KLS502")
    r = klingc("check", "--allow-outside", "film.kls", cwd=proj)
    assert r.returncode == 0, r.stdout

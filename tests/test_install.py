"""A real (non-editable) install works: `pip install .` into a fresh venv, then
klingc run from another folder on a copy of an example, with its images.

This proves the wheel carries everything klingc needs at run time: the
grammar, the data files (profiles, rates, explain pages) and the console
script. It installs the dependencies from the package index (pip's cache
makes reruns quick); set KLINGSCRIPT_SKIP_INSTALL_TEST=1 to skip it offline.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

import pytest

from conftest import EXAMPLES, REPO

pytestmark = [
    pytest.mark.skipif(bool(os.environ.get("KLINGSCRIPT_SKIP_INSTALL_TEST")),
                       reason="KLINGSCRIPT_SKIP_INSTALL_TEST is set (e.g. offline)"),
]


def _bin(env_dir: Path, name: str) -> Path:
    return env_dir / ("Scripts" if sys.platform == "win32" else "bin") / name


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """A fresh venv with klingscript installed from the source tree (not editable)."""
    env_dir = tmp_path_factory.mktemp("install") / "venv"
    venv.EnvBuilder(with_pip=True, system_site_packages=False, clear=True).create(env_dir)
    # Build from a copy of the tree so that the install cannot lean on files that only
    # the working copy has (and never writes build files into it).
    src = tmp_path_factory.mktemp("src") / "klingscript"
    shutil.copytree(REPO, src, ignore=shutil.ignore_patterns(
        ".venv", ".git", "build", "dist", "__pycache__", "*.egg-info", ".pytest_cache", ".hypothesis",
        "bench"))
    r = subprocess.run([str(_bin(env_dir, "python")), "-m", "pip", "install", "--quiet", str(src)],
                       capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stdout + r.stderr
    shutil.rmtree(src)
    return env_dir


def _env() -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "NO_COLOR", "VIRTUAL_ENV")}
    return env


def _run(installed: Path, args, cwd: Path):
    return subprocess.run([str(_bin(installed, "klingc")), *args], cwd=cwd, env=_env(),
                          capture_output=True, text=True, encoding="utf-8", timeout=120)


def test_installed_package_is_not_the_source_tree(installed, tmp_path):
    r = subprocess.run([str(_bin(installed, "python")), "-c",
                        "import klingscript, klingscript.resources as r; "
                        "print(klingscript.__file__); print(r.grammar_path())"],
                       cwd=tmp_path, env=_env(), capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    module, grammar = r.stdout.splitlines()
    assert Path(module).resolve().is_relative_to(installed.resolve())
    assert Path(grammar).resolve().is_relative_to(installed.resolve())


def test_installed_klingc_checks_an_example(installed, tmp_path):
    proj = tmp_path / "my film"
    proj.mkdir()
    shutil.copy(EXAMPLES / "fantasy_hero.kls", proj)
    shutil.copytree(EXAMPLES / "refs", proj / "refs")
    r = _run(installed, ["check", "fantasy_hero.kls"], proj)
    assert r.returncode == 0, r.stdout + r.stderr
    # The image checks run on the copied images: break one and the installed klingc notices.
    (proj / "refs" / "hero_left.png").write_bytes(b"not an image")
    r = _run(installed, ["check", "--format", "json", "fantasy_hero.kls"], proj)
    assert r.returncode == 1
    bad = [d for d in json.loads(r.stdout) if d["code"] == "KLS501"]
    line = next(i for i, text in enumerate((proj / "fantasy_hero.kls").read_text(encoding="utf-8")
                                           .splitlines(), 1) if "hero_left.png" in text and "images" in text)
    assert [(d["file"], d["line"]) for d in bad] == [("fantasy_hero.kls", line)]


def test_installed_klingc_checks_the_series(installed, tmp_path):
    shutil.copytree(EXAMPLES / "series", tmp_path / "series")
    r = _run(installed, ["check", "episode1.kls", "episode2.kls", "cast.kls"], tmp_path / "series")
    assert r.returncode == 0, r.stdout + r.stderr


def test_installed_klingc_reports_errors_and_explains(installed, tmp_path):
    (tmp_path / "typo.kls").write_text('character Ana:\n    description: "a woman"\n'
                                       'scene "Rain" (4s):\n    @Anna waits.\n', encoding="utf-8")
    r = _run(installed, ["check", "typo.kls"], tmp_path)
    assert r.returncode == 1
    assert "typo.kls:4:5: error[KLS201]" in r.stdout
    r = _run(installed, ["explain"], tmp_path)
    assert r.returncode == 0 and "KLS201" in r.stdout
    r = _run(installed, ["explain", "KLS201"], tmp_path)
    assert r.returncode == 0, r.stderr

"""Shared test fixtures.

- ``--update-golden``: rewrite golden files with the current output instead of
  comparing against them (``pytest --update-golden``); the ``golden`` fixture
  does the comparing or the rewriting.
- ``shared_dir``: the reference material in ``../shared`` next to the
  repository (spec, corpus); tests that use it skip when it is absent, as in
  a user's clone.
- ``klingc``: run the command line as a user does, in a fresh process.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
TESTS = REPO / "tests"
EXAMPLES = REPO / "examples"


def pytest_configure(config):
    # The suite (and every klingc it starts) keeps its parse cache in a folder of
    # its own, never in the user's ~/.cache.
    import tempfile
    os.environ["XDG_CACHE_HOME"] = tempfile.mkdtemp(prefix="klingscript-test-cache-")


def pytest_addoption(parser):
    parser.addoption("--update-golden", action="store_true", default=False,
                     help="rewrite golden files with the current output instead of comparing")


@pytest.fixture
def update_golden(request) -> bool:
    return bool(request.config.getoption("--update-golden"))


@pytest.fixture
def golden(update_golden):
    """``golden(path, actual)``: compare ``actual`` with the golden file, or rewrite it.

    ``path`` is relative to ``tests/`` (or absolute). A missing golden file is
    a failure that says how to create it.
    """

    def check(path, actual: str) -> None:
        p = Path(path)
        if not p.is_absolute():
            p = TESTS / p
        if update_golden:
            p.parent.mkdir(parents=True, exist_ok=True)
            tmp = p.with_name(p.name + ".tmp")
            tmp.write_text(actual, encoding="utf-8", newline="\n")
            os.replace(tmp, p)
            return
        if not p.exists():
            pytest.fail(f"golden file {p.relative_to(REPO) if p.is_relative_to(REPO) else p} is missing; "
                        f"create it with `pytest --update-golden`")
        expected = p.read_text(encoding="utf-8")
        assert actual == expected, f"output differs from {p.name} (rewrite with `pytest --update-golden`)"

    return check


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """``../shared`` next to the repository; skips the test when it is absent."""
    path = REPO.parent / "shared"
    if not path.is_dir():
        pytest.skip("../shared is not present (reference material outside the repository)")
    return path


def klingc_command() -> list[str]:
    """How to start klingc: the installed console script next to this Python, else ``-m``."""
    script = Path(sys.executable).with_name("klingc")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "klingscript"]


def files_of(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder``, by its relative path: its bytes."""
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def feature_generator():
    """``bench/gen_feature.py``, the generator of the benchmark's feature-length script."""
    import importlib.util
    spec = importlib.util.spec_from_file_location("gen_feature", REPO / "bench" / "gen_feature.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def klingc():
    """Run ``klingc ARGS…`` in a fresh process: ``klingc("check", path, cwd=…, env=…)``.

    Returns the ``CompletedProcess`` (text mode; stdout and stderr captured).
    ``env`` entries are added to the current environment (a value of None removes one).
    """

    def run(*args, cwd=None, env=None, input=None, timeout=120):
        full_env = dict(os.environ)
        full_env.pop("NO_COLOR", None)
        for k, v in (env or {}).items():
            if v is None:
                full_env.pop(k, None)
            else:
                full_env[k] = v
        return subprocess.run([*klingc_command(), *map(str, args)], cwd=cwd, env=full_env,
                              input=input, capture_output=True, text=True, encoding="utf-8",
                              timeout=timeout)

    return run

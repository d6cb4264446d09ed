"""One small bad script per diagnostic code, with the exact text `klingc check` prints.

Each ``tests/diagnostics/KLSnnn-what.kls`` must produce diagnostic ``KLSnnn``,
and its whole rendering (run with the diagnostics folder as the working
directory, so paths are relative to it) must equal ``KLSnnn-what.expected``.
``pytest --update-golden`` rewrites the ``.expected`` files.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from klingscript.cli import main

DIAGNOSTICS = Path(__file__).resolve().parent / "diagnostics"
CASES = sorted(DIAGNOSTICS.glob("KLS*.kls"))
_HEADLINE = re.compile(r"^\S+:\d+:\d+: (error|warning|note)\[(KLS\d{3})\]: ", re.M)


def _check(name: str, monkeypatch, capsys) -> tuple[int, str]:
    monkeypatch.chdir(DIAGNOSTICS)
    monkeypatch.setenv("NO_COLOR", "1")
    capsys.readouterr()
    code = main(["check", name])
    return code, capsys.readouterr().out


def test_there_is_a_file_for_every_front_end_code():
    from klingscript.diagnostics.codes import CODES

    # Codes that need compiled prompts and jobs are the planner's; the rest are the front end's.
    planner = {"KLS302", "KLS305", "KLS306", "KLS308"}
    covered = {p.name[:6] for p in CASES}
    missing = sorted(set(CODES) - planner - covered)
    assert not missing, f"no bad file in tests/diagnostics for {', '.join(missing)}"


@pytest.mark.parametrize("case", CASES, ids=[p.stem for p in CASES])
def test_diagnostic_file(case: Path, monkeypatch, capsys, golden):
    code, out = _check(case.name, monkeypatch, capsys)
    wanted = case.name[:6]
    found = {m.group(2) for m in _HEADLINE.finditer(out)}
    assert wanted in found, f"{case.name} should produce {wanted}; it produced {sorted(found) or 'nothing'}:\n{out}"
    severities = {m.group(1) for m in _HEADLINE.finditer(out)}
    assert code == (1 if "error" in severities else 0)
    assert "Traceback" not in out
    golden(case.with_suffix(".expected"), out)

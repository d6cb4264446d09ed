"""Checks that need no compilation: settings, shots, durations, languages, elements, images."""

from __future__ import annotations

from ..diagnostics.model import Diagnostic
from ..project import Program


def run(program: Program) -> list[Diagnostic]:
    return []

"""Warnings and notes: KLS401, KLS402, KLS404."""

from __future__ import annotations

from ..diagnostics.model import Diagnostic
from ..project import Program


def run(program: Program) -> list[Diagnostic]:
    return []

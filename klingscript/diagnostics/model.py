"""The one diagnostic record that every pass produces and every renderer reads."""

from __future__ import annotations

from enum import Enum
from typing import NamedTuple, Optional

from ..syntax.ast import Span


class Severity(str, Enum):
    ERROR = "error"
    WARNING = "warning"
    NOTE = "note"


class Label(NamedTuple):
    """A secondary place the diagnostic points at ("first declared here")."""
    span: Span
    message: str


class Diagnostic(NamedTuple):
    code: str
    severity: Severity
    span: Span
    message: str
    labels: tuple[Label, ...] = ()
    help: Optional[str] = None

    def to_json(self) -> dict:
        s = self.span
        return {
            "file": s.file, "line": s.line, "column": s.column,
            "end_line": s.end_line, "end_column": s.end_column,
            "severity": self.severity.value, "code": self.code,
            "message": self.message, "help": self.help,
            "labels": [{"file": l.span.file, "line": l.span.line, "column": l.span.column,
                        "end_line": l.span.end_line, "end_column": l.span.end_column,
                        "message": l.message} for l in self.labels],
        }


_ORDER = {Severity.ERROR: 0, Severity.WARNING: 1, Severity.NOTE: 2}


def sort_key(d: Diagnostic):
    s = d.span
    return (s.file, s.line, s.column, _ORDER[d.severity], d.code, d.message)


def has_errors(diags) -> bool:
    return any(d.severity is Severity.ERROR for d in diags)

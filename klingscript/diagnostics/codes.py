"""The registry of diagnostic codes: every code, its severity and its summary.

Passes never choose a severity: they name a code and ``make`` looks it up,
so one table says how serious each problem is. The long explanation of each
code (``klingc explain CODE``) lives in ``klingscript/data/explain/CODE.md``.
"""

from __future__ import annotations

from typing import Iterable, NamedTuple, Optional

from ..syntax.ast import Span
from .model import Diagnostic, Label, Severity

E, W, N = Severity.ERROR, Severity.WARNING, Severity.NOTE


class Code(NamedTuple):
    code: str
    severity: Severity
    summary: str


CODES: dict[str, Code] = {c.code: c for c in (
    Code("KLS100", E, "syntax error"),
    Code("KLS101", E, "bad indentation (a tab, or a dedent to no enclosing level)"),
    Code("KLS102", E, "unterminated string"),
    Code("KLS103", E, "unknown setting or field"),
    Code("KLS104", E, "invalid setting value"),
    Code("KLS201", E, "reference to an undeclared element"),
    Code("KLS202", E, "element declared twice"),
    Code("KLS203", E, "reference to an element of the wrong kind"),
    Code("KLS204", E, "`use` file missing, unreadable, or part of a cycle"),
    Code("KLS301", E, "shot duration not whole seconds, or outside the model's range"),
    Code("KLS302", E, "a scene that no valid set of jobs can carry"),
    Code("KLS303", E, "shots not numbered 1, 2, 3... in order"),
    Code("KLS304", E, "a speech language the model does not speak"),
    Code("KLS305", E, "a prompt over the model's length limit"),
    Code("KLS306", E, "a job with more reference inputs than the model takes"),
    Code("KLS307", E, "element limits (images, description, voice, name), or a voice on what cannot carry one"),
    Code("KLS308", E, "a combination of inputs the model does not accept"),
    Code("KLS309", E, "continuity a scene cannot have (a chained first frame no set of jobs can carry)"),
    Code("KLS401", W, "dialogue that cannot be spoken in its shot's duration"),
    Code("KLS402", W, "a line's language does not match its script"),
    Code("KLS403", W, "an element declared but never used"),
    Code("KLS404", N, "a scene split into several jobs, or an inferred duration"),
    Code("KLS405", W, "a line shaped like dialogue without quotes (sent as action)"),
    Code("KLS406", W, "a `#` inside action text (sent to Kling, not a comment)"),
    Code("KLS407", N, "`negative:` sent in the prompt (the request has no negative prompt field)"),
    Code("KLS408", W, "an element name that is part of another, or that the prompt also uses as text"),
    Code("KLS410", W, "an element's description is still a placeholder (TODO:)"),
    Code("KLS411", W, "a speaker written without `@` who is a declared element (`Grace:` for @Grace)"),
    Code("KLS412", N, "a scene a few seconds over one job, made as two generations"),
    Code("KLS501", E, "image missing, unreadable, or outside the model's image limits"),
    Code("KLS502", E, "a path that leaves the project folder"),
    Code("KLS503", E, "voice sample missing, unreadable, or outside Kling's limits"),
)}


def make(code: str, span: Span, message: str, help: Optional[str] = None,
         labels: Iterable[Label] = ()) -> Diagnostic:
    """Build a diagnostic for a registered code (its severity comes from the registry)."""
    return Diagnostic(code, CODES[code].severity, span, message, tuple(labels), help)


def explain(code: str) -> Optional[str]:
    """The explain page for ``code``, or None for an unknown code."""
    code = code.upper()
    if code not in CODES:
        return None
    from ..resources import data_text
    return data_text("explain", f"{code}.md")

"""Renderers: gcc-style text with a code frame, and JSON."""

from __future__ import annotations

from typing import Callable, Iterable, Optional

from ..syntax.positions import split_lines
from ..terminal import use_colour  # noqa: F401  (the commands ask here)
from .model import Diagnostic, Severity

_COLOURS = {Severity.ERROR: "1;31", Severity.WARNING: "1;33", Severity.NOTE: "1;36"}


def _paint(text: str, code: str, colour: bool) -> str:
    return f"\x1b[{code}m{text}\x1b[0m" if colour else text


def render_text(diags: Iterable[Diagnostic], source_of: Callable[[str], Optional[str]],
                colour: bool = False) -> str:
    """Render diagnostics as text; ``source_of(file)`` returns a file's text (or None)."""
    lines_cache: dict[str, list[str]] = {}

    def source_lines(file: str) -> list[str]:
        if file not in lines_cache:
            text = source_of(file)
            lines_cache[file] = split_lines(text) if text is not None else []
        return lines_cache[file]

    out: list[str] = []
    heads = {sev: (_COLOURS[sev], sev.value) for sev in Severity}
    for d in diags:
        s = d.span
        col_code, word = heads[d.severity]
        sev = _paint(f"{word}[{d.code}]", col_code, colour)
        out.append(f"{s.file}:{s.line}:{s.column}: {sev}: {d.message}")
        # The gutter is as wide as the largest line number the frame shows, and the
        # `= note` and `= help` lines stand under its `|`.
        gutter = " " * len(str(s.line))
        out.extend(_frame(source_lines(s.file), s.line, s.column, s.end_line, s.end_column,
                          colour, col_code, gutter))
        for label in d.labels:
            ls = label.span
            out.append(f"{gutter} = note: {label.message} ({ls.file}:{ls.line}:{ls.column})")
        if d.help:
            head = f"{gutter} = help: "
            for i, h in enumerate(d.help.splitlines()):
                out.append((head if i == 0 else " " * len(head)) + h)
    return "\n".join(out) + ("\n" if out else "")


def _frame(lines: list[str], line: int, column: int, end_line: int, end_column: int,
           colour: bool, col_code: str, gutter: str) -> list[str]:
    if not (1 <= line <= len(lines)):
        return []
    text = lines[line - 1].replace("\t", " ")
    if end_line == line:
        length = max(1, end_column - column)
    else:
        length = max(1, len(text) - column + 1)
    length = min(length, max(1, len(text) - column + 1))
    caret = " " * (column - 1) + _paint("^" * length, col_code, colour)
    return [f"{gutter} |", f"{line} | {text}", f"{gutter} | {caret}"]


def render_json(diags: Iterable[Diagnostic]) -> str:
    import json

    return json.dumps([d.to_json() for d in diags], ensure_ascii=False, indent=2) + "\n"


def summary(diags) -> str:
    """``2 errors, 1 warning``."""
    counts = {s: 0 for s in Severity}
    for d in diags:
        counts[d.severity] += 1
    parts = []
    for sev, word in ((Severity.ERROR, "error"), (Severity.WARNING, "warning"), (Severity.NOTE, "note")):
        n = counts[sev]
        if n:
            parts.append(f"{n} {word}{'s' if n != 1 else ''}")
    return ", ".join(parts)

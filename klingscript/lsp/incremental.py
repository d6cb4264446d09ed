"""Keystroke-fast diagnostics for long scripts: re-check only the edited scene.

A full ``klingc check`` of a feature-length script takes longer than a
keystroke. Most edits happen inside one scene, and a scene's diagnostics
depend on the script's settings, its elements and its ``use`` files, but
not on the other scenes. So after an edit confined to one scene the server:

1. checks a copy of the new text in which every *other* scene is blanked out
   (each character replaced by a space, so every line, column and offset
   stays where it is) with the same ``compiler.check`` as ``klingc check``;
2. keeps that run's diagnostics inside the edited scene, and the previous
   full check's diagnostics everywhere else (moved by the lines the edit
   added or removed);
3. works out "declared but never used" (KLS403) from both: an element is
   unused when neither the edited scene nor any other scene refers to it.

The full check still runs shortly afterwards and its result replaces this
one, so any effect one scene has on another shows up within moments.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Optional

from ..syntax import ast as A, blocks
from ..syntax.shapes import SCENE_HEAD_RE
from ..diagnostics.model import Diagnostic, sort_key
from ..project import Program

if TYPE_CHECKING:
    from ..compiler import Compilation


@dataclass
class Base:
    """A full check: the text it read and what it found (``compiler.Compilation``)."""
    text: str
    compilation: "Compilation"

    @property
    def program(self) -> Program:
        return self.compilation.program

    @property
    def diagnostics(self) -> list[Diagnostic]:
        return self.compilation.diagnostics

    @property
    def plan(self):
        return self.compilation.plan

    def __post_init__(self):
        self.lines = self.text.split("\n")
        refs = sorted((ref.span.line, ref.name) for ref, decl in self.program.references if decl is not None)
        self._ref_lines = [line for line, _ in refs]
        self._ref_names = [name for _, name in refs]
        self._ref_total = Counter(self._ref_names)

    def names_used_outside(self, first: int, last: int) -> set[str]:
        """Names referred to (and declared) on lines outside ``first``..``last``."""
        lo, hi = bisect_left(self._ref_lines, first), bisect_right(self._ref_lines, last)
        inside = Counter(self._ref_names[lo:hi])
        return {n for n, c in self._ref_total.items() if c > inside.get(n, 0)}


def _is_scene(line: str) -> bool:
    return bool(SCENE_HEAD_RE.match(line))


def changed_scene(old: list[str], new: list[str]) -> Optional[tuple[int, int, int]]:
    """``(start, old_end, new_end)`` when every changed line lies in one scene, else None.

    Lines are 0-based; the scene is ``[start, old_end)`` in the old text and
    ``[start, new_end)`` in the new one.
    """
    n_old, n_new = len(old), len(new)
    a = 0
    while a < n_old and a < n_new and old[a] == new[a]:
        a += 1
    if a == n_old and a == n_new:
        return None
    b = 0
    while b < n_old - a and b < n_new - a and old[n_old - 1 - b] == new[n_new - 1 - b]:
        b += 1
    probe_new = min(a, n_new - 1)
    probe_old = min(a, n_old - 1)
    if probe_new < 0 or probe_old < 0:
        return None
    s_new, e_new = blocks.around(new, probe_new)
    s_old, e_old = blocks.around(old, probe_old)
    if s_new != s_old or s_new == 0:
        return None
    if not (_is_scene(new[s_new]) and _is_scene(old[s_old])):
        return None
    if e_new < n_new - b or e_old < n_old - b:
        return None  # the edit reaches into the next item
    if n_new - e_new != n_old - e_old:
        return None
    return s_new, e_old, e_new


def blank_other_scenes(text: str, lines: list[str], keep: tuple[int, int]) -> str:
    """``text`` with every scene outside ``keep`` turned into spaces (same lines and offsets).

    ``lines`` is ``text.split("\\n")``; ``keep`` is a 0-based [start, end) range of them.
    """
    offsets = [0]
    for line in lines:
        offsets.append(offsets[-1] + len(line) + 1)
    pieces = []
    pos = 0
    for first, last in blocks.ranges(lines):
        start = offsets[first]
        if first == keep[0] or not SCENE_HEAD_RE.match(text, start):
            continue
        end = offsets[last] - 1  # the newline before the next item stays
        pieces.append(text[pos:start])
        pieces.append("\n".join([" " * len(l) for l in text[start:end].split("\n")]))
        pos = end
    pieces.append(text[pos:])
    return "".join(pieces)


def _shift(span: A.Span, dl: int, do: int) -> A.Span:
    return A.Span(span.file, span.line + dl, span.column, span.end_line + dl, span.end_column,
                  span.start + do, span.end + do)


def _span_text(lines: list[str], span: A.Span) -> str:
    if 1 <= span.line <= len(lines):
        return lines[span.line - 1].lstrip("\ufeff")[span.column - 1: span.end_column - 1]
    return ""


def scene_local(base: Base, new_text: str, path: Path, overlays: dict, allow_outside: bool = False
                ) -> Optional[list[Diagnostic]]:
    """The diagnostics of ``new_text`` by re-checking only its edited scene, or None.

    None means the edit is not confined to one scene (or nothing changed): run
    the full check instead.
    """
    from ..compiler import check
    from ..project import Loader

    new_lines = new_text.split("\n")
    found = changed_scene(base.lines, new_lines)
    if found is None:
        return None
    start, old_end, new_end = found
    reduced = blank_other_scenes(new_text, new_lines, (start, new_end))
    checked = check(path, allow_outside=allow_outside, loader=Loader({**overlays, path: reduced}))
    program = checked.program
    main = program.main.display
    if base.program.main.display != main:
        return None

    first, last_new, last_old = start + 1, new_end, old_end  # 1-based, inclusive
    dl = len(new_lines) - len(base.lines)
    do = len(new_text) - len(base.text)

    out: list[Diagnostic] = []
    used_outside = base.names_used_outside(first, last_old)
    for d in checked.diagnostics:
        if d.span.file != main:
            continue
        if d.code == "KLS403":
            if _span_text(new_lines, d.span) not in used_outside:
                out.append(d)
        elif first <= d.span.line <= last_new:
            out.append(d)
    for d in base.diagnostics:
        if d.code == "KLS403" and d.span.file == main:
            continue
        if d.span.file == main and first <= d.span.line <= last_old:
            continue
        if d.span.file == main and d.span.line > last_old:
            d = d._replace(span=_shift(d.span, dl, do))
        if any(l.span.file == main and l.span.line > last_old for l in d.labels):
            d = d._replace(labels=tuple(
                l._replace(span=_shift(l.span, dl, do)) if l.span.file == main and l.span.line > last_old else l
                for l in d.labels))
        out.append(d)
    return sorted(set(out), key=sort_key)

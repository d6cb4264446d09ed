"""The canonical layout of a KlingScript file (``klingc fmt``).

One layout, so that two writers' scripts look alike and diffs show only real
changes:

- 4-space indents (a tab in the indentation becomes spaces: four, as the
  parser counts it, or, where that leaves the file unreadable, as far as an
  editor's tab stops of 8, 4 or 2 columns take it), LF line ends,
  no byte-order mark, one newline at the end of the file;
- exactly one blank line between top-level blocks; consecutive settings stay
  together, and so do consecutive ``use`` lines; one blank line between a
  scene's settings and its body; no other blank lines inside a block;
- normalised heads: ``Shot 3 (4s): text``, ``scene "Title" (10s) at @Place:``,
  ``key: value``, ``first frame: "…"``, ``images: "a.png", "b.png"``,
  ``@Name (tone, Korean): "…"``;
- strings re-quoted with the fewest escapes (curly quotes stay curly).

Comments stay where the writer put them. A comment line goes before the next
line of the script, at that line's depth, unless it was indented deeper than
that line: then it closes the block it was written in. A comment after a
string stays on its line, two spaces after the string. A blank line written
just before or after a top-level comment is kept, so a commented section
heading stays a heading.

The formatter never rewrites a file it cannot parse: ``format_source``
returns None when the file has syntax errors, and ``format_text`` also returns
those errors.
"""

from __future__ import annotations

import re
from typing import NamedTuple, Optional

from ..syntax import ast as A
from ..syntax.positions import line_starts, split_lines
from ..diagnostics.model import Diagnostic

INDENT = "    "
TAB_WIDTH = 4  # the parser counts a tab in the indentation as four spaces

# Diagnostics that mean the parser could not read the file as written.
SYNTAX_CODES = frozenset({"KLS100", "KLS101", "KLS102"})

_HEADER_COMMENT = re.compile(r"[ \t]*:[ \t]*(#[^\r\n]*?)[ \t]*$")


def format_source(text: str, path: str = "<input>") -> Optional[str]:
    """The canonical layout of ``text``, or None when it has syntax errors."""
    return format_text(text, path)[0]


def format_text(text: str, path: str = "<input>") -> tuple[Optional[str], list[Diagnostic]]:
    """The canonical layout of ``text`` and, when it cannot be formatted, why.

    Returns ``(formatted, [])`` or ``(None, syntax_diagnostics)``; the
    diagnostics' spans point into ``text`` as given.
    """
    from ..syntax.parser import parse

    first = None
    for expand in _TAB_READINGS if _INDENT_TAB.search(text) else _TAB_READINGS[:1]:
        clean, mapping = _prepare(text, expand)
        # The parser skips one BOM itself; give it the same start as the file.
        bom = "\ufeff" if text.startswith("\ufeff") else ""
        doc, diags = parse(bom + clean, path)
        errors = [d for d in diags if d.code in SYNTAX_CODES]
        if not errors:
            return _Formatter(doc, clean.split("\n")).run(), []
        if first is None:
            first = [mapping.diagnostic(d) for d in errors]
    return None, first


def quote(s: A.Str) -> str:
    """A string literal for ``s`` with the fewest escapes."""
    if s.curly:
        return "\u201c" + s.value + "\u201d"
    return '"' + escape(s.value) + '"'


def escape(value: str) -> str:
    """Escape ``value`` for a straight-quoted string.

    Only ``\\"`` and ``\\\\`` are escapes, so a backslash needs doubling only
    before a quote, before another backslash, or at the end of the string.
    """
    out = []
    n = len(value)
    for i, ch in enumerate(value):
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            nxt = value[i + 1] if i + 1 < n else ""
            out.append("\\\\" if nxt in ('"', "\\", "") else "\\")
        else:
            out.append(ch)
    return "".join(out)


def duration_text(d: A.Duration) -> str:
    return f"({d.seconds}s)" if d.seconds is not None else d.text


# ---------------------------------------------------------------------------
# Preparing the text: the parts of the layout the parser does not keep.

class _Mapping:
    """Maps positions in the prepared text back to the file as written."""

    def __init__(self, text: str, added: list[tuple[int, int]]):
        self.bom = text.startswith("\ufeff")
        self.starts = [0, 1 if self.bom else 0]  # index = 1-based line
        self.starts.extend(line_starts(text)[1:])
        self.added = added  # per line: (new indent width, original indent width)
        self.size = len(text)

    def point(self, line: int, column: int) -> tuple[int, int, int]:
        if 1 <= line <= len(self.added):
            new, old = self.added[line - 1]
            if new != old:
                column = column - (new - old) if column > new else min(column, old + 1)
        line = max(1, min(line, len(self.starts) - 1))
        offset = min(self.starts[line] + column - 1, self.size)
        return line, column, offset

    def span(self, s: A.Span) -> A.Span:
        line, col, start = self.point(s.line, s.column)
        end_line, end_col, end = self.point(s.end_line, s.end_column)
        return A.Span(s.file, line, col, end_line, end_col, start, max(start, end))

    def diagnostic(self, d: Diagnostic) -> Diagnostic:
        return d._replace(span=self.span(d.span),
                          labels=tuple(l._replace(span=self.span(l.span)) for l in d.labels))


def _fixed(width: int):
    """Each tab in an indentation is ``width`` spaces (as the parser counts it)."""
    return lambda lead: lead.replace("\t", " " * width)


def _stops(width: int):
    """A tab in an indentation goes to the next multiple of ``width`` (as an editor shows it)."""
    return lambda lead: lead.expandtabs(width)


# How a tab in the indentation is read, in order: first as the parser reads it (four
# spaces), so that a file `check` reads whole keeps its meaning; when that leaves the
# file unreadable (a tab that the writer's editor showed deeper or shallower than four
# spaces), as an editor's tab stops of 8, 4 and 2 columns. The first reading that
# parses without a syntax error is the one written (docs/decisions.md).
_TAB_READINGS = (_fixed(TAB_WIDTH), _stops(8), _stops(4), _stops(2))
_INDENT_TAB = re.compile(r"^[ ]*\t", re.M)


def _prepare(text: str, expand=_TAB_READINGS[0]) -> tuple[str, _Mapping]:
    """Drop one BOM, end every line (CRLF, CR or LF: ``positions.LINE_END``) with LF and turn
    tabs in the indentation into spaces (``expand``)."""
    body = text[1:] if text.startswith("\ufeff") else text
    if not body.endswith(("\n", "\r")):  # as the parser does: the last line is ended
        body += "\n"
    lines = split_lines(body)
    added: list[tuple[int, int]] = []
    for i, line in enumerate(lines):
        stripped = line.lstrip(" \t")
        lead = line[: len(line) - len(stripped)]
        if "\t" in lead:
            lead = expand(lead)
            lines[i] = lead + stripped
        added.append((len(lead), len(line) - len(stripped)))
    return "\n".join(lines), _Mapping(text, added)


# ---------------------------------------------------------------------------
# The layout


class _Entry(NamedTuple):
    line: int              # source line (1-based)
    depth: int             # nesting depth in the output
    cols: tuple[int, ...]  # source column of this line and of each enclosing head, by depth
    text: str
    blank: bool            # a blank line goes before it
    opener: bool           # a head that opens a block (its body may be empty)


class _Formatter:
    def __init__(self, doc: A.Document, lines: list[str]):
        self.doc = doc
        self.lines = lines  # the prepared source, index = line - 1
        self.entries: list[_Entry] = []

    # -- the tree, flattened into output lines --------------------------------
    def run(self) -> str:
        prev = None
        for item in self.doc.items:
            blank = prev is not None and not (
                type(prev) is type(item) and isinstance(item, (A.Setting, A.Use)))
            self.item(item, blank)
            prev = item
        return self.render()

    def add(self, span: A.Span, depth: int, cols: tuple[int, ...], text: str,
            blank: bool = False, opener: bool = False) -> tuple[int, ...]:
        cols = cols[:depth] + (span.column,)
        self.entries.append(_Entry(span.line, depth, cols, text, blank, opener))
        return cols

    def item(self, item, blank: bool) -> None:
        if isinstance(item, A.Setting):
            self.add(item.span, 0, (), setting_text(item), blank)
        elif isinstance(item, A.Use):
            self.add(item.span, 0, (), "use " + quote(item.path) + _trailing(item.comment), blank)
        elif isinstance(item, A.Element):
            head = f"{item.kind} {item.name}:" + self.header_comment(item.name_span)
            cols = self.add(item.span, 0, (), head, blank, opener=True)
            for f in item.fields:
                self.add(f.span, 1, cols, setting_text(f))
        elif isinstance(item, A.Scene):
            self.scene(item, blank)

    def scene(self, scene: A.Scene, blank: bool) -> None:
        head = "scene " + quote(scene.title)
        if scene.duration is not None:
            head += " " + duration_text(scene.duration)
        if scene.location is not None:
            head += " at @" + scene.location.name
        head += ":" + self.header_comment(scene.head_span)
        cols = self.add(scene.head_span, 0, (), head, blank, opener=True)
        for s in scene.settings:
            self.add(s.span, 1, cols, setting_text(s))
        body_blank = bool(scene.settings)
        for line in scene.preamble:
            self.line(line, 1, cols, body_blank)
            body_blank = False
        for shot in scene.shots:
            text = "Shot " + shot.number_text
            if shot.duration is not None:
                text += " " + duration_text(shot.duration)
            text += ":"
            if shot.text is not None and shot.text.value:
                text += " " + shot.text.value
            shot_cols = self.add(shot.head_span, 1, cols, text, body_blank, opener=True)
            body_blank = False
            for line in shot.lines:
                self.line(line, 2, shot_cols)

    def line(self, line, depth: int, cols: tuple[int, ...], blank: bool = False) -> None:
        text = line_text(line)
        if not text and isinstance(line, A.Action) and 1 <= line.span.line <= len(self.lines):
            # Prose of nothing but whitespace the lexer does not skip (a form feed, U+3000):
            # kept as written, or the next formatting would read the line as blank.
            text = self.lines[line.span.line - 1].strip(" \t")
        self.add(line.span, depth, cols, text, blank)

    def header_comment(self, span: A.Span) -> str:
        """A comment after the ``:`` of an element or scene head."""
        if not (1 <= span.end_line <= len(self.lines)):
            return ""
        rest = self.lines[span.end_line - 1][span.end_column - 1:]
        m = _HEADER_COMMENT.match(rest)
        return "  " + m.group(1) if m else ""

    # -- comments and blank lines ---------------------------------------------
    def render(self) -> str:
        comments = sorted(self.doc.comments, key=lambda c: c.span.line)
        out: list[str] = []
        ci = 0
        prev: Optional[_Entry] = None
        for entry in self.entries + [None]:
            limit = entry.line if entry is not None else float("inf")
            gap = []
            while ci < len(comments) and comments[ci].span.line < limit:
                gap.append(comments[ci])
                ci += 1
            blank = entry.blank if entry is not None else prev is not None
            if gap:
                blank = self.comments(gap, prev, entry, blank, out)
            if entry is not None:
                if blank and out:
                    out.append("")
                out.append(INDENT * entry.depth + entry.text)
            prev = entry
        return "\n".join(out) + "\n" if out else ""

    def comments(self, gap: list[A.Comment], prev: Optional[_Entry], nxt: Optional[_Entry],
                 blank: bool, out: list[str]) -> bool:
        """Emit the comment lines between ``prev`` and ``nxt``; whether a blank line goes before ``nxt``."""
        low = nxt.depth if nxt is not None else 0
        if prev is None:
            high, cols = low, (nxt.cols if nxt is not None else (1,))
        else:
            high = prev.depth + 1 if prev.opener else prev.depth
            cols = prev.cols + ((prev.cols[-1] + 1,) if prev.opener else ())
        depth = high
        for c in gap:
            # The deepest open block whose lines start at or before the comment.
            chosen = low
            for k in range(min(depth, high), low - 1, -1):
                if k < len(cols) and cols[k] <= c.span.column:
                    chosen = k
                    break
            depth = chosen
            before = self.blank_line(c.span.line - 1)
            if depth == low and blank:
                # The first comment that belongs to the next line takes its blank line.
                before, blank = True, False
            elif depth > 0:
                before = False
            if before and out and out[-1] != "":
                out.append("")
            out.append(INDENT * depth + c.text)
            if depth == 0 and self.blank_line(c.span.line + 1) and (nxt is not None or c is not gap[-1]):
                out.append("")
        if out and out[-1] == "":
            blank = False
        return blank

    def blank_line(self, line: int) -> bool:
        return 1 <= line <= len(self.lines) and not self.lines[line - 1].strip()


def _trailing(comment: Optional[A.Comment]) -> str:
    return "  " + comment.text if comment is not None else ""


def setting_text(s: A.Setting) -> str:
    text = s.key + ":"
    if s.values:
        text += " " + ", ".join(quote(v) for v in s.values)
    elif s.bare is not None and s.bare.value:
        text += " " + s.bare.value
    return text + _trailing(s.comment)


def line_text(line) -> str:
    if isinstance(line, A.Dialogue):
        who = "@" + line.speaker.name if isinstance(line.speaker, A.Ref) else line.speaker.name
        if line.direction is not None:
            who += " (" + ", ".join(i.value for i in line.direction.items) + ")"
        return who + ": " + quote(line.line) + _trailing(line.comment)
    if isinstance(line, A.Sound):
        return "sound: " + quote(line.text) + _trailing(line.comment)
    return line.text.value

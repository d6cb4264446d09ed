"""Positions: our spans count 1-based lines and code-point columns; LSP counts
0-based lines and, by default, UTF-16 code units (``klingscript.syntax.positions``).

A client may negotiate UTF-8 or UTF-32 instead; ``Lines`` converts for
whichever encoding the session uses. A byte-order mark that a client keeps in
the document text is one unit on line 1 that our columns do not count.

Lines end as LSP (and klingc) count them: at "\r\n", "\r" or "\n" only
(``positions.split_lines``), never at a form feed, NEL or U+2028, which
``str.splitlines`` (and so pygls's own document model) takes for line ends.
"""

from __future__ import annotations

from functools import lru_cache

from ..syntax.positions import from_utf16_column, line_starts, split_lines, to_utf16_column

UTF8, UTF16, UTF32 = "utf-8", "utf-16", "utf-32"


def _to_units(line: str, column: int, encoding: str) -> int:
    if encoding == UTF16:
        return to_utf16_column(line, column)
    prefix = line[: max(0, column - 1)]
    extra = max(0, column - 1 - len(prefix))
    if encoding == UTF8:
        return len(prefix.encode("utf-8", "surrogatepass")) + extra
    return len(prefix) + extra


def _from_units(line: str, units: int, encoding: str) -> int:
    if encoding == UTF16:
        return from_utf16_column(line, units)
    if encoding == UTF8:
        count = 0
        for i, ch in enumerate(line):
            if count >= units:
                return i + 1
            count += len(ch.encode("utf-8", "surrogatepass"))
        return len(line) + 1 + max(0, units - count)
    return units + 1


class Lines:
    """The lines of one document, for position conversions (not changed after it is made)."""

    def __init__(self, text: str, encoding: str = UTF16):
        self.source = text
        self.bom = text.startswith("\ufeff")
        body = text[1:] if self.bom else text
        self.lines = tuple(split_lines(body))
        self.encoding = str(encoding or UTF16)
        if self.encoding not in (UTF8, UTF16, UTF32):
            self.encoding = UTF16
        self._starts = None

    def text(self, line: int) -> str:
        """Text of 1-based ``line`` without its line end ("" past the end)."""
        if 1 <= line <= len(self.lines):
            return self.lines[line - 1]
        return ""

    def offset(self, line0: int, character: int) -> int:
        """The offset in the document's text of an LSP position. As LSP says, a character
        past the end of its line means the line's end, and a line past the last one the
        document's end. A byte-order mark is a character here, as it is to the client."""
        if line0 >= len(self.lines):
            return len(self.source)
        if self._starts is None:
            self._starts = line_starts(self.source)
        line0 = max(0, line0)
        raw = ("\ufeff" if self.bom and line0 == 0 else "") + self.lines[line0]
        column = min(_from_units(raw, max(0, character), self.encoding), len(raw) + 1)
        return self._starts[line0] + column - 1

    def apply_change(self, start: tuple[int, int], end: tuple[int, int], new: str) -> str:
        """The text after replacing the LSP range ``start``-``end`` (each (line, character))
        with ``new``."""
        a, b = self.offset(*start), self.offset(*end)
        if b < a:
            a, b = b, a
        return self.source[:a] + new + self.source[b:]

    def _bom_units(self, line: int) -> int:
        if line == 1 and self.bom:
            return 3 if self.encoding == UTF8 else 1
        return 0

    def to_lsp(self, line: int, column: int) -> tuple[int, int]:
        """(0-based line, client units) for our 1-based ``line`` and code-point ``column``."""
        return max(0, line - 1), _to_units(self.text(line), column, self.encoding) + self._bom_units(line)

    def from_lsp(self, line0: int, character: int) -> tuple[int, int]:
        """Our (line, column) for an LSP position."""
        line = line0 + 1
        units = max(0, character - self._bom_units(line))
        return line, _from_units(self.text(line), units, self.encoding)

    def span_range(self, span) -> tuple[tuple[int, int], tuple[int, int]]:
        return self.to_lsp(span.line, span.column), self.to_lsp(span.end_line, span.end_column)

    def end(self) -> tuple[int, int]:
        """The LSP position just past the last character of the document."""
        last = len(self.lines)
        return last - 1, _to_units(self.lines[-1], len(self.lines[-1]) + 1, self.encoding) + self._bom_units(last)


@lru_cache(maxsize=8)
def lines_of(text: str, encoding: str = UTF16) -> Lines:
    """``Lines(text, encoding)``, shared: a request converts many positions of the same few texts."""
    return Lines(text, encoding)

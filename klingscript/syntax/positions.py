"""Positions: columns between code points (our spans) and UTF-16 units (LSP), and lines
as LSP counts them."""

import bisect
import re


def to_utf16_column(line_text: str, column: int) -> int:
    """0-based UTF-16 offset of 1-based code-point ``column`` in ``line_text``."""
    prefix = line_text[: max(0, column - 1)]
    return len(prefix) + sum(1 for ch in prefix if ord(ch) > 0xFFFF) + max(0, column - 1 - len(prefix))


def from_utf16_column(line_text: str, character: int) -> int:
    """1-based code-point column of 0-based UTF-16 offset ``character``."""
    units = 0
    for i, ch in enumerate(line_text):
        if units >= character:
            return i + 1
        units += 2 if ord(ch) > 0xFFFF else 1
    return len(line_text) + 1 + max(0, character - units)


# -- lines ---------------------------------------------------------------------------
# A line ends at "\r\n", "\r" or "\n", as the LSP specification counts them: never at
# the other characters ``str.splitlines`` takes for line ends (form feed, vertical tab,
# U+001C-U+001E, NEL U+0085, U+2028, U+2029). The parser, the code frames, the
# formatter and the language server all count lines this way.

LINE_END = re.compile(r"\r\n|\r|\n")
_LONE_CR = re.compile(r"\r(?!\n)")


def split_lines(text: str) -> list[str]:
    """The lines of ``text`` without their line ends (``n`` line ends give ``n + 1`` lines)."""
    if "\r" not in text:
        return text.split("\n")
    return LINE_END.split(text)


def lines_with_ends(text: str) -> list[str]:
    """The lines of ``text``, each with its line end (as ``str.splitlines(True)``, on LSP's
    line ends: a text ending in a line end has no empty last line)."""
    out = LINE_END.split(text) if "\r" in text else text.split("\n")
    ends = [m.group() for m in LINE_END.finditer(text)] if "\r" in text else ["\n"] * (len(out) - 1)
    lines = [line + end for line, end in zip(out, ends)]
    if out[-1]:
        lines.append(out[-1])
    return lines


def line_breaks(text: str, start: int = 0, end: int | None = None) -> int:
    """How many line ends ``text[start:end]`` holds."""
    if "\r" not in text:
        return text.count("\n", start, len(text) if end is None else end)
    return sum(1 for _ in LINE_END.finditer(text, start, len(text) if end is None else end))


def line_starts(text: str) -> list[int]:
    """The offset of each line's first character."""
    if "\r" not in text:
        out, i = [0], text.find("\n")
        while i != -1:
            out.append(i + 1)
            i = text.find("\n", i + 1)
        return out
    return [0] + [m.end() for m in LINE_END.finditer(text)]


def line_and_column(text: str, offset: int) -> tuple[int, int]:
    """The 1-based line and code-point column of ``offset`` in ``text``."""
    starts = line_starts(text)
    line = bisect.bisect_right(starts, offset)
    return line, offset - starts[line - 1] + 1


def lone_cr_as_lf(text: str) -> str:
    """``text`` with each carriage return that ends a line on its own made a line feed (the
    same length: offsets do not move), so that a reader splitting on "\\n" sees LSP's lines."""
    return _LONE_CR.sub("\n", text) if "\r" in text else text

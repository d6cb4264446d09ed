"""Cutting a script into its top-level blocks by indentation, before Lark sees it.

A block starts at a line with text in its first column (see
``shapes.starts_block``): a setting, a `use`, an element or scene header, or
stray text. It runs over the lines that follow it and are blank, comments or
indented, up to the next such line. So:

- blank and comment lines between two blocks belong to the block above them
  (the lexer's line-break token takes them in after that block's last line,
  and a comment there is usually about what precedes it or is a separator);
- the lines before the file's first block (a header comment, blank lines, or
  indented lines that belong to nothing) form a lead block of their own.

At a block's first line the parser of the whole file would be back at the top
level, with every item before it complete and the indentation back to 0: that
is what makes each block parseable on its own (``parser.parse_block``) with
the same result as the whole file gives.
"""

from __future__ import annotations

from .shapes import starts_block


def ranges(lines: list[str], lo: int = 0, hi: int | None = None) -> list[tuple[int, int]]:
    """The blocks of ``lines[lo:hi]`` as ``[start, end)`` index ranges, in order.

    They cover ``lo..hi`` without gaps; the first one is the lead block when
    ``lines[lo]`` does not start a block.
    """
    hi = len(lines) if hi is None else hi
    if lo >= hi:
        return []
    starts = [i for i in range(lo + 1, hi) if starts_block(lines[i])]
    starts.insert(0, lo)
    starts.append(hi)
    return [(starts[i], starts[i + 1]) for i in range(len(starts) - 1)]


def around(lines: list[str], index: int) -> tuple[int, int]:
    """The block ``[start, end)`` of ``lines`` that holds line ``index`` (line 0 opens the first block)."""
    start = index
    while start > 0 and not starts_block(lines[start]):
        start -= 1
    end = index + 1
    while end < len(lines) and not starts_block(lines[end]):
        end += 1
    return start, end

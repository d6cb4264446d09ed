"""Column conversions between code points (our spans) and UTF-16 units (LSP)."""


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

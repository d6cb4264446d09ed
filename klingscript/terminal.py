"""What klingc asks of the terminal it writes to (a module with no imports of its own, for the
commands' fast paths)."""

from __future__ import annotations

import os
import sys


def use_colour(stream=None) -> bool:
    stream = stream or sys.stdout
    if os.environ.get("NO_COLOR"):
        return False
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False

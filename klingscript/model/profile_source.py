"""Where the model profiles come from, for cache keys: a module of its own so that a key can
be made without loading the profiles (``klingc check``'s replayed output, cache/shown.py)."""

from __future__ import annotations

import os

ENV = "KLINGSCRIPT_PROFILES"    # a folder of profiles in place of the package's own


def fingerprint() -> str:
    """What the profiles read now depend on, for cache keys: empty for the built-in folder
    (part of the package), else the folder and each file's size and modification time."""
    where = os.environ.get(ENV)
    if not where:
        return ""
    from pathlib import Path

    where = os.path.abspath(where)      # a relative folder is another one from another folder
    parts = [where]
    for p in sorted(Path(where).glob("*.toml")):
        try:
            st = p.stat()
        except OSError:
            continue
        parts.append(f"{p.name}:{st.st_size}:{st.st_mtime_ns}")
    return "\n".join(parts)

"""What ``klingc check`` printed, to print it again while nothing it depends on has changed.

An unchanged script is the commonest check of all (an editor's save hook, a
``make`` rule, a pre-commit hook). The scene results (``scenes.py``) already
answer it without parsing, but still decode every diagnostic, import the
compiler and render the text. This entry skips all three: it holds what
``check`` wrote to stdout and its exit code, keyed by the command's options
and the scripts' paths, and is used when every script's whole-file key (its
text, path as shown, project folder, ``--allow-outside`` and the profiles'
fingerprint, as ``compiler.diagnose`` makes it) and everything that script's
check depended on (``use`` files by content, images by signature) are the
same as when it was written. klingc's own stamp is in the key, as for every
entry of the store.

Only a check whose every script took the incremental path is kept (a script
that cannot be read, the cache off, a main file with a NUL byte: no entry).
The replay imports neither the compiler nor ``pathlib``: it is most of what
an unchanged check does. Measured with ``bench/run.py``: docs/decisions.md,
"A replayed check".
"""

from __future__ import annotations

import os

from ..files import read_text
from . import scenes as S

NAMESPACE = "shown"
MAX_ENTRIES = 20


def _where(files, options: tuple, keys: tuple) -> tuple:
    return (options, tuple(os.path.abspath(f) for f in files), keys)


def _keys(files, allow_outside: bool) -> tuple | None:
    """Each script's whole-file key as it is now, or None when one cannot be read."""
    keys = []
    for path in files:
        abspath = os.path.abspath(path)
        try:
            text = read_text(abspath)
        except OSError:
            return None
        keys.append(S.digest(S.base_key(os.path.normpath(str(path)), abspath, allow_outside), text))
    return tuple(keys)


def replay(files, options: tuple, allow_outside: bool) -> tuple[str, int] | None:
    """(what was printed, the exit code) of the last check of ``files`` with ``options``,
    when nothing it depends on has changed since; else None. The scripts' whole-file keys
    are in the entry's key, so that after an edit a miss reads nothing more."""
    s = S.store()
    if s is None:
        return None
    keys = _keys(files, allow_outside)
    if keys is None:
        return None
    entry = s.get(NAMESPACE, _where(files, options, keys))
    try:
        deps, out, code = entry
        if len(deps) != len(files) or not isinstance(out, str) or not isinstance(code, int):
            return None
        for uses, images in deps:
            if S.deps_unchanged(uses, images, read_text) is None:
                return None
    except (TypeError, ValueError):   # no entry, or an authentic one of another shape
        return None
    return out, code


def record(files, options: tuple, compilations, out: str, code: int) -> None:
    """Keep what a check of ``files`` printed, when each script's result says what it
    depended on (``Compilation.whole``)."""
    wholes = [c.whole for c in compilations]
    if len(wholes) != len(files) or any(w is None for w in wholes):
        return
    s = S.store()
    if s is None:
        return
    value = (tuple((w[1], w[2]) for w in wholes), out, code)
    s.put(NAMESPACE, _where(files, options, tuple(w[0] for w in wholes)), value, MAX_ENTRIES)

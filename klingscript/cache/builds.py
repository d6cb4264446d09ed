"""The whole-build shortcut: ``klingc build`` of a script, options and output folder unchanged
since its last build is answered without compiling or writing anything.

A build's entry (one per script and output folder, in namespace ``builds``) holds:

- the key of everything the build was made from: the script's text, its path as
  shown and as it is, its project folder, ``--allow-outside``, the output folder,
  and the options (``cache.options_digest``: the ``--templates`` folder's files,
  the ``--pricing`` file, the profiles' fingerprint, Jinja2's and pydantic's
  files; klingc's own stamp is in every key of the store);
- what the check of it depended on beyond that, as the scene results keep it
  (``scenes.whole_hit``): every ``use`` file by content, every image a check
  looked at (and every ``use`` file looked for) by signature;
- the output folder as the build left it: every entry's name, type, inode, size,
  modification and change times (``tree``). A file edited, added, removed or
  replaced since, or a folder made again, is a miss: the build runs and writes;
- the warnings it printed and the summary line after the folder's name.

On a hit the warnings are printed again (rendered now, for the terminal of now)
and then the summary: the same output as the build, and the folder as it was.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Optional

NAMESPACE = "builds"
MAX_BUILDS = 50


def tree(target) -> Optional[tuple]:
    """Every entry under ``target`` (name relative to it, mode, inode, size, mtime, ctime),
    in order; None when it cannot be listed."""
    out: list = []

    def walk(folder: str, rel: str) -> None:
        with os.scandir(folder) as it:
            entries = sorted(it, key=lambda e: e.name)
        for e in entries:
            st = e.stat(follow_symlinks=False)
            name = rel + e.name
            out.append((name, st.st_mode, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns))
            if stat.S_ISDIR(st.st_mode):
                walk(e.path, name + "/")

    try:
        st = os.stat(target)
        if not stat.S_ISDIR(st.st_mode):
            return None
        out.append(("", st.st_mode, st.st_ino, 0, 0, 0))
        walk(str(target), "")
    except OSError:
        return None
    return tuple(out)


def _key(display: str, abspath: Path, text: str, allow_outside: bool, target: str,
         templates: Optional[str], pricing: Optional[str]) -> Optional[str]:
    from . import options_digest
    from .scenes import digest

    if templates and not os.path.isdir(templates):
        return None          # the build reports it
    try:
        options = options_digest(templates, pricing)
    except (OSError, UnicodeError):
        return None
    return digest("build", display, str(abspath), str(abspath.parent), bool(allow_outside),
                  os.path.abspath(target), bool(templates), options, text)


def _where(abspath: Path, target) -> tuple:
    return (str(abspath), os.path.abspath(target))


def unchanged(path, target, allow_outside: bool = False, templates: Optional[str] = None,
              pricing: Optional[str] = None):
    """(program with the files' texts, warnings, summary) of the last build of ``path`` into
    ``target`` when nothing it was made from, and nothing in ``target``, has changed; else None."""
    from . import store
    from . import scenes as S
    from ..project import InputError, Loader, read_main

    s = store()
    if s is None:
        return None
    loader = Loader()
    try:
        abspath, text = read_main(path, loader)
    except (InputError, OSError, UnicodeError):
        return None
    entry = s.get(NAMESPACE, _where(abspath, target))
    if not isinstance(entry, dict):
        return None
    display = os.path.normpath(str(path))
    key = _key(display, abspath, text, allow_outside, target, templates, pricing)
    try:
        if key is None or entry.get("tree") != tree(target):
            return None
        done = S.whole_hit(entry, key, abspath, display, text, allow_outside, loader)
        if done is None:
            return None
        return done.program, done.diagnostics, entry["summary"]
    except Exception:    # an authentic entry of another shape: build again
        return None


def record(c, path, target, warnings, summary: str, allow_outside: bool = False,
           templates: Optional[str] = None, pricing: Optional[str] = None) -> None:
    """Keep the build just written (``c``, a ``compiler.Compilation``) into ``target`` for
    ``unchanged``."""
    from . import store
    from . import scenes as S

    s = store()
    if s is None:
        return
    program = c.program
    main = program.main
    display = os.path.normpath(str(path))
    key = _key(display, main.path, main.text, allow_outside, target, templates, pricing)
    folder = tree(target)
    if key is None or folder is None:
        return
    others = [f for f in program.files.values() if f.path != main.path]
    uses = tuple((str(f.path), f.display, S.digest(f.text)) for f in others)
    looked = set(program.touched) | (program.looked_for - set(program.files))
    deps = tuple((str(p), S.signature(p)) for p in sorted(looked))
    entry = {"whole": (key, uses, deps, S.encode(warnings)), "tree": folder, "summary": summary}
    s.put(NAMESPACE, _where(main.path, target), entry, MAX_BUILDS)

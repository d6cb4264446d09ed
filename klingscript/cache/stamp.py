"""What klingc is, as a stamp: a change to any of it makes every cache entry a miss.

The stamp covers, with no list kept by hand:

- every file of the ``klingscript`` package folder as installed (its Python
  modules, data files, templates...: whatever is there, new files included;
  compiled bytecode in ``__pycache__`` aside), by path, size and modification
  time;
- the grammar (inside the package once installed, ``grammar/`` beside it in
  a source tree);
- the version of Python. (Lark is not part of it: klingc parses with the
  standalone parser generated from the grammar, a module of the package.)

Sizes and modification times, not contents: on klingc's 95 files a walk
with ``os.scandir`` takes about 0.8 ms where hashing the contents takes
2.8 ms (warm file-system cache), and an installer, a checkout or an editor
sets a new modification time on what it writes. The stamp is worked out once
per process.
"""

from __future__ import annotations

import os
import sys

PACKAGE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

_stamps: dict[str, str] = {}


def package_stamp(package: str = PACKAGE) -> str:
    """The stamp of the klingscript package in folder ``package`` (by default, this one)."""
    stamp = _stamps.get(package)
    if stamp is None:
        parts = [f"python {sys.version}"]
        _walk(package, "", parts)
        for grammar in (os.path.join(package, "grammar", "klingscript.lark"),
                        os.path.join(os.path.dirname(package), "grammar", "klingscript.lark")):
            if os.path.exists(grammar):
                parts.append(f"grammar {file_stamp(grammar)}")
                break
        stamp = _stamps[package] = "\n".join(parts)
    return stamp


def _walk(folder: str, rel: str, parts: list) -> None:
    with os.scandir(folder) as it:
        entries = sorted(it, key=lambda e: e.name)
    for e in entries:
        if e.is_dir():
            if e.name != "__pycache__":
                _walk(e.path, f"{rel}{e.name}/", parts)
        else:
            st = e.stat()
            parts.append(f"{rel}{e.name} {st.st_size} {st.st_mtime_ns}")


def file_stamp(path: str) -> str:
    st = os.stat(path)
    return f"{st.st_size} {st.st_mtime_ns}"


def module_stamp(module: str, names: tuple | None = None) -> str:
    """An installed package's stamp, without importing it: the size and modification time
    of ``names`` in its folder (by default, each of its Python and extension files)."""
    from importlib.util import find_spec

    try:
        spec = find_spec(module)
    except (ImportError, ValueError):
        spec = None
    if spec is None or not spec.origin:
        return f"{module} ?"
    where = os.path.dirname(spec.origin)
    try:
        if names is None:
            names = tuple(sorted(n for n in os.listdir(where) if n.endswith((".py", ".so", ".pyd"))))
        return f"{module} " + ",".join(f"{n}:{file_stamp(os.path.join(where, n))}" for n in names)
    except OSError:
        return f"{module} ?"

"""Screenplays in other formats, read into KlingScript (``klingc import``).

``fountain.py`` (through screenplain) and ``fdx.py`` (Final Draft, through defusedxml)
read a file into ``screenplay.Screenplay``; ``kls.py`` writes that as a KlingScript.
"""

from __future__ import annotations

from pathlib import Path

FORMATS = {".fountain": "Fountain", ".spmd": "Fountain", ".txt": "Fountain", ".fdx": "Final Draft"}


class ImportFailure(ValueError):
    """A file that cannot be imported: unreadable, or not the format its name says."""


def read(path: Path):
    """The ``Screenplay`` in ``path``, by its extension."""
    from ..files import NotRegularFile, decode, read_checked

    kind = FORMATS.get(path.suffix.lower())
    if kind is None:
        raise ImportFailure(f"{path}: klingc imports Fountain (.fountain) and Final Draft (.fdx) files")
    try:
        data = read_checked(path, "screenplay")
    except IsADirectoryError:
        raise ImportFailure(f"cannot read {path}: it is a folder, not a screenplay") from None
    except NotRegularFile as e:
        raise ImportFailure(f"cannot read {path}: it is {e.kind}, not a screenplay") from None
    except OSError as e:
        raise ImportFailure(f"cannot read {path}: {e.strerror or e}") from None
    if kind == "Final Draft":
        from .fdx import FdxError, read as read_fdx
        try:
            return read_fdx(data)
        except FdxError as e:
            raise ImportFailure(f"{path}: {e}") from None
    from .fountain import read as read_fountain
    try:
        text = decode(data)
    except UnicodeDecodeError:
        raise ImportFailure(f"{path}: not UTF-8 text") from None
    return read_fountain(text)


def import_file(path: Path):
    """(KlingScript text, summary) for the screenplay in ``path``."""
    from .kls import write

    return write(read(path), path.name)

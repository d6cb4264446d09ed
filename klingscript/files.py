"""Reading the files a script names, and writing files so that nothing half-written is ever
seen under their name."""

from __future__ import annotations

import os


def read_source(path) -> str:
    """A script's (or a ``use`` file's) text."""
    with open(path, "rb") as f:
        return decode(f.read())


def decode(data: bytes) -> str:
    """Decode a file's bytes; invalid UTF-8 becomes U+FFFD (and a diagnostic)."""
    return data.decode("utf-8", errors="replace")


def write_atomic(path, data: bytes | str, *, mode: int | None = None, fsync: bool = False) -> None:
    """Write ``data`` to a temporary file beside ``path``, then rename it over ``path``.

    The file keeps the permissions of the file it replaces; a new file gets
    ``mode`` (default 0o644). ``fsync`` flushes the data to disk before the
    rename, for files that must survive a power cut.
    """
    path = os.fspath(path)
    folder = os.path.dirname(path) or "."
    try:
        mode = os.stat(path).st_mode & 0o7777
    except OSError:
        mode = 0o644 if mode is None else mode
    fd, tmp = make_temp(folder, f".{os.path.basename(path)}.", ".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data.encode("utf-8") if isinstance(data, str) else data)
            if fsync:
                f.flush()
                os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def make_temp(folder: str, prefix: str, suffix: str = "") -> tuple[int, str]:
    """A new file in ``folder`` that no other process has opened, readable and writable by its
    owner only (as ``tempfile.mkstemp``, whose module and the ones it loads take 4 ms to import,
    a tenth of a replayed ``klingc check``): (its descriptor, its path)."""
    flags = os.O_RDWR | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0) \
        | getattr(os, "O_BINARY", 0)
    for _ in range(100):
        path = os.path.join(folder, f"{prefix}{os.urandom(6).hex()}{suffix}")
        try:
            return os.open(path, flags, 0o600), path
        except FileExistsError:
            continue
    raise FileExistsError(f"no free temporary name in {folder}")

"""Reading and writing the files klingc is given.

``read_regular`` and ``open_regular`` are the one way a file a user names is read
(scripts and ``use`` files, images, voice samples, imported screenplays, pricing and
template files, fmt's files): only a regular file is read (a FIFO, a device, a socket
or a folder is refused by name, without blocking on it), and no more than the limit
for its kind (``MAX_BYTES``) is ever read. ``read_text`` reads a script or ``use``
file so, and refuses one that holds the value of an API secret (``secrets``).
``write_atomic`` writes so that nothing half-written is ever seen under a file's name.

The module imports nothing beyond ``os``, ``stat`` and ``errno`` (loaded with Python
itself): a replayed ``klingc check`` reads its scripts through it (cache/shown.py).
"""

from __future__ import annotations

import errno
import io
import os
import stat

MB = 1024 * 1024

# The largest file of each kind klingc reads (issue 12); a larger one is refused without being
# read whole. Each is well above what its use needs (docs/decisions.md, "Only regular files").
MAX_BYTES = {
    "script": 8 * MB,        # a .kls script or `use` file (a feature-length script is ~150 KB)
    "screenplay": 32 * MB,   # a Fountain or Final Draft file for klingc import
    "image": 64 * MB,        # an image (Kling takes 10 MB, or 50 MB for a current frame)
    "sample": 256 * MB,      # a voice sample (Kling takes 5-30 s of sound, possibly as a video)
    "data": 8 * MB,          # a --pricing file, a --templates file, a file of klingc's own output
}

LOOP = "a symbolic link that loops back on itself"

# The environment variables whose values are secrets: never printed, logged or cached.
SECRET_VARIABLES = ("KLING_SECRET_KEY", "KLING_API_KEY")
SECRET_MIN_CHARS = 8      # a shorter value is not looked for in texts (it would match by chance)


class NotRegularFile(OSError):
    """A path that names a folder, a FIFO, a device or a socket: klingc reads only regular files.
    ``kind`` names it ("a FIFO (named pipe)"); ``strerror`` is "it is <kind>, not a file"."""

    def __init__(self, path, kind: str):
        super().__init__(errno.EINVAL, f"it is {kind}, not a file", os.fspath(path))
        self.kind = kind


class FileTooLarge(OSError):
    """A file above ``MAX_BYTES`` for its kind (``size`` is at least ``limit + 1``)."""

    def __init__(self, path, size: int, limit: int, noun: str):
        super().__init__(errno.EFBIG, f"it is {megabytes(size)}; klingc reads {noun} of at most "
                                      f"{megabytes(limit)}", os.fspath(path))
        self.size, self.limit = size, limit


_NOUNS = {"script": "scripts", "screenplay": "screenplays", "image": "images", "sample": "voice samples",
          "data": "files of this kind"}


def megabytes(n: int) -> str:
    return f"{n / MB:.2f}".rstrip("0").rstrip(".") + " MB"


def kind_of(mode: int) -> str:
    """What a file that is not a regular file is, in a writer's words."""
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def stat_regular(path) -> os.stat_result:
    """``os.stat(path)`` of a regular file; ``NotRegularFile`` (``IsADirectoryError`` for a
    folder) for anything else, and an ``OSError`` whose ``strerror`` says so for a symbolic
    link loop."""
    try:
        st = os.stat(path)
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise OSError(errno.ELOOP, f"it is {LOOP}", os.fspath(path)) from None
        raise
    _regular(path, st)
    return st


def _regular(path, st: os.stat_result) -> None:
    if stat.S_ISDIR(st.st_mode):
        raise IsADirectoryError(errno.EISDIR, "it is a folder, not a file", os.fspath(path))
    if not stat.S_ISREG(st.st_mode):
        raise NotRegularFile(path, kind_of(st.st_mode))


def open_regular(path, kind: str) -> io.BufferedReader:
    """``path`` opened for reading in binary, if it is a regular file no larger than
    ``MAX_BYTES[kind]`` (``FileTooLarge`` otherwise, see ``stat_regular`` for the rest). A FIFO
    swapped in after the check does not block: the file is opened non-blocking and checked
    again on its descriptor."""
    limit = MAX_BYTES[kind]
    st = stat_regular(path)
    if st.st_size > limit:
        raise FileTooLarge(path, st.st_size, limit, _NOUNS[kind])
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_CLOEXEC", 0)
    fd = os.open(path, flags | getattr(os, "O_BINARY", 0))
    try:
        st = os.fstat(fd)
        _regular(path, st)
        if st.st_size > limit:
            raise FileTooLarge(path, st.st_size, limit, _NOUNS[kind])
        return os.fdopen(fd, "rb")      # O_NONBLOCK does nothing to a regular file's reads
    except BaseException:
        os.close(fd)
        raise


def read_regular(path, kind: str) -> bytes:
    """The bytes of ``path`` (``open_regular``), reading at most ``MAX_BYTES[kind]`` + 1 bytes:
    a file that says it is small but is not (``/proc`` files say 0) is refused as too large."""
    limit = MAX_BYTES[kind]
    with open_regular(path, kind) as f:
        data = f.read(limit + 1)
    if len(data) > limit:
        raise FileTooLarge(path, len(data), limit, _NOUNS[kind])
    return data


def resolve(path):
    """``Path(path).resolve()``, with a symbolic link loop an ``OSError`` (ELOOP) whose
    ``strerror`` says so, not Python's ``RuntimeError``."""
    from pathlib import Path

    try:
        return Path(path).resolve()
    except RuntimeError:
        raise OSError(errno.ELOOP, f"it is {LOOP}", os.fspath(path)) from None


def secrets(env=None) -> list[tuple[str, str]]:
    """(variable, value) of each secret set in ``env`` that is long enough to look for."""
    env = os.environ if env is None else env
    out = []
    for name in SECRET_VARIABLES:
        value = (env.get(name) or "").strip()
        if len(value) >= SECRET_MIN_CHARS:
            out.append((name, value))
    return out


def decode(data: bytes) -> str:
    """Decode a file's bytes; invalid UTF-8 becomes U+FFFD (and a diagnostic)."""
    return data.decode("utf-8", errors="replace")


class HoldsSecret(OSError):
    """A file whose text holds the value of a secret (``SECRET_VARIABLES``): it is not read,
    so the value is never parsed, shown or cached (docs/decisions.md, "Secrets in files")."""

    def __init__(self, path, variable: str):
        super().__init__(0, f"it holds the value of {variable}, and klingc does not read a file "
                            f"that holds a secret (the key belongs in the environment only)", os.fspath(path))
        self.variable = variable


def read_checked(path, kind: str) -> bytes:
    """The bytes of a user's text file, read as ``read_regular`` reads it (a regular file, at
    most ``MAX_BYTES[kind]``); ``HoldsSecret`` for one holding a secret's value."""
    data = read_regular(path, kind)
    refuse_secrets(path, decode(data))
    return data


def read_text(path, kind: str = "script") -> str:
    """A user's text file, read and refused as ``read_checked`` does, decoded (once)."""
    return refuse_secrets(path, decode(read_regular(path, kind)))


def refuse_secrets(path, text: str) -> str:
    """``text`` (read from ``path``), or ``HoldsSecret`` when it holds a secret's value."""
    for variable, value in secrets():
        if value in text:
            raise HoldsSecret(path, variable)
    return text


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

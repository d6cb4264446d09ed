"""One content-keyed store on disk: authenticated entries, atomic writes, LRU pruning.

An entry is found by its key: a SHA-256 digest of the store's stamp (klingc's
own package as a whole: ``stamp.py``), a namespace (``parse``, ``build``,
``templates``...) and the key's parts (the file's text, its path...). The
entry's file is named by that digest, inside the namespace's folder::

    $XDG_CACHE_HOME/klingscript/<namespace>/<digest>.entry

So a changed key, or a changed klingc, looks for another file: the old entry
is simply never read again, and goes when the namespace is pruned.

An entry is never trusted blindly. Each is written as a magic line, an
HMAC-SHA256 tag, then the value pickled; the tag covers the namespace, the
digest and the pickled bytes, under a key of 32 random bytes kept in
``klingscript/key``: made atomically (a private temporary file, then a hard
link), the folder 0700 and the key file 0600, both owned by the user. The tag
is checked before anything is unpickled, so an entry written without the key
(by another user, another key, a truncated write or a flipped byte) is a miss;
and a key file that another user owns, or that others may read or write,
means no cache at all. As defence in depth, unpickling is still restricted to
the classes the caller names (``classes``): a parse result can only make the
syntax tree's and the diagnostics' classes, other values only plain data.

Writes go to a temporary file beside the entry, then a rename: a reader sees
the old entry or the new one, never half of one. A namespace keeps its
``keep`` most recently used entries (a hit marks its entry used). Nothing here
raises: a store that cannot be read or written is a miss, never an error.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable

MAGIC = b"klingscript cache 1\n"
KEY_FILE = "key"
KEY_SIZE = 32
TAG_SIZE = 32           # HMAC-SHA256
SUFFIX = ".entry"


class Store:
    """The entries under ``root`` (one folder per namespace), for klingc as ``stamp`` says it is."""

    def __init__(self, root: str, stamp: str):
        self.root = root
        self.stamp = stamp.encode("utf-8", "surrogatepass")
        self._key: bytes | None = None
        self._usable: bool | None = None     # None: not looked at yet
        self._folders: dict[str, bool] = {}     # namespace -> its folder is ours

    # -- the interface -----------------------------------------------------------

    def get(self, namespace: str, key_parts: Iterable, classes: frozenset = frozenset()):
        """The value put under ``key_parts``, or None (no entry, or one not to be trusted).
        Unpickling may make only ``classes`` (``(module, name)`` pairs) and plain values."""
        path, digest = self._place(namespace, key_parts)
        if path is None or not self._ready(namespace, create=False):
            return None
        try:
            with open(path, "rb") as f:
                data = f.read()
        except OSError:
            return None
        payload = self._verified(namespace, digest, data)
        if payload is None:
            return None
        try:
            value = _unpickle(payload, classes)
        except Exception:   # authentic but unreadable here (say, a class since renamed): a miss
            return None
        _touch(path)
        return value

    def put(self, namespace: str, key_parts: Iterable, value, keep: int) -> bool:
        """Keep ``value`` under ``key_parts`` (then the ``keep`` most recently used entries of
        the namespace); False when it cannot be written, which is no error."""
        import pickle

        path, digest = self._place(namespace, key_parts)
        if path is None or not self._ready(namespace, create=True):
            return False
        try:
            payload = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
            from ..files import write_atomic
            write_atomic(path, b"".join((MAGIC, self._tag(namespace, digest, payload), payload)), mode=0o600)
        except Exception:   # a cache that cannot be written is no cache, never an error
            self._usable = None     # look at the folder again next time (removed meanwhile?)
            self._folders.clear()
            return False
        self._prune(namespace, keep)
        return True

    def touch(self, namespace: str, key_parts: Iterable) -> None:
        """Mark an entry as recently used (kept longer by the pruning)."""
        path, _ = self._place(namespace, key_parts)
        if path is not None:
            _touch(path)

    def path(self, namespace: str, key_parts: Iterable) -> str | None:
        """Where the entry of ``key_parts`` is (whether or not it exists)."""
        return self._place(namespace, key_parts)[0]

    # -- keys and tags -----------------------------------------------------------

    def digest(self, namespace: str, key_parts: Iterable) -> str:
        """The entry's name: SHA-256 over the stamp, the namespace and each part, each
        part preceded by its length (so no two lists of parts run together)."""
        import hashlib

        h = hashlib.sha256()
        for part in (self.stamp, namespace, *key_parts):
            if isinstance(part, str):
                part = part.encode("utf-8", "surrogatepass")
            elif not isinstance(part, (bytes, bytearray, memoryview)):
                part = repr(part).encode("utf-8", "surrogatepass")   # ints, tuples of str
            h.update(len(part).to_bytes(8, "little"))
            h.update(part)
        return h.hexdigest()

    def _place(self, namespace: str, key_parts: Iterable):
        try:
            digest = self.digest(namespace, key_parts)
        except (UnicodeError, TypeError, ValueError):
            return None, None
        return os.path.join(self.root, namespace, digest + SUFFIX), digest

    def _tag(self, namespace: str, digest: str, payload) -> bytes:
        import hashlib
        import hmac

        mac = hmac.new(self._key, digestmod=hashlib.sha256)
        mac.update(MAGIC + namespace.encode("utf-8", "surrogatepass") + b"\0" + digest.encode("ascii") + b"\0")
        mac.update(payload)
        return mac.digest()

    def _verified(self, namespace: str, digest: str, data: bytes):
        """The pickled bytes of an entry whose tag is right, else None."""
        import hmac

        head = len(MAGIC) + TAG_SIZE
        if len(data) <= head or not data.startswith(MAGIC):
            return None
        view = memoryview(data)
        payload = view[head:]
        if not hmac.compare_digest(bytes(view[len(MAGIC):head]), self._tag(namespace, digest, payload)):
            return None
        return payload

    # -- the folder and the key ---------------------------------------------------

    def _ready(self, namespace: str, create: bool) -> bool:
        """The root is ours with a trusted key, and so is the namespace's folder."""
        if self._usable is None:
            self._usable = self._open_root(create)
        elif self._usable is False and create and self._key is None:
            self._usable = self._open_root(create)   # a read found no folder: a write makes it
        if not self._usable:
            return False
        ok = self._folders.get(namespace)
        if ok is None or (ok is False and create):
            ok = self._folders[namespace] = _private_folder(os.path.join(self.root, namespace), create)
        return ok

    def _open_root(self, create: bool) -> bool:
        if not _private_folder(self.root, create):
            return False
        key = _read_key(os.path.join(self.root, KEY_FILE))
        if key is None and create:
            key = _make_key(self.root)
        self._key = key
        return key is not None

    def _prune(self, namespace: str, keep: int) -> None:
        """Keep the ``keep`` most recently used entries of a namespace. Other files count
        too (entries of an older klingc's format), temporary files being written do not."""
        folder = os.path.join(self.root, namespace)
        try:
            with os.scandir(folder) as it:
                entries = [e for e in it if not e.name.startswith(".") and e.is_file(follow_symlinks=False)]
            if len(entries) <= keep:
                return
            entries.sort(key=lambda e: e.stat().st_mtime_ns, reverse=True)
            for e in entries[keep:]:
                os.unlink(e.path)
        except OSError:
            pass


def _unpickle(payload, classes: frozenset):
    import io
    import pickle

    class Restricted(pickle.Unpickler):
        def find_class(self, module, name):
            if (module, name) not in classes:
                raise pickle.UnpicklingError(f"{module}.{name} is not allowed in a cache entry")
            return super().find_class(module, name)

    return Restricted(io.BytesIO(payload)).load()


def _owned(st) -> bool:
    return not hasattr(os, "getuid") or st.st_uid == os.getuid()


def _private_folder(path: str, create: bool) -> bool:
    """``path`` is a folder of this user's that no one else may write in (made 0700 if need be)."""
    try:
        if create:
            parent = os.path.dirname(path)
            if parent:
                os.makedirs(parent, exist_ok=True)
            try:
                os.mkdir(path, 0o700)
            except FileExistsError:
                pass
        st = os.stat(path)
        if not stat.S_ISDIR(st.st_mode) or not _owned(st):
            return False
        if os.name != "nt" and st.st_mode & 0o077:
            os.chmod(path, 0o700)     # ours, made by an older klingc with the default mode
        return True
    except OSError:
        return False


def _read_key(path: str) -> bytes | None:
    """The key, if its file is a regular file of this user's that only they may read and write."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except OSError:
        return None
    try:
        st = os.fstat(fd)
        if (not stat.S_ISREG(st.st_mode) or not _owned(st) or st.st_size != KEY_SIZE
                or (os.name != "nt" and st.st_mode & 0o077)):
            return None
        key = os.read(fd, KEY_SIZE + 1)
        return key if len(key) == KEY_SIZE else None
    except OSError:
        return None
    finally:
        os.close(fd)


def _make_key(root: str) -> bytes | None:
    """A new key, written whole before it appears under its name (a hard link never replaces a
    file: if another process made one meanwhile, its key is the one)."""
    import secrets

    from ..files import make_temp

    path = os.path.join(root, KEY_FILE)
    try:
        fd, tmp = make_temp(root, ".key.")   # 0600
    except OSError:
        return None
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(secrets.token_bytes(KEY_SIZE))
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass
        except OSError:         # no hard links here: a rename that does not replace
            if not os.path.exists(path):
                os.rename(tmp, path)
    except OSError:
        return None
    finally:
        try:
            os.unlink(tmp)
        except OSError:
            pass
    return _read_key(path)


def _touch(path: str) -> None:
    try:
        os.utime(path)
    except OSError:
        pass

"""klingc's on-disk cache: parse results, parsed data files, compiled templates, build outputs.

Parsing is most of the time ``klingc check`` takes, and Lark is the slowest
module it imports; reading the TOML data files (profiles, speaking rates,
languages) means importing ``tomllib`` and parsing them on every run. The
cache keeps both:

- **Parse results.** What ``syntax.parse`` returned for a file read from disk
  (the syntax tree and the syntax diagnostics), keyed by the file's text, the
  path it is shown as, and a fingerprint of the parser: the versions of
  Python, klingscript and Lark, and the size and modification time of each
  file the parser is made of (the grammar and ``_PARSER_FILES``). A hit needs
  neither Lark nor the grammar. An editor's unsaved buffers are not cached.
- **Data files.** The parsed content of each TOML data file, used while the
  file's bytes are the same.
- **Templates.** The prompt templates compiled by Jinja2 (``templates/``, for
  ``klingc build``), kept by Jinja2's own bytecode cache, which compiles a
  template again when its source changes.
- **Build outputs.** What ``klingc build`` made for each scene (``BuildMemo``):
  a rebuild renders only the scenes that changed.

Where: ``$XDG_CACHE_HOME/klingscript`` (by default ``~/.cache/klingscript``);
``KLINGSCRIPT_NO_CACHE=1`` turns the cache off. Entries are written atomically
(a temporary file, then a rename); an entry that cannot be read, is corrupt or
belongs to another key is a miss, and a cache that cannot be written is no
error. At most ``MAX_ENTRIES`` parse results are kept; the least recently used
go first. Entries are read with ``pickle`` restricted to the syntax tree's and
the diagnostics' own classes, so an entry can only ever make those (and plain
values).
"""

from __future__ import annotations

import io
import os
import sys
import zlib
from typing import Optional

from . import __version__
from .syntax import ast as A
from .diagnostics import model as M

MAX_ENTRIES = 200
MAX_BUILDS = 50     # build memos (one per script; a feature-length one is about 2 MB)

# The modules the parser is made of (relative to the package): a change to any
# of them invalidates the cached parse results.
_PARSER_FILES = ("syntax/parser.py", "syntax/ast.py", "model/settings.py", "model/languages.py", "cache.py",
                 "diagnostics/codes.py", "diagnostics/model.py", "data/languages.toml")

_PACKAGE = os.path.dirname(os.path.abspath(__file__))
_fingerprint: Optional[str] = None


def enabled() -> bool:
    return not os.environ.get("KLINGSCRIPT_NO_CACHE")


def folder(*parts: str) -> str:
    base = os.environ.get("XDG_CACHE_HOME", "")
    if not os.path.isabs(base):  # unset, or relative (which the XDG spec says to ignore)
        local = os.environ.get("LOCALAPPDATA", "") if os.name == "nt" else ""
        base = local if os.path.isabs(local) else os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "klingscript", *parts)


# -- parse results ---------------------------------------------------------------

# Classes a parse result is made of, by (module, name).
_AST_CLASSES = frozenset((c.__module__, c.__name__) for c in (
    A.Span, *A.NODE_TYPES, M.Diagnostic, M.Label, M.Severity))


def parse(text: str, path: str):
    """``syntax.parse(text, path)``, from the cache when it holds the result."""
    from .syntax.parser import parse as parse_text

    if not enabled():
        return parse_text(text, path)
    try:
        key = (fingerprint(), path, text)
        digest = zlib.crc32(text.encode("utf-8", "surrogatepass"),
                            zlib.crc32(f"{key[0]}\0{path}".encode("utf-8", "surrogatepass")))
    except (OSError, UnicodeError):  # the package's files cannot be read: do without the cache
        return parse_text(text, path)
    entry = os.path.join(folder("parse"), f"{digest:08x}-{len(text)}.pickle")
    hit = _load(entry, key, _AST_CLASSES)
    if hit is not None:
        doc, diags = hit
        _touch(entry)
        return doc, list(diags)
    doc, diags = parse_text(text, path)
    _store_and_prune(entry, key, (doc, diags))
    return doc, diags


def _store_and_prune(entry: str, key, value, keep: Optional[int] = None) -> None:
    if _store(entry, key, value):
        _prune(os.path.dirname(entry), keep)


def fingerprint() -> str:
    """The versions and parser files that a cached parse result depends on."""
    global _fingerprint
    if _fingerprint is None:
        from .resources import grammar_path

        parts = [sys.version, __version__,
                 # Lark's version, known without importing it (that takes longer than a hit)
                 _module_stamp("lark", ("__init__.py", "lark.py", "lexer.py"))]
        for f in (*_PARSER_FILES, str(grammar_path())):
            parts.append(f"{f}:{_file_stamp(os.path.join(_PACKAGE, f))}")
        _fingerprint = "\n".join(parts)
    return _fingerprint


def _file_stamp(path: str) -> str:
    st = os.stat(path)
    return f"{st.st_size}:{st.st_mtime_ns}"


def _module_stamp(module: str, names: Optional[tuple] = None) -> str:
    """An installed package's stamp, without importing it: the size and modification time
    of ``names`` in its folder (by default, each of its Python and extension files)."""
    from importlib.util import find_spec

    spec = find_spec(module)
    if spec is None or not spec.origin:
        return f"{module}:?"
    where = os.path.dirname(spec.origin)
    if names is None:
        names = tuple(sorted(n for n in os.listdir(where) if n.endswith((".py", ".so", ".pyd"))))
    return f"{module}:" + ",".join(f"{n}:{_file_stamp(os.path.join(where, n))}" for n in names)


def _prune(parse_folder: str, keep: Optional[int] = None) -> None:
    """Keep the ``keep`` (default ``MAX_ENTRIES``) most recently used entries of a folder."""
    keep = MAX_ENTRIES if keep is None else keep
    try:
        with os.scandir(parse_folder) as it:
            entries = [e for e in it if e.name.endswith(".pickle")]
        if len(entries) <= keep:
            return
        entries.sort(key=lambda e: e.stat().st_mtime_ns, reverse=True)
        for e in entries[keep:]:
            os.unlink(e.path)
    except OSError:
        pass


# -- data files --------------------------------------------------------------------

def toml(path: str | os.PathLike) -> dict:
    """A TOML file, parsed; from the cache while the file's bytes are unchanged."""
    with open(path, "rb") as f:
        data = f.read()
    if not enabled():
        return _parse_toml(data)
    name = os.path.relpath(os.path.abspath(path), _PACKAGE) if _inside_package(path) else os.path.abspath(path)
    digest = zlib.crc32(name.encode("utf-8", "surrogatepass"))
    entry = os.path.join(folder("data"), f"{digest:08x}-{os.path.basename(path)}.pickle")
    hit = _load(entry, data, frozenset())
    if hit is not None:
        return hit
    parsed = _parse_toml(data)
    _store(entry, data, parsed)
    return parsed


def _inside_package(path) -> bool:
    return os.path.abspath(path).startswith(_PACKAGE + os.sep)


def _parse_toml(data: bytes) -> dict:
    import tomllib

    return tomllib.loads(data.decode("utf-8"))


# -- build outputs ---------------------------------------------------------------

class BuildMemo:
    """What ``klingc build`` made for each scene last time: its jobs' prompts, web-app
    pages and requests, reused while nothing they are made from has changed.

    A scene's key covers everything its outputs are made from, conservatively:
    the scene's own text and number; the rest of the script (settings, elements,
    ``use`` lines: the main file without its scenes), where it is (its path and
    project folder) and every ``use``d file;
    the template folder given with ``--templates`` (every file in it) and the
    pricing file given with ``--pricing``; and
    klingc itself (Python's version, each file of the package with its size and
    modification time, which covers the built-in templates, profiles and data,
    and the versions of Jinja2 and pydantic). Editing one scene renders only
    that scene again; editing a setting or an element renders them all. A scene
    whose prompts drew a diagnostic is not kept. One entry per script, holding
    the scenes of its last build (the ``MAX_BUILDS`` scripts built last are
    kept); plain data only (read with ``classes`` empty).
    """

    def __init__(self, entry: str, doc_key: str, keys: dict[int, str], stored: dict):
        self.entry = entry
        self.doc_key = doc_key      # the script without its scenes: its elements' requests
        self.keys = keys            # scene number -> key
        self.stored = stored        # key -> {(part, first shot, last shot): job outputs}
        self.new: dict = {}

    def elements(self, which: tuple):
        """The built element requests, if last time's elements were ``which`` (each
        element's name and model, in order: which scenes use them decides both)."""
        stored = self.stored.get(self.doc_key)
        if isinstance(stored, tuple) and len(stored) == 2 and stored[0] == which:
            return stored[1]
        return None

    def put_elements(self, which: tuple, built) -> None:
        self.new[self.doc_key] = (which, built)

    def get(self, job):
        key = self.keys.get(job.scene.number)
        scene = self.stored.get(key) if key else None
        if scene is None:
            return None
        return scene.get(_job_place(job))

    def put(self, job, outputs) -> None:
        key = self.keys.get(job.scene.number)
        if key is None:
            return
        self.new.setdefault(key, {})[_job_place(job)] = outputs

    def save(self) -> None:
        """Keep this build's scenes."""
        if self.new == self.stored:
            _touch(self.entry)   # used: kept longer than the memos of scripts not built lately
            return
        _store_and_prune(self.entry, "build-outputs", self.new, MAX_BUILDS)


def _job_place(job):
    shots = job.shots
    return (job.part, shots[0].number if shots else 0, shots[-1].number if shots else 0)


def build_memo(program, templates=None, pricing=None) -> Optional[BuildMemo]:
    """The memo of ``program``'s last build, or None when the cache is off or unusable."""
    if not enabled():
        return None
    import hashlib

    try:
        h = hashlib.sha256()
        for part in _klingc_stamp():
            h.update(part.encode() + b"\0")
        if templates:
            for root, dirs, files in sorted(os.walk(templates)):
                dirs.sort()
                for name in sorted(files):
                    path = os.path.join(root, name)
                    with open(path, "rb") as f:
                        h.update(os.path.relpath(path, templates).encode("utf-8", "surrogatepass") + b"\0")
                        h.update(f.read() + b"\0")
        if pricing:
            with open(pricing, "rb") as f:
                h.update(b"pricing\0" + f.read() + b"\0")
        main = program.main
        scenes = main.doc.scenes
        text = main.text
        rest, at = [], 0
        for scene in scenes:
            rest.append(text[at:scene.span.start])
            at = scene.span.end
        rest.append(text[at:])
        for where in (main.display, str(main.path), str(program.root)):
            h.update(where.encode("utf-8", "surrogatepass") + b"\0")
        h.update("".join(rest).encode("utf-8", "surrogatepass") + b"\0")
        for f in program.files.values():
            if f is not main:
                h.update(f.display.encode("utf-8", "surrogatepass") + b"\0")
                h.update(f.text.encode("utf-8", "surrogatepass") + b"\0")
        h.update(b"allow-outside" if program.allow_outside else b"inside")
        doc_key = "elements " + h.hexdigest()
        keys = {}
        for number, scene in enumerate(scenes, 1):
            k = h.copy()
            k.update(f"\0scene {number}\0".encode())
            k.update(text[scene.span.start:scene.span.end].encode("utf-8", "surrogatepass"))
            keys[number] = k.hexdigest()
        name = zlib.crc32(str(main.path).encode("utf-8", "surrogatepass"))
        entry = os.path.join(folder("build"), f"{name:08x}-{os.path.basename(str(main.path))[:40]}.pickle")
    except (OSError, UnicodeError, AttributeError):
        return None
    stored = _load(entry, "build-outputs", frozenset())
    return BuildMemo(entry, doc_key, keys, stored if isinstance(stored, dict) else {})


_stamp: Optional[list] = None


def _klingc_stamp() -> list:
    """The parser's fingerprint (Python, klingc and Lark, the grammar), then every file of the
    package and of Jinja2 and pydantic, as (size, modification time) stamps."""
    global _stamp
    if _stamp is None:
        parts = [fingerprint()]
        for root, dirs, files in os.walk(_PACKAGE):
            dirs[:] = sorted(d for d in dirs if d != "__pycache__")
            for name in sorted(files):
                path = os.path.join(root, name)
                parts.append(f"{os.path.relpath(path, _PACKAGE)}:{_file_stamp(path)}")
        parts += [_module_stamp(m) for m in ("jinja2", "pydantic", "pydantic_core")]
        _stamp = parts
    return _stamp


# -- entries ----------------------------------------------------------------------

def _load(entry: str, key, classes: frozenset):
    """The value stored under ``key`` in ``entry``, or None; only ``classes`` may be made."""
    import pickle

    class Restricted(pickle.Unpickler):
        def find_class(self, module, name):
            if (module, name) not in classes:
                raise pickle.UnpicklingError(f"{module}.{name} is not allowed in a cache entry")
            return super().find_class(module, name)

    try:
        with open(entry, "rb") as f:
            stored_key, value = Restricted(io.BytesIO(f.read())).load()
    except FileNotFoundError:
        return None
    except Exception:  # unreadable or corrupt: a miss; the entry is rewritten
        return None
    return value if stored_key == key else None


def _store(entry: str, key, value) -> bool:
    """Write ``(key, value)`` to ``entry`` atomically; False when it cannot be written."""
    import pickle

    try:
        from .files import write_atomic
        os.makedirs(os.path.dirname(entry), exist_ok=True)
        write_atomic(entry, pickle.dumps((key, value), protocol=pickle.HIGHEST_PROTOCOL), mode=0o600)
        return True
    except Exception:  # a cache that cannot be written is no cache, never an error
        return False


def _touch(entry: str) -> None:
    """Mark an entry as recently used."""
    try:
        os.utime(entry)
    except OSError:
        pass

"""klingc's on-disk cache: parse results, compiled templates, build outputs.

Parsing is most of the time ``klingc check`` takes, and Lark is the slowest
module it imports; rendering prompts is most of a build. The cache keeps, in
one content-keyed store (``store.py``), each in its namespace:

- **Parse results** (``parse``). What ``syntax.parse`` returned for a file read
  from disk (the syntax tree and the syntax diagnostics), keyed by the file's
  text and the path it is shown as. A hit needs neither Lark nor the grammar.
  An editor's unsaved buffers are not cached. At most ``MAX_ENTRIES`` are kept.
- **Templates** (``templates``). The prompt templates compiled by Jinja2
  (``templates/``, for ``klingc build``), keyed by the template's name and
  source (``template_cache``).
- **Build outputs** (``build``). What ``klingc build`` made for each scene
  (``BuildMemo``): a rebuild renders only the scenes that changed. One entry
  per script; at most ``MAX_BUILDS`` are kept.

Every key has klingc's own stamp mixed in (``stamp.py``: every file of the
package as installed, the grammar, Python's and Lark's versions), so a new
klingc, or an edited module or data file, never reads an entry an older one
wrote. Entries are authenticated with a key kept in the cache folder, and
written atomically; one that is missing, corrupt, truncated, of another key or
not authentic is a miss, and a cache that cannot be written is no error.

Where: ``$XDG_CACHE_HOME/klingscript`` (by default ``~/.cache/klingscript``);
``KLINGSCRIPT_NO_CACHE=1`` turns the cache off. Writes are made in this
process, when their result is known; a parse result is written as plain
tuples (``codec.py``), which takes half the time of pickling the tree's nodes.

More kinds of entry are more namespaces of the same store, each a pair of
functions here like ``parse``: ``store().get(namespace, key_parts, classes)``,
then on a miss ``store().put(namespace, key_parts, value, keep)``. The key
parts are whatever the value is made from; klingc's own stamp is already in
every key. A block's parse would be ``("block", (path, block_text, kind))``
with spans relative to the block (shifted to file coordinates after the
hit); a scene's compiled result ``("scene", (scene_text, settings_key,
elements_key, uses_key, profile, pricing, templates))``, the same entry for
the command line and the language server.
"""

from __future__ import annotations

import os

from .stamp import module_stamp, package_stamp
from .store import Store

MAX_ENTRIES = 200   # parse results
MAX_BUILDS = 50     # build memos (one per script; a feature-length one is about 2 MB)
MAX_TEMPLATES = 100

_stores: dict[str, Store] = {}


def enabled() -> bool:
    return not os.environ.get("KLINGSCRIPT_NO_CACHE")


def folder(*parts: str) -> str:
    base = os.environ.get("XDG_CACHE_HOME", "")
    if not os.path.isabs(base):  # unset, or relative (which the XDG spec says to ignore)
        local = os.environ.get("LOCALAPPDATA", "") if os.name == "nt" else ""
        base = local if os.path.isabs(local) else os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "klingscript", *parts)


def store() -> Store | None:
    """The store of this user's cache folder, or None when the cache is off or klingc's
    own files cannot be read."""
    if not enabled():
        return None
    root = folder()
    s = _stores.get(root)
    if s is None:
        try:
            s = _stores[root] = Store(root, package_stamp())
        except OSError:
            return None
    return s


# -- parse results ---------------------------------------------------------------

_ast_classes: frozenset | None = None


def _parse_classes() -> frozenset:
    """The classes a parse result is made of, by (module, name): the tree is plain tuples
    (``codec.py``), the diagnostics their own classes."""
    global _ast_classes
    if _ast_classes is None:
        from ..diagnostics import model as M
        from ..syntax import ast as A
        _ast_classes = frozenset((c.__module__, c.__name__) for c in (
            A.Span, M.Diagnostic, M.Label, M.Severity))
    return _ast_classes


def parse(text: str, path: str):
    """``syntax.parse(text, path)``, from the cache when it holds the result."""
    from ..syntax.parser import parse as parse_text

    s = store()
    if s is None:
        return parse_text(text, path)
    from . import codec

    key = (path, text)
    hit = s.get("parse", key, _parse_classes())
    if isinstance(hit, tuple) and len(hit) == 2:
        try:
            return codec.decode(hit[0]), list(hit[1])
        except Exception:   # authentic, but not a tree this klingc makes: parse again
            pass
    doc, diags = parse_text(text, path)
    try:
        encoded = codec.encode(doc)
    except ValueError:      # a tree the codec does not know: not cached
        return doc, diags
    s.put("parse", key, (encoded, tuple(diags)), MAX_ENTRIES)
    return doc, diags


# -- compiled templates ------------------------------------------------------------

def template_cache(jinja2):
    """A Jinja2 bytecode cache in the store (entries authenticated like every other:
    Jinja2's own ``FileSystemBytecodeCache`` runs whatever code it finds in its folder),
    or None when the cache is off."""
    s = store()
    if s is None:
        return None

    class StoreBytecodeCache(jinja2.BytecodeCache):
        def load_bytecode(self, bucket):
            code = s.get("templates", (bucket.key, bucket.checksum))
            if isinstance(code, bytes):
                bucket.bytecode_from_string(code)

        def dump_bytecode(self, bucket):
            s.put("templates", (bucket.key, bucket.checksum), bucket.bytecode_to_string(), MAX_TEMPLATES)

    return StoreBytecodeCache()


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
    klingc itself (the store's stamp: every file of the package, which covers
    the built-in templates, profiles and data; and the versions of Jinja2 and
    pydantic). Editing one scene renders only that scene again; editing a
    setting or an element renders them all. A scene whose prompts drew a
    diagnostic is not kept. One entry per script (keyed by its path), holding
    the scenes of its last build (the ``MAX_BUILDS`` scripts built last are
    kept); plain data only (read with no classes allowed).
    """

    def __init__(self, store: Store, where: tuple, doc_key: str, keys: dict[int, str], stored: dict):
        self.store = store
        self.where = where          # the entry's key parts: the script's path
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
        if not isinstance(scene, dict):
            return None
        return scene.get(_job_place(job))

    def put(self, job, outputs) -> None:
        key = self.keys.get(job.scene.number)
        if key is None:
            return
        self.new.setdefault(key, {})[_job_place(job)] = outputs

    def save(self) -> None:
        """Keep this build's scenes (only marked as used when nothing changed)."""
        if self.new == self.stored:
            self.store.touch("build", self.where)   # kept longer than the memos of scripts not built lately
            return
        self.store.put("build", self.where, self.new, MAX_BUILDS)


def _job_place(job):
    shots = job.shots
    return (job.part, shots[0].number if shots else 0, shots[-1].number if shots else 0)


def build_memo(program, templates=None, pricing=None, api=None, callback_url=None) -> BuildMemo | None:
    """The memo of ``program``'s last build, or None when the cache is off or unusable
    (``api``, ``callback_url``: ``--api`` and ``--callback-url``, in its key)."""
    s = store()
    if s is None:
        return None
    import hashlib

    try:
        h = hashlib.sha256()
        _hash_options(h, templates, pricing, api, callback_url)
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
        where = (str(main.path),)
    except (OSError, UnicodeError, AttributeError):
        return None
    stored = s.get("build", where)
    return BuildMemo(s, where, doc_key, keys, stored if isinstance(stored, dict) else {})


def _hash_options(h, templates=None, pricing=None, api=None, callback_url=None) -> None:
    """Feed ``h`` what a build depends on beyond the script and klingc's stamp: Jinja2's and
    pydantic's files, the profiles' fingerprint, the ``--templates`` folder (every file in it),
    the ``--pricing`` file, and ``--api`` and ``--callback-url`` when given. Raises OSError
    when a file cannot be read."""
    from ..files import read_regular
    from ..model import profiles

    for part in _build_stamp():
        h.update(part.encode() + b"\0")
    # Profiles from another folder (KLINGSCRIPT_PROFILES) are not part of klingc's stamp.
    h.update(profiles.fingerprint().encode("utf-8", "surrogatepass") + b"\0")
    if templates:
        for root, dirs, files in sorted(os.walk(templates)):
            dirs.sort()
            for name in sorted(files):
                path = os.path.join(root, name)
                data = read_regular(path, "data")
                h.update(os.path.relpath(path, templates).encode("utf-8", "surrogatepass") + b"\0")
                h.update(data + b"\0")
    if pricing:
        h.update(b"pricing\0" + read_regular(pricing, "data") + b"\0")
    if api is not None:
        h.update(b"api\0" + api.encode("utf-8", "surrogatepass") + b"\0")
    if callback_url is not None:
        h.update(b"callback_url\0" + callback_url.encode("utf-8", "surrogatepass") + b"\0")


def options_digest(templates=None, pricing=None, api=None, callback_url=None) -> str:
    """``_hash_options`` as a hex digest (OSError when an option's file cannot be read)."""
    import hashlib

    h = hashlib.sha256()
    _hash_options(h, templates, pricing, api, callback_url)
    return h.hexdigest()


_stamp: list | None = None


def _build_stamp() -> list:
    """What a build depends on beyond the store's stamp: Jinja2's and pydantic's files."""
    global _stamp
    if _stamp is None:
        _stamp = [module_stamp(m) for m in ("jinja2", "pydantic", "pydantic_core")]
    return _stamp

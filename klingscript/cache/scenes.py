"""Scene results: what ``klingc check`` keeps of each scene, to reuse it while the scene is unchanged.

The incremental check itself (which stages run on which blocks) is the
driver's: ``compiler.diagnose``. This module keeps its results: their keys,
their encoding, the entry of a script, and the whole-file shortcut.

A script's check is a document-level part (its settings, ``use`` files and
elements: the loader's diagnostics, ``resolve.declare``, ``check_document``,
and at the end ``resolve.unused``) and a part per scene (the scene block's
syntax diagnostics, ``resolve_scene``, ``check_scene``, ``lint_scene`` and, for
a scene without errors, the planner's). A scene's result is its diagnostics,
the names of the elements it uses (for KLS403, from the union of all scenes)
and its jobs' summary. It is keyed by:

- the scene block's text (not its number: no diagnostic of a scene names its
  number, so pasting a scene in the middle leaves the others' keys alone);
- the document context (``doc_key``): the script's path as shown and as it
  is, its project folder, ``--allow-outside``, the profiles' fingerprint, the
  text *and position* of every block that is not a scene (positions appear in
  other scenes' messages: KLS201's "declared at f.kls:3:11", KLS203's labels),
  and every ``use`` file's path and text;
- klingc's own stamp (mixed into every key by the store).

Spans inside the scene block are kept relative to the block's first line and
offset and moved on a hit (columns do not change); spans elsewhere (an
element's label) are kept as they are, which the document key makes safe.
A result whose texts quote a line of its own block (KLS104's "the first is at
line 193") is kept with that block's first line and reused only there.
The images a scene's checks looked at (``first frame:``…) are kept with the
result by size and modification time (a missing one by its folder's
listing, which KLS501's hint reads) and looked at again before a hit.

One store entry per script (keyed by its path) holds the scene results of its
last check and, for the whole-file shortcut, the whole text's key, what the
whole check depended on (``use`` files by content, images by signature) and
its final diagnostics: an unchanged script is answered without parsing.

The language server passes its ``Loader`` (the editor's buffers) and its
``memory``; a buffer unlike its file on disk keeps the check off the disk store.

Anything odd takes the full path (``None`` from ``check``): the cache off, a
main file that is not UTF-8 or holds a NUL byte, 100 or more syntax errors in
all (the file's cap), a scene block that does not parse as scenes.
"""

from __future__ import annotations

import hashlib
import os
import re

from . import store

MAX_SCRIPTS = 50
NAMESPACE = "scenes"


# -- diagnostics as plain data, spans inside a block relative to it ---------------------

def _enc_span(s, main: str, lo: int, hi: int, line: int, offset: int) -> tuple:
    if s.file == main and lo <= s.start <= hi:
        return (1, s.file, s.line - line, s.column, s.end_line - line, s.end_column,
                s.start - offset, s.end - offset)
    return (0, *s)


def _dec_span(t: tuple, line: int, offset: int):
    from ..syntax.ast import Span

    if t[0]:
        return _new(Span, (t[1], t[2] + line, t[3], t[4] + line, t[5], t[6] + offset, t[7] + offset))
    return _new(Span, t[1:])


# The records are rebuilt with tuple.__new__ (what NamedTuple._make does, without its
# Python-level call and length check: the store authenticated the data): decoding the
# feature script's 642 diagnostics takes 0.6 ms instead of 5.1 ms (bench/out/feature.kls,
# best of 20), a fifth of an unchanged ``klingc check``'s own work.
_new = tuple.__new__


def encode(diags, main: str = "", lo: int = 0, hi: int = -1, line: int = 0, offset: int = 0) -> tuple:
    """Diagnostics as plain tuples; spans of ``main`` within offsets ``lo..hi`` relative
    to ``line``/``offset``."""
    return tuple((d.code, d.severity.value, _enc_span(d.span, main, lo, hi, line, offset), d.message,
                  tuple((_enc_span(l.span, main, lo, hi, line, offset), l.message) for l in d.labels),
                  d.help) for d in diags)


def decode(data, line: int = 0, offset: int = 0) -> list:
    from ..diagnostics.model import Diagnostic, Label, Severity

    sev = {s.value: s for s in Severity}
    return [_new(Diagnostic, (code, sev[severity], _dec_span(span, line, offset), message,
                              tuple([_new(Label, (_dec_span(s, line, offset), m)) for s, m in labels])
                              if labels else (), help))
            for code, severity, span, message, labels, help in data]


# -- what a result depends on beyond texts ---------------------------------------------

_LINE_RE = re.compile(r"\bline (\d+)|:(\d+):\d+")


def quotes_lines(data: tuple, first: int, end: int) -> bool:
    """Whether encoded diagnostics quote, in their texts, a line of the block ``first..end``
    (KLS104's "the first is at line 193"): such a result holds only where it was made."""
    for _, _, _, message, labels, help in data:
        for t in (message, help or "", *(m for _, m in labels)):
            for m in _LINE_RE.finditer(t):
                if first <= int(m.group(1) or m.group(2)) < end:
                    return True
    return False


def signature(path) -> tuple:
    """A file's size, modification time and the path its links lead to (inside the project
    folder or not); for a missing one (or a link loop), its folder's listing."""
    try:
        st = os.stat(path)
        return ("file", st.st_size, st.st_mtime_ns, os.path.realpath(path))
    except OSError:
        try:
            return ("missing", tuple(sorted(os.listdir(os.path.dirname(path)))))
        except OSError:
            return ("missing", None)


def deps_hold(deps) -> bool:
    return all(signature(p) == sig for p, sig in deps)


def base_key(display: str, abspath, allow_outside: bool) -> tuple:
    """What a script's check depends on besides its text, its ``use`` files and its images:
    the whole-file key is ``digest(base_key(...), text)``, and the document key starts with it."""
    from ..model.profile_source import fingerprint

    abspath = str(abspath)
    return (display, abspath, os.path.dirname(abspath), bool(allow_outside), fingerprint())


def digest(*parts) -> str:
    """SHA-256 over the parts, each tagged and preceded by its length: a text by its UTF-8
    bytes (a script's 150 KB in 0.7 ms, where its ``repr`` takes 3 ms), anything else by
    its ``repr``."""
    h = hashlib.sha256()
    for p in parts:
        if isinstance(p, str):
            b, tag = p.encode("utf-8", "surrogatepass"), b"s"
        else:
            b, tag = repr(p).encode("utf-8", "surrogatepass"), b"r"
        h.update(tag + len(b).to_bytes(8, "little"))
        h.update(b)
    return h.hexdigest()


# -- the check -----------------------------------------------------------------

def unsaved(loader, path: os.PathLike, text: str, seen: dict | None = None) -> bool:
    """Whether ``text`` is an editor's buffer of ``path`` unlike the file on disk, or one that
    holds the value of an API secret (kept off the disk store, as an unsaved one is).

    ``seen``: a dict kept between calls (path -> the file's signature and text), so
    that a file not changed on disk since (by size and modification time) is not read
    again."""
    if path not in loader.overlays:
        return False
    from ..files import refuse_secrets
    try:
        refuse_secrets(path, text)
    except OSError:     # an editor's buffer holding a secret: never on disk (docs/decisions.md)
        return True
    sig = signature(path)
    if seen is not None and sig[0] == "file" and path in seen and seen[path][0] == sig:
        return seen[path][1] != text
    from ..files import read_regular
    try:
        data = read_regular(path, "script")
    except OSError:
        return True
    if seen is not None and sig[0] == "file":
        try:
            seen[path] = (sig, data.decode("utf-8", "surrogatepass"))
        except UnicodeError:
            seen.pop(path, None)
    try:
        return data != text.encode("utf-8", "surrogatepass")
    except UnicodeError:
        return True


class FullPath(Exception):
    pass


def block_entry(r) -> tuple | None:
    from . import codec

    try:
        items = tuple(codec.encode(i) for i in r.items)
    except ValueError:
        return None
    return (items, encode(r.syntax), encode(r.dedents), encode(r.built), r.errors)


def block_result(kept: tuple):
    from . import codec
    from ..syntax.parser import BlockResult

    items, syntax, dedents, built, errors = kept
    return BlockResult(tuple(codec.decode(i) for i in items), tuple(decode(syntax)), tuple(decode(dedents)),
                       tuple(decode(built)), errors, False)


def whole_deps(program, images: set) -> tuple:
    """What a whole-file result depends on beyond the script's text: each ``use`` file's path,
    name as shown and digest, and the signatures of ``images`` and of the ``use`` files looked
    for but not read (``whole_hit`` looks at both again)."""
    main = program.main.path
    uses = tuple((str(f.path), f.display, digest(f.text), os.path.realpath(f.path))
                 for f in program.files.values() if f.path != main)
    looked = images | (program.looked_for - set(program.files))
    return uses, tuple((str(p), signature(p)) for p in sorted(looked))


def deps_unchanged(uses, images, read) -> list | None:
    """The texts of the ``use`` files when what a whole-file result depended on
    (``whole_deps``) is as it was (each ``use`` file's text, read with ``read(path)``, and
    each image's signature); else None."""
    texts = []
    for p, _, want, real in uses:
        try:
            used = read(p)
        except OSError:
            return None
        if digest(used) != want or os.path.realpath(p) != real:   # the same text, led elsewhere
            return None
        texts.append(used)
    return texts if deps_hold(images) else None


def whole_hit(entry: dict, whole_key: str, abspath: os.PathLike, display: str, text: str, allow_outside: bool,
           loader):
    w = entry.get("whole")
    if not w or w[0] != whole_key:
        return None
    _, uses, images, diags = w[:4]
    summary = w[4] if len(w) > 4 else None   # the check's Figures (a build's entry has none)
    from pathlib import Path

    from ..compiler import Compilation
    from ..project import Program, SourceFile

    texts = deps_unchanged(uses, images, lambda p: loader.read(Path(p)))
    if texts is None:
        return None
    main = SourceFile(abspath, display, text, None)
    program = Program(abspath.parent, main, allow_outside=allow_outside)
    program.files[abspath] = main
    for (p, shown, *_), used in zip(uses, texts):
        program.files.setdefault(Path(p), SourceFile(Path(p), shown, used, None))
    return Compilation(program, None, None, decode(diags), summary=summary, whole=(whole_key, uses, images))

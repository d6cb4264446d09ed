"""Scene results: ``klingc check`` reusing the scenes unchanged since the last check.

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
from pathlib import Path
from typing import Optional

from . import store

MAX_SCRIPTS = 50
NAMESPACE = "scenes"
_CAP = 100   # syntax.parser._MAX_SYNTAX_ERRORS


# -- diagnostics as plain data, spans inside a block relative to it ---------------------

def _enc_span(s, main: str, lo: int, hi: int, line: int, offset: int) -> tuple:
    if s.file == main and lo <= s.start <= hi:
        return (1, s.file, s.line - line, s.column, s.end_line - line, s.end_column,
                s.start - offset, s.end - offset)
    return (0, *s)


def _dec_span(t: tuple, line: int, offset: int):
    from ..syntax.ast import Span

    if t[0]:
        return Span(t[1], t[2] + line, t[3], t[4] + line, t[5], t[6] + offset, t[7] + offset)
    return Span(*t[1:])


def encode(diags, main: str = "", lo: int = 0, hi: int = -1, line: int = 0, offset: int = 0) -> tuple:
    """Diagnostics as plain tuples; spans of ``main`` within offsets ``lo..hi`` relative
    to ``line``/``offset``."""
    return tuple((d.code, d.severity.value, _enc_span(d.span, main, lo, hi, line, offset), d.message,
                  tuple((_enc_span(l.span, main, lo, hi, line, offset), l.message) for l in d.labels),
                  d.help) for d in diags)


def decode(data, line: int = 0, offset: int = 0) -> list:
    from ..diagnostics.model import Diagnostic, Label, Severity

    return [Diagnostic(code, Severity(sev), _dec_span(span, line, offset), message,
                       tuple(Label(_dec_span(s, line, offset), m) for s, m in labels), help)
            for code, sev, span, message, labels, help in data]


# -- what a result depends on beyond texts ---------------------------------------------

_LINE_RE = re.compile(r"\bline (\d+)|:(\d+):\d+")


def _quotes_lines(data: tuple, first: int, end: int) -> bool:
    """Whether encoded diagnostics quote, in their texts, a line of the block ``first..end``
    (KLS104's "the first is at line 193"): such a result holds only where it was made."""
    for _, _, _, message, labels, help in data:
        for t in (message, help or "", *(m for _, m in labels)):
            for m in _LINE_RE.finditer(t):
                if first <= int(m.group(1) or m.group(2)) < end:
                    return True
    return False


def signature(path) -> tuple:
    """A file's size and modification time; for a missing one, its folder's listing."""
    try:
        st = os.stat(path)
        return ("file", st.st_size, st.st_mtime_ns)
    except OSError:
        try:
            return ("missing", tuple(sorted(os.listdir(os.path.dirname(path)))))
        except OSError:
            return ("missing", None)


def _deps_hold(deps) -> bool:
    return all(signature(p) == sig for p, sig in deps)


def _digest(*parts) -> str:
    h = hashlib.sha256()
    for p in parts:
        h.update(repr(p).encode("utf-8", "surrogatepass") + b"\0")
    return h.hexdigest()


# -- the check -----------------------------------------------------------------

def check(path, allow_outside: bool = False, memory: Optional[dict] = None, loader=None):
    """``compiler.check(path)``'s diagnostics as a ``compiler.Compilation``, reusing the scene
    results of the last check; None when the full path must be taken.

    The Compilation's program holds the files' texts (for rendering); its main
    document holds only the blocks parsed in this run (None after the whole-file
    shortcut), and ``production`` and ``plan`` are None: use the full path for
    anything but diagnostics.
    ``memory``: a dict kept by the caller (the language server) that holds the
    script's entry between calls, so that no disk read is needed.
    ``loader``: a ``project.Loader``, whose overlays (the editor's buffers) are read
    in place of the files on disk. A check that read a buffer unlike its file on
    disk (an unsaved one) neither reads nor writes the disk store, as for the parse
    cache: its entry lives in ``memory`` only.
    """
    from ..project import Loader, read_main

    s = store()
    if s is None:
        return None
    loader = loader if loader is not None else Loader()
    abspath, text = read_main(path, loader)
    if "\x00" in text or "\ufffd" in text:
        return None
    display = os.path.normpath(str(path))
    where = (str(abspath),)
    saved = not _unsaved(loader, abspath, text)
    entry = memory.get(where) if memory is not None else None
    if entry is None:
        entry = s.get(NAMESPACE, where) if saved else None
        if not isinstance(entry, dict):
            entry = {}
    from ..model import profiles

    base = (display, str(abspath), str(abspath.parent), bool(allow_outside), profiles.fingerprint())
    whole_key = _digest(base, text)
    try:
        done = _whole(entry, whole_key, abspath, display, text, allow_outside, loader)
    except Exception:   # an authentic entry of another shape: check again
        done = None
    if done is not None:
        if memory is not None:
            memory[where] = entry
        return done
    try:
        result = _scenes(entry, base, whole_key, abspath, display, text, allow_outside, loader)
    except _FullPath:
        return None
    if result is None:
        return None
    compilation, new_entry = result
    if new_entry != entry and saved and not any(
            _unsaved(loader, f.path, f.text) for f in compilation.program.files.values() if f.path != abspath):
        s.put(NAMESPACE, where, new_entry, MAX_SCRIPTS)
    if memory is not None:
        memory[where] = new_entry
    return compilation


def _unsaved(loader, path: Path, text: str) -> bool:
    """Whether ``text`` is an editor's buffer of ``path`` unlike the file on disk."""
    if path not in loader.overlays:
        return False
    try:
        with open(path, "rb") as f:
            return f.read() != text.encode("utf-8", "surrogatepass")
    except (OSError, UnicodeError):
        return True


class _FullPath(Exception):
    pass


def _block_entry(r) -> Optional[tuple]:
    from . import codec

    try:
        items = tuple(codec.encode(i) for i in r.items)
    except ValueError:
        return None
    return (items, encode(r.syntax), encode(r.dedents), encode(r.built), r.errors)


def _block_result(kept: tuple):
    from . import codec
    from ..syntax.parser import BlockResult

    items, syntax, dedents, built, errors = kept
    return BlockResult(tuple(codec.decode(i) for i in items), tuple(decode(syntax)), tuple(decode(dedents)),
                       tuple(decode(built)), errors, False)


def _whole(entry: dict, whole_key: str, abspath: Path, display: str, text: str, allow_outside: bool,
           loader):
    w = entry.get("whole")
    if not w or w[0] != whole_key:
        return None
    _, uses, images, diags = w
    from ..compiler import Compilation
    from ..project import Program, SourceFile

    files = []
    for p, shown, digest in uses:
        try:
            used = loader.read(Path(p))
        except OSError:
            return None
        if _digest(used) != digest:
            return None
        files.append(SourceFile(Path(p), shown, used, None))
    if not _deps_hold(images):
        return None
    main = SourceFile(abspath, display, text, None)
    program = Program(abspath.parent, main, allow_outside=allow_outside)
    program.files[abspath] = main
    for f in files:
        program.files.setdefault(f.path, f)
    return Compilation(program, None, None, decode(diags))


def _scenes(entry: dict, base: tuple, whole_key: str, abspath: Path, display: str, text: str,
            allow_outside: bool, loader):
    from ..compiler import Compilation, lower_clean, merge
    from ..passes import check as check_pass, lint, resolve
    from ..project import load_parsed
    from ..syntax import ast as A, blocks, parser as P
    from ..syntax.shapes import SCENE_HEAD_RE, is_blank, starts_block

    src = P._Source.of_file(text, display)
    lines = src.padded.split("\n")
    tabs: list = []
    P._scan_tabs(src, lines, tabs)
    comments = P._scan_comments(src, lines)
    cut = []   # (is scene, first padded line, first file offset, block text)
    for a, b in blocks.ranges(lines, 1, len(lines) - 1):
        if a > 1 or starts_block(lines[a]) or not all(map(is_blank, lines[a:b])):
            block = "\n".join(lines[a:b]) + "\n"
            cut.append((bool(SCENE_HEAD_RE.match(lines[a])), a, src.offset(a + 1, 1), block))
    errors = 0
    others = []
    old_blocks = entry.get("blocks")
    old_blocks = old_blocks if isinstance(old_blocks, dict) else {}
    new_blocks: dict = {}
    for is_scene, a, offset, block in cut:
        if not is_scene:
            # The blocks that are not scenes, where they are (their positions are in the
            # document key anyway): their parses, as they were.
            bkey = _digest(a, offset, block)
            kept = old_blocks.get(bkey)
            if kept is not None:
                r = _block_result(kept)
            else:
                r = P.parse_block(block, a, offset, display)
                if not r.capped:
                    kept = _block_entry(r)
            if kept is not None:
                new_blocks[bkey] = kept
            errors += r.errors
            if r.capped or errors >= _CAP:
                raise _FullPath
            others.append((a, r))
    doc, diags = P.assemble(display, text, len(lines) - 2, list(tabs), comments, [r for _, r in others])
    program = load_parsed(abspath, display, text, doc, diags, allow_outside, loader)
    doc_key = _digest(base, [(a, offset, block) for is_scene, a, offset, block in cut if not is_scene],
                      [(f.display, str(f.path), f.text) for f in program.files.values()
                       if f.path != abspath])
    stored = entry.get("scenes")
    stored = stored if isinstance(stored, dict) else {}
    new_scenes: dict = {}
    scene_diags: list = []
    used: set = set()
    has_scenes = False
    missed = []    # (key, block's first file line, offset, block end offset, BlockResult)
    block_lines: dict = {}
    results = []   # every block's result in order, the scenes parsed now among them
    for is_scene, a, offset, block in cut:
        if not is_scene:
            results.append(next(r for b, r in others if b == a))
            continue
        key = _digest(doc_key, block)
        hit = stored.get(key) or new_scenes.get(key)
        if hit is not None and _deps_hold(hit[5]) and hit[7] in (None, a):
            n, syntax, front, names, jobs, deps, count, _ = hit
            errors += count
            scene_diags.extend(decode(syntax + front, a, offset))
            used.update(names)
            has_scenes = has_scenes or n > 0
            new_scenes[key] = hit
            continue
        r = P.parse_block(block, a, offset, display)
        errors += r.errors
        if r.capped or not all(isinstance(i, A.Scene) for i in r.items):
            raise _FullPath
        missed.append((key, a, offset, offset + len(block), r))
        block_lines[key] = block.count("\n")
        results.append(r)
    if errors >= _CAP:
        raise _FullPath
    if missed:
        full, _ = P.assemble(display, text, len(lines) - 2, [], comments, results)
        main = program.main._replace(doc=full)
        program.main = main
        program.files[abspath] = main
        program.contexts = None
    front = resolve.declare(program) + check_pass.check_document(program)
    touched_doc = set(program.touched)
    computed = []
    for key, a, offset, end, r in missed:
        mine = list(r.syntax + r.dedents + r.built)
        refs_before = len(program.references)
        touched_before = set(program.touched)
        for scene in r.items:
            mine += resolve.resolve_scene(program, scene)
            mine += check_pass.check_scene(program, scene)
            mine += lint.lint_scene(program, scene)
        names = resolve.used_names(program.references[refs_before:])
        deps = tuple((str(p), signature(p)) for p in sorted(program.touched - touched_before))
        computed.append((key, r, mine, names, deps, a, offset, end))
        used.update(names)
        has_scenes = has_scenes or bool(r.items)
    # Plan the scenes parsed now that have no errors, each on its own.
    everything = merge(program.diagnostics, front, tabs, *(c[2] for c in computed))
    production = lower_clean(program, everything)
    planned: dict = {}
    if production is not None:
        from ..planner.pricing import load_pricing
        from ..planner.scene import make_plan

        prices = load_pricing()
        for scene in production.scenes:
            plan = make_plan(production._replace(scenes=(scene,)), None, prices)
            jobs = tuple((j.part, j.parts, j.duration, j.credits, tuple(j.shot_numbers), j.endpoint)
                         for j in plan.jobs)
            planned[scene.span.start] = (list(plan.diagnostics), jobs)
    for key, r, mine, names, deps, a, offset, end in computed:
        plan_diags, jobs = [], ()
        for scene in r.items:
            p = planned.get(scene.head_span.start)
            if p is not None:
                plan_diags += p[0]
                jobs += p[1]
        syntax = encode(list(r.syntax + r.dedents + r.built), display, offset, end, a, offset)
        rest = encode([d for d in mine[len(r.syntax + r.dedents + r.built):]] + plan_diags,
                      display, offset, end, a, offset)
        at = a if _quotes_lines(syntax + rest, a, a + block_lines[key]) else None
        new_scenes[key] = (len(r.items), syntax, rest, tuple(sorted(names)), jobs, deps, r.errors, at)
        scene_diags.extend(r.syntax + r.dedents + r.built)
        scene_diags.extend(mine[len(r.syntax + r.dedents + r.built):])
        scene_diags.extend(plan_diags)
    final = merge(program.diagnostics, front, resolve.unused(program, used, has_scenes), scene_diags)
    images = set(touched_doc)
    for hit in new_scenes.values():
        images.update(Path(p) for p, _ in hit[5])
    uses = tuple((str(f.path), f.display, _digest(f.text)) for f in program.files.values()
                 if f.path != abspath)
    deps = tuple((str(p), signature(p)) for p in sorted(images | (program.looked_for - set(program.files))))
    new_entry = {"whole": (whole_key, uses, deps, encode(final)), "scenes": new_scenes,
                 "blocks": new_blocks}
    return Compilation(program, None, None, final), new_entry

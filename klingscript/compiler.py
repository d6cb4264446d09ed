"""The pipeline, top to bottom: the one driver behind every command and the language server.

    load   the script and its ``use`` files, each parsed            project.load_program
    check  resolve, check, lint: every problem, never the first     passes/
    lower  the scenes without front-end errors, as a production     lower.lower
    plan   jobs, splits, cost, and the planner's diagnostics        planner
    emit   prompts, API requests and plan.json                      backends

``compile_script`` runs the stages in that order and returns one
``Compilation``. ``klingc check`` and the language server stop after the plan
(so a script that checks clean builds: the planner's problems are found
there too); ``build``, ``cost`` and ``render`` go on to emit, ``prompt`` to
the prompts, and only when nothing before them is an error.

Nothing here prints: commands render the diagnostics and choose exit codes.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import NamedTuple, Optional

from .diagnostics.model import Diagnostic, Severity, has_errors, sort_key
from .project import Loader, Program, load_program
from .syntax.positions import line_breaks

# How far ``compile_script`` goes after the plan.
PROMPTS = "prompts"      # each job's prompts and web-app page, from the templates
OUTPUTS = "outputs"      # and the API requests and plan.json (``Compilation.output``)


class SetupError(Exception):
    """A ``--templates`` folder or ``--pricing`` file that cannot be used (a usage error)."""


class Compilation(NamedTuple):
    program: Program
    production: object           # lower.Production of the scenes planned, or None
    plan: object                 # planner's Plan, or None when nothing was planned
    diagnostics: list            # every stage's, sorted and without repeats
    output: object = None        # backends' Output (plan.json data, requests, prompts) with OUTPUTS
    summary: object = None       # the incremental check's Figures (it has no plan), or None
    whole: object = None         # the incremental check's (whole-file key, use files, images):
                                 # what its result depends on (cache/scenes.py), or None

    @property
    def ok(self) -> bool:
        return not has_errors(self.diagnostics)


class Figures(NamedTuple):
    """What ``klingc check`` says of a script that checks clean: its scenes, jobs and seconds, and
    the jobs' estimated cost (``cost``: ``{"units", "usd", "credits"}``, added up as plan.json's
    totals are; ``units`` and ``usd`` when the pricing has them)."""
    scenes: int
    jobs: int
    seconds: int
    cost: dict
    currency: str
    estimate: bool


def job_figures(job, prices: dict) -> tuple:
    """A planned job's (seconds, cost) as the incremental check keeps them with its scene."""
    from .planner.pricing import cost

    s = job.settings
    return job.duration, cost(prices, job.profile.model_name, s.resolution, s.audio, job.duration, job.credits)


def add_figures(scenes: int, jobs: list, prices: dict) -> Figures:
    """The Figures of ``scenes`` scenes whose jobs' ``job_figures`` are ``jobs``."""
    from .planner.pricing import number

    costs = [c for _, c in jobs]
    total = {}
    for key in ("units", "usd"):
        if costs and all(key in c for c in costs):
            total[key] = number(round(sum(c[key] for c in costs), 4))
    total["credits"] = number(sum(c.get("credits", 0) for c in costs))
    return Figures(scenes, len(jobs), sum(d for d, _ in jobs), total, prices.get("currency", "credits"),
                   bool(prices.get("credits_are_estimates", True)))


def figures(c: Compilation) -> Optional[Figures]:
    """The Figures of a check without errors: from the plan, or the incremental check's summary
    (None where neither is known)."""
    if c.summary is not None:
        return Figures(*c.summary)
    if c.program.main.doc is None:
        return None
    from .planner.pricing import load_pricing

    prices = c.plan.pricing if c.plan is not None else load_pricing()
    jobs = [job_figures(j, prices) for j in c.plan.jobs] if c.plan is not None else []
    return add_figures(len(c.program.main.doc.scenes), jobs, prices)


def compile_script(path: str | os.PathLike, *, allow_outside: bool = False, loader: Optional[Loader] = None,
                   templates: Optional[str] = None, pricing: Optional[str] = None,
                   emit: Optional[str] = None, texts: bool = False, memo: bool = True,
                   api: Optional[str] = None, callback_url: Optional[str] = None) -> Compilation:
    """Run the pipeline on ``path``.

    ``templates``/``pricing``: a prompt-template folder and a pricing file in place of the
    built-in ones. ``emit``: go on to ``PROMPTS`` or ``OUTPUTS`` when the script has no
    errors; ``texts``: with the requests' JSON texts too (``klingc build`` writes them);
    ``memo``: take the outputs of scenes unchanged since the last build from the cache.
    ``api``: the API generation (``current`` or ``legacy``) in place of the script's ``api:``
    setting (``--api``); ``callback_url``: Kling's callback option for every job
    (``build --callback-url``); both are in the build memo's key.

    Raises ``project.InputError`` when ``path`` itself cannot be read, and
    ``SetupError`` for unusable templates or pricing.
    """
    prices = _pricing(pricing)
    renderer = _renderer(templates)
    program = load_program(path, allow_outside=allow_outside, loader=loader)
    program.api = api          # read by model.context (the document's `api:`, overridden)
    front = front_end(program)
    production = lower_clean(program, front, whole=emit is not None)
    plan = None
    diagnostics = front
    if production is not None:
        from .model import context

        plan = _plan(production, renderer, prices)._replace(api=context.of(program).settings.api,
                                                             callback_url=callback_url)
        diagnostics = merge(front, plan.diagnostics)
    if emit is None or plan is None or has_errors(diagnostics):
        return Compilation(program, production, plan, diagnostics)
    return _emit(Compilation(program, production, plan, diagnostics), renderer, emit, texts,
                 memo, templates, pricing, api, callback_url)


def check(path: str | os.PathLike, *, allow_outside: bool = False,
          loader: Optional[Loader] = None) -> Compilation:
    """``klingc check``: every stage up to the plan."""
    return compile_script(path, allow_outside=allow_outside, loader=loader)


def diagnose(path: str | os.PathLike, *, allow_outside: bool = False,
             memory: Optional[dict] = None, loader: Optional[Loader] = None) -> Compilation:
    """``klingc check``'s diagnostics, the same as ``check``'s, with scenes as the unit of work:
    the results of the scenes unchanged since the last check are reused (kept by
    ``cache/scenes.py``), and an unchanged script is answered without parsing. The
    Compilation holds the files' texts and the diagnostics only (no production or
    plan), unless the full path was taken.

    ``memory``: a dict the caller keeps between calls (the language server's), so that
    an edit needs no disk read; ``loader``: one with the editor's buffers as overlays."""
    done = _incremental(path, allow_outside, memory, loader)
    if done is not None:
        return done
    return check(path, allow_outside=allow_outside, loader=loader)


# -- the stages ---------------------------------------------------------------------

def front_end(program: Program) -> list[Diagnostic]:
    """Resolve, check and lint ``program``: its diagnostics, the loader's included."""
    from .passes import check as check_pass, lint, resolve

    for p in (resolve, check_pass, lint):
        program.diagnostics.extend(p.run(program))
    program.diagnostics = merge(program.diagnostics)
    return program.diagnostics


def lower_clean(program: Program, diagnostics: list[Diagnostic], whole: bool = False):
    """The production of the main file's scenes that have no front-end errors, or None.

    Scenes with errors are left out: their durations and references are not known well
    enough to plan. Without scenes there is nothing to plan (so checking a cast file
    loads neither the planner nor the templates), unless ``whole`` asks for a plan anyway.
    """
    from .lower import lower

    doc = program.main.doc
    if not doc.scenes and not whole:
        return None
    main = program.main.display
    errors = [d.span for d in diagnostics if d.severity is Severity.ERROR and d.span.file == main]
    clean = set()
    for number, scene in enumerate(doc.scenes, 1):
        s = scene.span
        if not any(s.start <= e.start < max(s.end, s.start + 1) for e in errors):
            clean.add(number)
    if not clean and not whole:
        return None
    return lower(program, scenes=clean)


def _plan(production, renderer, prices):
    from .backends.prompts import TemplateError
    from .planner.scene import make_plan

    try:
        return make_plan(production, renderer, prices)
    except TemplateError as e:
        raise SetupError(f"template error: {e}") from None


def _emit(c: Compilation, renderer, emit: str, texts: bool, memo: bool,
          templates: Optional[str], pricing: Optional[str], api: Optional[str] = None,
          callback_url: Optional[str] = None) -> Compilation:
    """Render the prompts (and with ``OUTPUTS`` the requests and plan.json) of a clean plan."""
    from . import cache
    from .backends.prompts import Renderer, TemplateError
    from .backends.emit import finish

    requests = emit == OUTPUTS
    # Scenes unchanged since the last build are taken from it (see cache.BuildMemo).
    build_memo = cache.build_memo(c.program, templates, pricing, api, callback_url) \
        if requests and memo else None
    try:
        plan = finish(c.plan, renderer or Renderer, requests=requests, texts=texts, memo=build_memo)
    except TemplateError as e:
        raise SetupError(f"template error: {e}") from None
    diagnostics = merge(c.diagnostics, plan.diagnostics)
    c = c._replace(plan=plan, diagnostics=diagnostics)
    if not requests or has_errors(diagnostics):
        return c
    from .backends.emit import plan_json

    output = plan_json(plan, texts=texts)
    problems = _api_problems(output)
    if problems:
        return c._replace(diagnostics=merge(diagnostics, problems))
    if build_memo is not None:
        build_memo.save()
    return c._replace(output=output)


def _api_problems(output) -> list[Diagnostic]:
    """KLS308 for each request that breaks a rule of Kling's API (the last check before sending)."""
    from .diagnostics.codes import make

    out = []
    for owner, problem in output.problems:
        if hasattr(owner, "scene"):
            where, what = owner.scene.title_span, f"scene {owner.scene.number}, part {owner.part}"
        else:
            where, what = owner.span, f"element {owner.name}"
        out.append(make("KLS308", where, f"the request of {what} breaks a Kling API rule: {problem}"))
    return out


# -- the incremental check: scenes as the unit of work ------------------------------

def _incremental(path, allow_outside: bool, memory: Optional[dict], loader):
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
    from .cache import scenes as S
    from .project import read_main

    s = S.store()
    if s is None:
        return None
    loader = loader if loader is not None else Loader()
    abspath, text = read_main(path, loader)
    if "\x00" in text or "\ufffd" in text:
        return None
    display = os.path.normpath(str(path))
    where = (str(abspath),)
    # What only speeds up the next call (kept in ``memory``, never on disk): see _Memo.
    memo = _Memo.of(memory, where)
    saved = not S.unsaved(loader, abspath, text, memo.disk)
    entry = memory.get(where) if memory is not None else None
    if entry is None:
        entry = s.get(S.NAMESPACE, where) if saved else None
        if not isinstance(entry, dict):
            entry = {}
    base = S.base_key(display, abspath, allow_outside)
    whole_key = S.digest(base, text)
    try:
        done = S.whole_hit(entry, whole_key, abspath, display, text, allow_outside, loader)
    except Exception:   # an authentic entry of another shape: check again
        done = None
    if done is not None:
        if memory is not None:
            memory[where] = entry
        return done
    try:
        result = _scene_results(entry, base, whole_key, abspath, display, text, allow_outside, loader, memo)
    except S.FullPath:
        return None
    if result is None:
        return None
    compilation, new_entry = result
    if new_entry != entry and saved and not any(
            S.unsaved(loader, f.path, f.text, memo.disk) for f in compilation.program.files.values()
            if f.path != abspath):
        s.put(S.NAMESPACE, where, new_entry, S.MAX_SCRIPTS)
    if memory is not None:
        memory[where] = new_entry
    return compilation


def _scene_results(entry: dict, base: tuple, whole_key: str, abspath: Path, display: str, text: str,
                   allow_outside: bool, loader, memo: "_Memo"):
    """The check of ``text`` from its blocks: the scene results kept in ``entry`` where a
    scene is unchanged, the stages run on the others; (Compilation, the new entry)."""
    from .cache import scenes as S
    from .passes import check as check_pass, lint, resolve
    from .project import load_parsed
    from .syntax import ast as A, parser as P

    line_count, tabs, comments, cut = memo.split(text, display)
    # cut: (is scene, first padded line, first file offset, block text) of each block
    errors = 0
    others = []
    old_blocks = entry.get("blocks")
    old_blocks = old_blocks if isinstance(old_blocks, dict) else {}
    new_blocks: dict = {}
    for is_scene, a, offset, block in cut:
        if not is_scene:
            # The blocks that are not scenes, where they are (their positions are in the
            # document key anyway): their parses, as they were.
            bkey = memo.key((a, offset, block), a, offset, block)
            kept = old_blocks.get(bkey)
            if kept is not None:
                r = memo.block(bkey, kept)
            else:
                r = P.parse_block(block, a, offset, display)
                if not r.capped:
                    kept = S.block_entry(r)
            if kept is not None:
                new_blocks[bkey] = kept
            errors += r.errors
            if r.capped or errors >= P.MAX_SYNTAX_ERRORS:
                raise S.FullPath
            others.append((a, r))
    doc, diags = P.assemble(display, text, line_count, list(tabs), comments, [r for _, r in others])
    program = load_parsed(abspath, display, text, doc, diags, allow_outside, loader)
    if program.refused_secret:      # depends on the environment: not kept (project._load_uses)
        raise S.FullPath
    doc_key = S.digest(base, [(a, offset, block) for is_scene, a, offset, block in cut if not is_scene],
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
    in_order = []  # each scene block's (scenes, jobs) if kept, its key if parsed now
    rest = iter(others)   # the blocks that are not scenes, in the same order as in ``cut``
    for is_scene, a, offset, block in cut:
        if not is_scene:
            results.append(next(rest)[1])
            continue
        key = memo.key((doc_key, block), doc_key, block)
        hit = stored.get(key) or new_scenes.get(key)
        if hit is not None and S.deps_hold(hit[5]) and hit[7] in (None, a):
            n, syntax, front, names, jobs, deps, count, _ = hit
            in_order.append((n, jobs))
            errors += count
            scene_diags.extend(memo.decoded(key, syntax + front, a, offset))
            used.update(names)
            has_scenes = has_scenes or n > 0
            new_scenes[key] = hit
            continue
        r = P.parse_block(block, a, offset, display)
        errors += r.errors
        if r.capped or not all(isinstance(i, A.Scene) for i in r.items):
            raise S.FullPath
        missed.append((key, a, offset, offset + len(block), r))
        in_order.append(key)
        block_lines[key] = block.count("\n")
        results.append(r)
    if errors >= P.MAX_SYNTAX_ERRORS:
        raise S.FullPath
    if missed:
        full, _ = P.assemble(display, text, line_count, [], comments, results)
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
        deps = tuple((str(p), S.signature(p)) for p in sorted(program.touched - touched_before))
        computed.append((key, r, mine, names, deps, a, offset, end))
        used.update(names)
        has_scenes = has_scenes or bool(r.items)
    # Plan the scenes parsed now that have no errors, each on its own.
    everything = merge(program.diagnostics, front, tabs, *(c[2] for c in computed))
    production = lower_clean(program, everything)
    planned: dict = {}
    from .planner.pricing import load_pricing

    prices = load_pricing()
    if production is not None:
        from .planner.scene import make_plan

        for scene in production.scenes:
            plan = make_plan(production._replace(scenes=(scene,)), None, prices)
            jobs = tuple((j.part, j.parts, j.duration, j.credits, tuple(j.shot_numbers), j.endpoint,
                          job_figures(j, prices)) for j in plan.jobs)
            planned[scene.span.start] = (list(plan.diagnostics), jobs)
    for key, r, mine, names, deps, a, offset, end in computed:
        plan_diags, jobs = [], ()
        for scene in r.items:
            p = planned.get(scene.head_span.start)
            if p is not None:
                plan_diags += p[0]
                jobs += p[1]
        syntax = S.encode(list(r.syntax + r.dedents + r.built), display, offset, end, a, offset)
        rest = S.encode([d for d in mine[len(r.syntax + r.dedents + r.built):]] + plan_diags,
                      display, offset, end, a, offset)
        at = a if S.quotes_lines(syntax + rest, a, a + block_lines[key]) else None
        new_scenes[key] = (len(r.items), syntax, rest, tuple(sorted(names)), jobs, deps, r.errors, at)
        scene_diags.extend(r.syntax + r.dedents + r.built)
        scene_diags.extend(mine[len(r.syntax + r.dedents + r.built):])
        scene_diags.extend(plan_diags)
    final = merge(program.diagnostics, front, resolve.unused(program, used, has_scenes), scene_diags)
    scene_count, job_figs = 0, []
    for kept in in_order:
        if not isinstance(kept, tuple):
            kept = (new_scenes[kept][0], new_scenes[kept][4])
        n, jobs = kept
        scene_count += n
        job_figs += [j[6] for j in jobs]
    summary = tuple(add_figures(scene_count, job_figs, prices)) if not has_errors(final) else None
    images = set(touched_doc)
    for hit in new_scenes.values():
        images.update(Path(p) for p, _ in hit[5])
    uses, deps = S.whole_deps(program, images)
    new_entry = {"whole": (whole_key, uses, deps, memo.encoded(final), summary), "scenes": new_scenes,
                 "blocks": new_blocks}
    memo.done()
    return Compilation(program, None, None, final, summary=summary, whole=(whole_key, uses, deps)), new_entry


class _Memo:
    """What the incremental check keeps of its last call, in the caller's ``memory`` only,
    to do less on the next: the last text and its blocks (so that an edit is cut again
    only around the change), the keys of the blocks (their digests), the scene
    diagnostics as decoded where they were, and the texts of the files on disk (for
    ``cache.scenes.unsaved``). None of it decides a result: each is what it stands for,
    looked up by what it is computed from. Without ``memory``, an empty one."""

    def __init__(self):
        self.last = None          # (display, text, (line count, tabs, comments, blocks))
        self.keys: dict = {}      # what is hashed -> its digest (the last call's)
        self.new_keys: dict = {}
        self.diags: dict = {}     # (scene key, line, offset) -> its decoded diagnostics;
        self.new_diags: dict = {}  # a block's key -> its BlockResult; a diagnostic -> its encoding
        self.disk: dict = {}      # path -> (signature, text) of files read from disk

    @classmethod
    def of(cls, memory: Optional[dict], where: tuple) -> "_Memo":
        if memory is None:
            return cls()
        memo = memory.get(("memo",) + where)
        if not isinstance(memo, cls):
            memo = memory[("memo",) + where] = cls()
        return memo

    def split(self, text: str, display: str) -> tuple:
        """``syntax.parser.split_file(text, display)``'s (line count, tabs, comments,
        blocks as tuples), cut again only around the change since the last call."""
        from .syntax import parser as P

        out = None
        if self.last is not None and self.last[0] == display:
            out = _resplit(self.last[1], self.last[2], text, display)
        if out is None:
            split = P.split_file(text, display)
            out = (len(split.lines) - 2, split.tabs, split.comments, [tuple(b) for b in split.blocks])
        self.last = (display, text, out)
        return out

    def key(self, memo_key, *parts) -> str:
        from .cache.scenes import digest

        k = self.keys.get(memo_key) or self.new_keys.get(memo_key)
        if k is None:
            k = digest(*parts)
        self.new_keys[memo_key] = k
        return k

    def decoded(self, key: str, data: tuple, line: int, offset: int) -> list:
        from .cache.scenes import decode

        at = (key, line, offset)
        d = self.diags.get(at)
        if d is None:
            d = decode(data, line, offset)
        self.new_diags[at] = d
        return d

    def block(self, key: str, kept: tuple):
        from .cache.scenes import block_result

        r = self.diags.get(key) or self.new_diags.get(key)
        if r is None:
            r = block_result(kept)
        self.new_diags[key] = r
        return r

    def encoded(self, diags: list) -> tuple:
        from .cache.scenes import encode

        out = []
        for d in diags:
            e = self.diags.get(d) or self.new_diags.get(d)
            if e is None:
                e = encode([d])[0]
            self.new_diags[d] = e
            out.append(e)
        return tuple(out)

    def done(self) -> None:
        """Keep what this call used, for the next one (and nothing older)."""
        self.keys, self.new_keys = self.new_keys, {}
        self.diags, self.new_diags = self.new_diags, {}


def _resplit(old: str, cut: tuple, new: str, display: str):
    """The blocks of ``new`` (as ``_Memo.split`` gives them) from those of ``old``: the
    blocks before the change as they were, those after it moved, and only the blocks
    around the change cut again (by ``split_file``). None where that is not simple
    (no change, a change at the file's start, a byte-order mark where the cut starts)."""
    from .syntax import parser as P

    n0, n1 = len(old), len(new)
    if new.startswith("\ufeff") or old.startswith("\ufeff"):
        return None
    p = _common(old, new, n0, n1, lambda m: new.startswith(old[:m]))
    if p == 0 or p == n0 == n1:
        return None
    s = _common(old, new, n0 - p, n1 - p, lambda m: new.endswith(old[n0 - m:]))
    _, tabs, comments, blocks = cut
    # The block that holds the character before the change starts at a line start that
    # the change leaves alone; the first block that starts (with its line end before
    # it) after the change ends is only moved.
    i = next((k for k in range(len(blocks) - 1, -1, -1) if blocks[k][2] <= p - 1), None)
    if i is None:
        return None
    start, first = blocks[i][2], blocks[i][1]
    j = next((k for k in range(i + 1, len(blocks)) if blocks[k][2] > n0 - s), len(blocks))
    end0 = blocks[j][2] if j < len(blocks) else n0
    delta = n1 - n0
    region = new[start:end0 + delta]
    if region.startswith("\ufeff"):    # not a byte-order mark there: split_file would take it for one
        return None
    lines = line_breaks(new, start, end0 + delta) - line_breaks(old, start, end0)
    got = P.split_file(region, display)
    shift = first - 1

    def moved(span, dl, do):
        return span._replace(line=span.line + dl, end_line=span.end_line + dl, start=span.start + do,
                             end=span.end + do)

    def merged(items, made):
        before = [x for x in items if x.span.start < start]
        after = [x._replace(span=moved(x.span, lines, delta)) for x in items if x.span.start >= end0]
        return before + [x._replace(span=moved(x.span, shift, start)) for x in made] + after

    new_blocks = (blocks[:i] + [(b.is_scene, b.line + shift, b.offset + start, b.text) for b in got.blocks]
                  + [(sc, a + lines, o + delta, t) for sc, a, o, t in blocks[j:]])
    line_count = line_breaks(new) + (0 if new.endswith(("\n", "\r")) else 1)
    return line_count, merged(tabs, got.tabs), merged(comments, got.comments), new_blocks


def _common(old: str, new: str, n0: int, n1: int, same) -> int:
    """The longest ``m <= min(n0, n1)`` for which ``same(m)`` (a prefix or suffix test)."""
    lo, hi = 0, min(n0, n1)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if same(mid):
            lo = mid
        else:
            hi = mid - 1
    return lo


# -- the incremental build: scenes as the unit of work for ``klingc build`` too ------------

class Build(NamedTuple):
    """A build made from the outputs of the scenes unchanged since the last build and the
    stages run on the others (``build_incremental``)."""
    program: Program             # as ``diagnose`` leaves it: the files' texts
    diagnostics: list            # every stage's (none an error)
    files: dict                  # the build folder's files: relative path -> text
    plan: dict                   # plan.json's data, its jobs left out (in the files)
    whole: tuple                 # (use files, images) the check depended on (``cache.builds.record``)


def build_incremental(path: str | os.PathLike, *, allow_outside: bool = False,
                      templates: Optional[str] = None, pricing: Optional[str] = None,
                      api: Optional[str] = None, callback_url: Optional[str] = None) -> Optional[Build]:
    """``klingc build``'s files and diagnostics, the same as ``compile_script(emit=OUTPUTS)``'s
    and ``build_files``', with scenes as the unit of work: the check runs as ``diagnose`` (the
    scene results of unchanged scenes reused); the scenes whose outputs the last build did not
    leave (``cache/builds.py``, keyed by ``scenes_of``: the edited ones, which the check parsed)
    are lowered, planned and emitted; plan.json is assembled from every scene's outputs.
    A build's outputs do not depend on the images' contents (only their diagnostics do, which
    the check looks at again): a scene checked again because an image changed keeps its outputs.

    None when the full path must be taken: the cache off, nothing kept of a last build,
    ``--templates`` (the check measures prompts with the built-in templates), any error, a
    scene whose rendering or request draws a diagnostic, elements whose first use moved to an
    unchanged scene, a scene to emit that the check did not parse, ``api`` (``--api``: the
    check's results it reuses are made for the script's own ``api:``; the full path takes the
    build memo, whose key has it), or anything the check's incremental path does not take.
    ``callback_url`` (``--callback-url``) is written into the scenes emitted, and is in the
    scenes' keys."""
    from .cache import builds as CB
    from .project import InputError

    if templates or api is not None:
        return None
    old = CB.stored_parts(os.path.abspath(path))
    if not old:         # never built (with the cache on): the full path, without a check before it
        return None
    try:
        prices = _pricing(pricing)
        memory: dict = {}
        c = _incremental(path, allow_outside, memory, None)
    except (InputError, SetupError):
        return None
    if c is None or has_errors(c.diagnostics):
        return None
    # The check's entry of the script (``memory`` also holds its _Memo, under ("memo", path)).
    entries = [v for k, v in memory.items() if k[0] != "memo"]
    if len(entries) != 1:
        return None
    (check_entry,) = entries
    program = c.program
    scenes = CB.scenes_of(program, allow_outside, templates, pricing, None, callback_url)
    if scenes is None or not scenes.keys:
        return None
    n_scenes = len(scenes.keys)
    try:
        same_doc = old.get("doc") == scenes.doc_key
        kept = old["scenes"] if same_doc else {}
        parts = {n: kept[k] for n, k in enumerate(scenes.keys, 1) if k in kept}
        if not parts:     # nothing to reuse: the full path (which keeps the build memo too)
            return None
        # The scenes parsed in this run (those the check did not take from its results).
        import bisect

        starts = [b.offset for b in scenes.blocks]
        parsed: dict = {}
        for scene in (program.main.doc.scenes if program.main.doc is not None else ()):
            n = bisect.bisect_right(starts, scene.span.start)
            if n < 1 or n in parsed:
                return None
            parsed[n] = scene
        fresh = sorted(set(range(1, n_scenes + 1)) - set(parts))
        if not set(fresh) <= set(parsed):    # a scene to emit whose check was reused: not parsed
            return None
        head = old.get("head") if same_doc else None
        which_old, entries_old = old.get("elements", ((), [])) if same_doc else ((), [])
        fresh_elements: dict = {}
        new: dict = {}
        if fresh:
            at = {n: i for i, n in enumerate(sorted(parsed), 1)}   # place in the check's document
            done = _emit_scenes(program, {at[n]: n for n in fresh}, prices, n_scenes, c.diagnostics,
                                callback_url)
            if done is None:
                return None
            new, head, fresh_elements = done
        parts.update(new)
        ordered = [parts[n] for n in range(1, n_scenes + 1)]
        which = CB.elements_of(ordered)
        if which == which_old:
            elements = entries_old
        else:
            elements = [fresh_elements[w] for w in which if w in fresh_elements]
            if len(elements) != len(which):
                return None
        files, data = CB.assemble(ordered, elements, head)
        whole = tuple(check_entry["whole"][1:3])
    except (KeyError, TypeError, ValueError, AttributeError, IndexError):   # an authentic entry of another shape
        return None
    CB.keep_parts(program.main.path, scenes, parts, (which, elements), head, old)
    return Build(program, c.diagnostics, files, data, whole)


def _emit_scenes(program: Program, numbers: dict, prices, n_scenes: int, diagnostics: list,
                 callback_url: Optional[str] = None):
    """Lower, plan and emit some scenes of ``program``'s document (which holds the scenes
    parsed by the incremental check): ``numbers`` maps a scene's place in the document to
    its number in the script. Returns their outputs by number (``cache.builds.parts_of``),
    (title, source, currency) and {(name, model, endpoint): plan.json element entry}; None
    when one draws a diagnostic the check did not, or breaks an API rule."""
    from .backends.emit import _element_profiles, finish, plan_json
    from .backends.prompts import Renderer
    from .cache import builds as CB
    from .lower import lower
    from .planner.scene import make_plan

    production = lower(program, scenes=set(numbers))
    if [s.number for s in production.scenes] != sorted(numbers):
        return None
    production = production._replace(scenes=tuple(s._replace(number=numbers[s.number])
                                                   for s in production.scenes))
    plan = make_plan(production, None, prices)._replace(callback_url=callback_url)
    if not set(plan.diagnostics) <= set(diagnostics):
        return None
    finished = finish(plan, Renderer, requests=True, texts=True)
    if len(finished.diagnostics) != len(plan.diagnostics):
        return None
    output = plan_json(finished, texts=True, n_scenes=n_scenes)
    if output.problems:
        return None
    elements = dict(zip(_element_profiles(finished), output.plan["elements"]))
    head = CB.head_of(output.plan)
    return CB.parts_of(finished, output, sorted(numbers.values())), head, elements


# -- set-up -------------------------------------------------------------------------

def _pricing(path: Optional[str]):
    if not path:
        return None
    from .planner.pricing import PricingError, load_pricing

    try:
        return load_pricing(path)
    except PricingError as e:
        raise SetupError(str(e)) from None


def _renderer(templates: Optional[str]):
    if not templates:
        return None
    from .backends.prompts import Renderer, TemplateError

    try:
        return Renderer(templates)
    except TemplateError as e:
        raise SetupError(str(e)) from None


def merge(*groups) -> list[Diagnostic]:
    """Diagnostics of several stages as one list: sorted, each once."""
    out = set()
    for g in groups:
        out.update(g)
    return sorted(out, key=sort_key)

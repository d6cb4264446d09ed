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
from typing import NamedTuple, Optional

from .diagnostics.model import Diagnostic, Severity, has_errors, sort_key
from .project import Loader, Program, load_program

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

    @property
    def ok(self) -> bool:
        return not has_errors(self.diagnostics)


def compile_script(path: str | os.PathLike, *, allow_outside: bool = False, loader: Optional[Loader] = None,
                   templates: Optional[str] = None, pricing: Optional[str] = None,
                   emit: Optional[str] = None, texts: bool = False, memo: bool = True) -> Compilation:
    """Run the pipeline on ``path``.

    ``templates``/``pricing``: a prompt-template folder and a pricing file in place of the
    built-in ones. ``emit``: go on to ``PROMPTS`` or ``OUTPUTS`` when the script has no
    errors; ``texts``: with the requests' JSON texts too (``klingc build`` writes them);
    ``memo``: take the outputs of scenes unchanged since the last build from the cache.

    Raises ``project.InputError`` when ``path`` itself cannot be read, and
    ``SetupError`` for unusable templates or pricing.
    """
    prices = _pricing(pricing)
    renderer = _renderer(templates)
    program = load_program(path, allow_outside=allow_outside, loader=loader)
    front = front_end(program)
    production = lower_clean(program, front, whole=emit is not None)
    plan = None
    diagnostics = front
    if production is not None:
        plan = _plan(production, renderer, prices)
        diagnostics = merge(front, plan.diagnostics)
    if emit is None or plan is None or has_errors(diagnostics):
        return Compilation(program, production, plan, diagnostics)
    return _emit(Compilation(program, production, plan, diagnostics), renderer, emit, texts,
                 memo, templates, pricing)


def check(path: str | os.PathLike, *, allow_outside: bool = False,
          loader: Optional[Loader] = None) -> Compilation:
    """``klingc check``: every stage up to the plan."""
    return compile_script(path, allow_outside=allow_outside, loader=loader)


def diagnose(path: str | os.PathLike, *, allow_outside: bool = False,
             memory: Optional[dict] = None, loader: Optional[Loader] = None) -> Compilation:
    """``klingc check``'s diagnostics, the same as ``check``'s, reusing the results of the
    scenes unchanged since the last check (``cache/scenes.py``); an unchanged script is
    answered without parsing. The Compilation holds the files' texts and the diagnostics
    only (no production or plan), unless the full path was taken.

    ``memory``: a dict the caller keeps between calls (the language server's), so that
    an edit needs no disk read; ``loader``: one with the editor's buffers as overlays."""
    from .cache import scenes

    done = scenes.check(path, allow_outside, memory, loader)
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
          templates: Optional[str], pricing: Optional[str]) -> Compilation:
    """Render the prompts (and with ``OUTPUTS`` the requests and plan.json) of a clean plan."""
    from . import cache
    from .backends.prompts import Renderer, TemplateError
    from .backends.emit import finish

    requests = emit == OUTPUTS
    # Scenes unchanged since the last build are taken from it (see cache.BuildMemo).
    build_memo = cache.build_memo(c.program, templates, pricing) if requests and memo else None
    try:
        plan = finish(c.plan, renderer or Renderer, requests=requests, texts=texts, memo=build_memo)
    except TemplateError as e:
        raise SetupError(f"template error: {e}") from None
    diagnostics = merge(c.diagnostics, plan.diagnostics)
    c = c._replace(plan=plan, diagnostics=diagnostics)
    if not requests or has_errors(diagnostics):
        return c
    output = _output(plan, texts)
    problems = _api_problems(output)
    if problems:
        return c._replace(diagnostics=merge(diagnostics, problems))
    if build_memo is not None:
        build_memo.save()
    return c._replace(output=output)


def _output(plan, texts: bool):
    from .backends.emit import plan_json

    return plan_json(plan, texts=texts)


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

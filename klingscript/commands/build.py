"""klingc build FILE [-o DIR] — write the plan, the API requests and the paste-ready prompts.

DIR (default ``build/<stem>/``) gets ``plan.json``, ``prompts/*.txt`` and
``requests/<job-id>.json``. Everything is written into a temporary folder
next to DIR and renamed into place, so DIR is either the old build or the
new one, never half of each; nothing is written when the script has errors.
An existing DIR is replaced only if it is a previous build (it has a
``plan.json``) or empty.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

HELP = "compile a script into Kling jobs: plan.json, requests and prompts"


def add_common(p) -> None:
    p.add_argument("file", metavar="FILE")
    p.add_argument("--templates", metavar="DIR",
                   help="a folder of prompt templates that override the built-in ones")
    p.add_argument("--allow-outside", action="store_true",
                   help="allow images and `use` files outside the project folder")


def add_pricing(p) -> None:
    """``--pricing``, for the commands that go through ``compile_outputs``."""
    p.add_argument("--pricing", metavar="FILE", help="a pricing file to use instead of the built-in one")


def add_arguments(p) -> None:
    add_common(p)
    p.add_argument("-o", "--output", metavar="DIR", help="output folder (default: build/<stem>/)")
    add_pricing(p)


class Stop(Exception):
    """Stop a command with an exit code (its message already printed)."""

    def __init__(self, code: int):
        self.code = code


def _print_diagnostics(diags, program) -> None:
    from ..diagnostics.render import render_text, summary, use_colour

    sys.stderr.write(render_text(diags, program.source_of, colour=use_colour(sys.stderr)))
    if diags:
        sys.stderr.write(summary(diags) + "\n")


def compile_plan(args, pricing_path=None, requests: bool = False, texts: bool = False):
    """Check the script and plan it; print diagnostics and raise Stop on errors.

    Returns (program, plan). ``requests``/``texts``: build the jobs' requests
    (and their JSON texts) along with their prompts (see ``backends.emit.finish``).
    """
    from ..compiler import check
    from ..diagnostics.model import Severity, has_errors, sort_key
    from ..project import InputError

    from ..planner.pricing import PricingError, load_pricing

    try:
        pricing = load_pricing(pricing_path) if pricing_path else None
    except PricingError as e:
        print(f"klingc: {e}", file=sys.stderr)
        raise Stop(2)
    renderer = None
    templates = getattr(args, "templates", None)
    if templates:
        from ..backends.prompts import Renderer, TemplateError
        try:
            renderer = Renderer(templates)
        except TemplateError as e:
            print(f"klingc: {e}", file=sys.stderr)
            raise Stop(2)
    try:
        program = check(args.file, allow_outside=args.allow_outside)
    except InputError as e:
        print(f"klingc: {e}", file=sys.stderr)
        raise Stop(2)
    diags = list(program.diagnostics)
    plan = getattr(program, "plan", None)
    custom = renderer is not None or pricing is not None
    if custom and plan is not None:
        # Other templates make other prompts: the checks after compilation are redone below.
        compiled = set(plan.diagnostics)
        diags = [d for d in diags if d not in compiled]
    if has_errors(diags):
        _print_diagnostics(diags, program)
        raise Stop(1)
    if plan is None or custom:
        from ..backends.prompts import TemplateError
        from ..lower import lower
        from ..planner.scene import make_plan
        try:
            plan = make_plan(lower(program), renderer, pricing)
        except TemplateError as e:
            print(f"klingc: template error: {e}", file=sys.stderr)
            raise Stop(2)
        except PricingError as e:
            print(f"klingc: {e}", file=sys.stderr)
            raise Stop(2)
        diags = sorted(set(diags) | set(plan.diagnostics), key=sort_key)
        if has_errors(diags):
            _print_diagnostics(diags, program)
            raise Stop(1)
    from .. import cache
    from ..backends.prompts import Renderer, TemplateError
    from ..backends.emit import finish
    # Scenes unchanged since the last build are taken from it (see cache.BuildMemo).
    memo = cache.build_memo(program, templates, pricing_path) if requests else None
    try:
        plan = finish(plan, renderer or Renderer, requests=requests, texts=texts, memo=memo)
    except TemplateError as e:
        print(f"klingc: template error: {e}", file=sys.stderr)
        raise Stop(2)
    known = set(diags)
    new = [d for d in plan.diagnostics if d not in known]
    if has_errors(new):
        _print_diagnostics(sorted(set(diags) | set(new), key=sort_key), program)
        raise Stop(1)
    if memo is not None:
        memo.save()
    serious = [d for d in diags if d.severity is Severity.WARNING]
    if serious:
        _print_diagnostics(serious, program)
    return program, plan


def compile_outputs(args, texts: bool = False):
    """Check, plan and lower to outputs, as build, cost and render all do: (program, plan, outputs).
    ``texts``: also the requests' JSON texts (``build`` writes them).

    Prints diagnostics and raises Stop on errors."""
    program, plan = compile_plan(args, args.pricing, requests=True, texts=texts)
    return program, plan, outputs(plan, program, texts=texts)


def outputs(plan, program, texts: bool = False):
    """The plan.json data, requests and prompts; raises Stop if a request breaks the API's rules.

    ``texts``: also the requests' JSON texts (``build`` writes them)."""
    from ..diagnostics.codes import make
    from ..backends.emit import plan_json

    out = plan_json(plan, texts=texts)
    if out.problems:
        diags = []
        for owner, problem in out.problems:
            if hasattr(owner, "scene"):
                where = owner.scene.title_span
                what = f"scene {owner.scene.number}, part {owner.part}"
            else:
                where = owner.span
                what = f"element {owner.name}"
            diags.append(make("KLS308", where, f"the request of {what} breaks a Kling API rule: {problem}"))
        _print_diagnostics(diags, program)
        raise Stop(1)
    return out


def write_build(target: Path, files: dict[str, str]) -> None:
    """Write ``files`` (relative path -> text) as folder ``target``, atomically."""
    target = Path(os.path.abspath(target))
    parent = target.parent
    if target.exists():
        if not target.is_dir():
            raise OSError(f"{target} exists and is not a folder")
        if not (target / "plan.json").is_file() and any(target.iterdir()):
            raise OSError(f"{target} exists and is not a klingc build folder (no plan.json); "
                          f"choose another folder with -o")
    parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.new-", dir=parent))
    try:
        folders = sorted({os.path.dirname(rel) for rel in files} - {""})
        for folder in folders:
            os.makedirs(tmp / folder, exist_ok=True)
        for rel, text in sorted(files.items()):
            _write_file(tmp / rel, text)
        old = None
        if target.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{target.name}.old-", dir=parent))
            os.rmdir(old)
            os.rename(target, old)
        try:
            os.rename(tmp, target)
        except OSError:
            if old is not None:
                os.rename(old, target)
            raise
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _write_file(path: Path, text: str) -> None:
    data = text.encode("utf-8")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o644)
    try:
        while data:
            data = data[os.write(fd, data):]
    finally:
        os.close(fd)


def build_files(out) -> dict[str, str]:
    from ..backends.emit import dump_json as dump

    files: dict[str, str] = {}
    done: dict = {}
    for jid, request in out.requests.items():
        text = out.texts.get(jid) or dump(request)
        files[f"requests/{jid}.json"] = text
        done[id(request)] = text[:-1]          # plan.json embeds the same request
    files["plan.json"] = dump(out.plan, done)
    files.update(out.prompts)
    return files


def run(args) -> int:
    try:
        # The requests' JSON texts are made along with them.
        program, plan, out = compile_outputs(args, texts=True)
    except Stop as s:
        return s.code
    target = Path(args.output) if args.output else Path("build") / program.main.path.stem
    try:
        write_build(target, build_files(out))
    except OSError as e:
        print(f"klingc: cannot write {target}: {e.strerror or e}", file=sys.stderr)
        return 2
    t = out.plan["totals"]
    split = sum(1 for s in out.plan["scenes"] if s["jobs"] > 1)
    note = f" ({split} scene{'s' if split != 1 else ''} split)" if split else ""
    print(f"{target}: {t['jobs']} job{'s' if t['jobs'] != 1 else ''}{note}, {t['duration']}s, "
          f"{t['credits']} {out.plan['currency']}")
    return 0

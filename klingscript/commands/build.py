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
    """``--pricing``, for the commands that go on to the requests and plan.json (build, cost, render)."""
    p.add_argument("--pricing", metavar="FILE", help="a pricing file to use instead of the built-in one")


def add_api(p) -> None:
    """``--api``, for the commands that write or send requests (build, cost, render)."""
    p.add_argument("--api", choices=("current", "legacy"),
                   help="Kling's API generation to write the requests for, over the script's `api:` "
                        "(default: current)")


def add_arguments(p) -> None:
    add_common(p)
    p.add_argument("-o", "--output", metavar="DIR", help="output folder (default: build/<stem>/)")
    add_pricing(p)
    add_api(p)
    p.add_argument("--callback-url", metavar="URL",
                   help="write Kling's callback option into every job's request (klingc render still polls)")


class Stop(Exception):
    """Stop a command with an exit code (its message already printed)."""

    def __init__(self, code: int):
        self.code = code


def _print_diagnostics(diags, program) -> None:
    from ..diagnostics.render import render_text, summary, use_colour

    sys.stderr.write(render_text(diags, program.source_of, colour=use_colour(sys.stderr)))
    if diags:
        sys.stderr.write(summary(diags) + "\n")


def compile_args(args, emit: str, texts: bool = False):
    """Run the pipeline (``compiler.compile_script``) for a command's arguments, up to ``emit``.

    Prints the diagnostics (only the warnings when there is no error) and raises
    Stop on errors: 1 for the script's, 2 for an unreadable script, templates or
    pricing. Returns the ``Compilation``.
    """
    from ..compiler import SetupError, compile_script
    from ..diagnostics.model import Severity
    from ..project import InputError

    try:
        c = compile_script(args.file, allow_outside=args.allow_outside,
                           templates=getattr(args, "templates", None), pricing=getattr(args, "pricing", None),
                           emit=emit, texts=texts, api=getattr(args, "api", None),
                           callback_url=getattr(args, "build_callback_url", None))
    except (InputError, SetupError) as e:
        print(f"klingc: {e}", file=sys.stderr)
        raise Stop(2)
    if not c.ok:
        _print_diagnostics(c.diagnostics, c.program)
        raise Stop(1)
    warnings = [d for d in c.diagnostics if d.severity is Severity.WARNING]
    if warnings:
        _print_diagnostics(warnings, c.program)
    return c


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
    from ..cache import builds
    from ..compiler import OUTPUTS
    from ..diagnostics.model import Severity

    target = Path(args.output) if args.output else Path("build") / Path(os.path.abspath(args.file)).stem
    options = dict(allow_outside=args.allow_outside, templates=args.templates, pricing=args.pricing)
    # --api and --callback-url are not in the cache's keys: a build with them is made afresh.
    args.build_callback_url = args.callback_url
    shortcut = args.api is None and args.callback_url is None
    # Nothing changed since the last build into this folder: say what it said (cache/builds.py).
    hit = builds.unchanged(args.file, target, **options) if shortcut else None
    if hit is not None:
        program, warnings, summary = hit
        if warnings:
            _print_diagnostics(warnings, program)
        print(f"{target}: {summary}")
        return 0
    try:
        c = compile_args(args, OUTPUTS, texts=True)
    except Stop as s:
        return s.code
    out = c.output
    try:
        write_build(target, build_files(out))
    except OSError as e:
        print(f"klingc: cannot write {target}: {e.strerror or e}", file=sys.stderr)
        return 2
    t = out.plan["totals"]
    split = sum(1 for s in out.plan["scenes"] if s["jobs"] > 1)
    note = f" ({split} scene{'s' if split != 1 else ''} split)" if split else ""
    from ..planner.pricing import money

    summary = (f"{t['jobs']} job{'s' if t['jobs'] != 1 else ''}{note}, {t['duration']}s, "
               f"{money(t, out.plan['currency'], out.plan['pricing'].get('credits') == 'estimate')}")
    print(f"{target}: {summary}")
    if shortcut:
        builds.record(c, args.file, target, [d for d in c.diagnostics if d.severity is Severity.WARNING],
                      summary, **options)
    return 0

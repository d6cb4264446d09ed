"""The klingc command line.

Exit codes: 0 success; 1 errors in the script (or `fmt --check` found work);
2 usage errors and unreadable input files; 3 an internal fault (one line,
never a traceback) or, for `render`, a failed generation.
Heavy modules (pydantic, jinja2, httpx) are imported only by the commands
that need them, so `klingc check` starts fast.
"""

from __future__ import annotations

import argparse
import sys
from typing import Optional

from . import __version__


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # usage errors exit 2 with one clear line
        self.print_usage(sys.stderr)
        print(f"klingc: {message}", file=sys.stderr)
        raise SystemExit(2)


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="klingc", description="Compile KlingScript screenplays (.kls) for Kling 3.0.")
    p.add_argument("--version", action="version", version=f"klingc {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    c = sub.add_parser("check", help="report every problem in the scripts")
    c.add_argument("files", nargs="+", metavar="FILE")
    c.add_argument("--format", choices=("text", "json"), default="text")
    c.add_argument("--allow-outside", action="store_true",
                   help="allow images and `use` files outside the project folder")

    f = sub.add_parser("fmt", help="rewrite scripts in the canonical layout")
    f.add_argument("files", nargs="+", metavar="FILE")
    f.add_argument("--check", action="store_true", help="change nothing; exit 1 if a file would change")
    f.add_argument("--diff", action="store_true", help="print the changes as a diff instead of writing")

    e = sub.add_parser("explain", help="explain a diagnostic code, e.g. KLS201")
    e.add_argument("code", nargs="?")
    return p


def main(argv: Optional[list[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help()
        return 2
    try:
        return COMMANDS[args.command](args)
    except KeyboardInterrupt:
        print("klingc: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except Exception as e:  # never a traceback
        print(f"klingc: internal error ({type(e).__name__}: {e}); please report it", file=sys.stderr)
        return 3


def cmd_check(args) -> int:
    from .compiler import check
    from .diagnostics.model import has_errors, sort_key
    from .diagnostics.render import render_json, render_text, use_colour
    from .project import InputError

    diags = []
    sources: dict[str, str] = {}
    unreadable = False
    for path in args.files:
        try:
            program = check(path, allow_outside=args.allow_outside)
        except InputError as e:
            print(f"klingc: {e}", file=sys.stderr)
            unreadable = True
            continue
        for f in program.files.values():
            sources.setdefault(f.display, f.text)
        diags.extend(program.diagnostics)
    diags = sorted(set(diags), key=sort_key)
    if args.format == "json":
        sys.stdout.write(render_json(diags))
    else:
        sys.stdout.write(render_text(diags, sources.get, colour=use_colour(sys.stdout)))
        if diags:
            sys.stdout.write(_summary(diags) + "\n")
    if unreadable:
        return 2
    return 1 if has_errors(diags) else 0


def _summary(diags) -> str:
    from .diagnostics.model import Severity
    counts = {s: 0 for s in Severity}
    for d in diags:
        counts[d.severity] += 1
    parts = []
    for sev, word in ((Severity.ERROR, "error"), (Severity.WARNING, "warning"), (Severity.NOTE, "note")):
        n = counts[sev]
        if n:
            parts.append(f"{n} {word}{'s' if n != 1 else ''}")
    return ", ".join(parts)


def cmd_explain(args) -> int:
    from .diagnostics.codes import CODES, explain
    if not args.code:
        for c in CODES.values():
            print(f"{c.code}  {c.severity.value:<7}  {c.summary}")
        return 0
    page = explain(args.code)
    if page is None:
        print(f"klingc: unknown code {args.code!r}; `klingc explain` lists them all", file=sys.stderr)
        return 2
    sys.stdout.write(page if page.endswith("\n") else page + "\n")
    return 0


def cmd_fmt(args) -> int:
    from .fmt import run_fmt
    return run_fmt(args)


COMMANDS = {"check": cmd_check, "explain": cmd_explain, "fmt": cmd_fmt}

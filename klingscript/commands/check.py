"""klingc check FILE… — report every problem in the scripts."""

from __future__ import annotations

import sys

HELP = "report every problem in the scripts"


def add_arguments(p) -> None:
    p.add_argument("files", nargs="+", metavar="FILE")
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.add_argument("--allow-outside", action="store_true",
                   help="allow images and `use` files outside the project folder")
    p.add_argument("-q", "--quiet", action="store_true",
                   help="print nothing on success (problems are still printed)")


def run(args) -> int:
    from ..compiler import diagnose, figures, merge
    from ..diagnostics.model import has_errors
    from ..diagnostics.render import render_json, render_text, summary, use_colour
    from ..project import InputError

    diags = []
    sources: dict[str, str] = {}
    unreadable = False
    done = []  # (file as shown, its Figures or None when it has errors)
    for path in args.files:
        try:
            c = diagnose(path, allow_outside=args.allow_outside)
        except InputError as e:
            print(f"klingc: {e}", file=sys.stderr)
            unreadable = True
            continue
        for f in c.program.files.values():
            sources.setdefault(f.display, f.text)
        diags.extend(c.diagnostics)
        done.append((c.program.main.display, figures(c) if c.ok else None))
    diags = merge(diags)
    if args.format == "json":
        sys.stdout.write(render_json(diags))
    else:
        sys.stdout.write(render_text(diags, sources.get, colour=use_colour(sys.stdout)))
        if diags:
            sys.stdout.write(summary(diags) + "\n")
        if not (args.quiet or unreadable or has_errors(diags)):
            for shown, f in done:
                if f is not None:
                    sys.stdout.write(success_line(shown, f))
    if unreadable:
        return 2
    return 1 if has_errors(diags) else 0


def success_line(shown: str, f) -> str:
    """``pilot.kls: ok, 3 scenes, 5 jobs, 42s, 42 units ($5.88), ~504 credits (estimate)``."""
    from ..planner.pricing import money

    def count(n: int, word: str) -> str:
        return f"{n} {word}{'' if n == 1 else 's'}"

    line = f"{shown}: ok, {count(f.scenes, 'scene')}"
    if f.jobs:
        line += f", {count(f.jobs, 'job')}, {f.seconds}s, {money(f.cost, f.currency, f.estimate)}"
    return line + "\n"

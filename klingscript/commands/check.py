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
    from ..cache import shown
    from ..terminal import use_colour

    # What a check prints depends on the scripts and on these options only.
    options = ("check", args.format, args.format == "text" and use_colour(sys.stdout), args.quiet)
    again = shown.replay(args.files, options, args.allow_outside)
    if again is not None:
        out, code = again
        sys.stdout.write(out)
        return code

    from ..compiler import diagnose, figures, merge
    from ..diagnostics.model import has_errors
    from ..diagnostics.render import render_json, render_text, summary
    from ..project import InputError

    diags = []
    sources: dict[str, str] = {}
    unreadable = False
    done = []  # (file as shown, its Figures or None when it has errors)
    compilations = []
    for path in args.files:
        try:
            c = diagnose(path, allow_outside=args.allow_outside)
        except InputError as e:
            print(f"klingc: {e}", file=sys.stderr)
            unreadable = True
            continue
        compilations.append(c)
        for f in c.program.files.values():
            sources.setdefault(f.display, f.text)
        diags.extend(c.diagnostics)
        done.append((c.program.main.display, figures(c) if c.ok else None))
    diags = merge(diags)
    if args.format == "json":
        out = render_json(diags)
    else:
        out = render_text(diags, sources.get, colour=options[2])
        if diags:
            out += summary(diags) + "\n"
        if not (args.quiet or unreadable or has_errors(diags)):
            out += "".join(success_line(name, f) for name, f in done if f is not None)
    sys.stdout.write(out)
    if unreadable:
        return 2
    code = 1 if has_errors(diags) else 0
    shown.record(args.files, options, compilations, out, code)
    return code


def success_line(shown: str, f) -> str:
    """``pilot.kls: ok, 3 scenes, 5 jobs, 42s, 42 units ($5.88), ~504 credits (estimate)``."""
    from ..planner.pricing import money

    def count(n: int, word: str) -> str:
        return f"{n} {word}{'' if n == 1 else 's'}"

    line = f"{shown}: ok, {count(f.scenes, 'scene')}"
    if f.jobs:
        line += f", {count(f.jobs, 'job')}, {f.seconds}s, {money(f.cost, f.currency, f.estimate)}"
    return line + "\n"

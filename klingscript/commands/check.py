"""klingc check FILE… — report every problem in the scripts."""

from __future__ import annotations

import sys

HELP = "report every problem in the scripts"


def add_arguments(p) -> None:
    p.add_argument("files", nargs="+", metavar="FILE")
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.add_argument("--allow-outside", action="store_true",
                   help="allow images and `use` files outside the project folder")


def run(args) -> int:
    from ..compiler import diagnose
    from ..diagnostics.model import has_errors, sort_key
    from ..diagnostics.render import render_json, render_text, summary, use_colour
    from ..project import InputError

    diags = []
    sources: dict[str, str] = {}
    unreadable = False
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
    diags = sorted(set(diags), key=sort_key)
    if args.format == "json":
        sys.stdout.write(render_json(diags))
    else:
        sys.stdout.write(render_text(diags, sources.get, colour=use_colour(sys.stdout)))
        if diags:
            sys.stdout.write(summary(diags) + "\n")
    if unreadable:
        return 2
    return 1 if has_errors(diags) else 0

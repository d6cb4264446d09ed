"""klingc explain CODE — the page for a diagnostic code."""

from __future__ import annotations

import sys

HELP = "explain a diagnostic code, e.g. KLS201 (no code: list them all)"


def add_arguments(p) -> None:
    p.add_argument("code", nargs="?")


def run(args) -> int:
    from ..diagnostics.codes import CODES, explain
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

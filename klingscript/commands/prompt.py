"""klingc prompt FILE [--scene N] — paste-ready prompts for Kling's web app."""

from __future__ import annotations

import sys

HELP = "print paste-ready prompts for Kling's web app"


def add_arguments(p) -> None:
    from .build import add_common

    add_common(p)
    p.add_argument("--scene", type=int, metavar="N", help="only scene N (counting from 1)")


def run(args) -> int:
    from ..compiler import PROMPTS
    from .build import Stop, compile_args

    try:
        c = compile_args(args, PROMPTS)
    except Stop as s:
        return s.code
    program, jobs = c.program, list(c.plan.jobs)
    if args.scene is not None:
        count = len(program.main.doc.scenes)
        if not 1 <= args.scene <= count:
            print(f"klingc: there is no scene {args.scene} "
                  f"(the script has {count} scene{'s' if count != 1 else ''})", file=sys.stderr)
            return 2
        jobs = [j for j in jobs if j.scene.number == args.scene]
    sys.stdout.write("\n".join(job.web for job in jobs))
    return 0

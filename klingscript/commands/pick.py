"""klingc pick RENDER_DIR SCENE[.PART] TAKE — choose the take a scene (part) uses.

``klingc pick render/film 3.2 2`` picks take 2 of scene 3 part 2 (a scene of
one part: ``3``). The pick is kept in the folder's ledger: it survives
re-renders, and edits of other scenes (an edit of the scene itself makes new
jobs, with takes of their own). The scene files and ``film.mp4`` are then
assembled again from the picked takes (``--no-assemble``: later, by the next
render). Without a pick a job uses its latest successful take. ``klingc
status`` lists each job's takes and marks the one used.

Exit codes: 0 picked; 2 no such folder, scene, part or take, a take
without a clip, or a render running in the folder (another process holds its lock); 3 picked, but the film could not be assembled.
"""

from __future__ import annotations

import sys
from pathlib import Path

HELP = "choose which take of a scene (part) the scene files and the film use"


def add_arguments(p) -> None:
    from ._args import positive_int

    p.add_argument("folder", metavar="RENDER_DIR", help="a render folder (klingc render -o DIR)")
    p.add_argument("where", metavar="SCENE[.PART]", help="the scene's number, or scene and part (3.2)")
    p.add_argument("take", type=positive_int, metavar="TAKE", help="the take's number (klingc status lists them)")
    p.add_argument("--no-assemble", action="store_true", help="only record the pick")


def run(args) -> int:
    from ..runtime.takes import PickError, pick

    try:
        done = pick(Path(args.folder), args.where, args.take, assemble=not args.no_assemble)
    except PickError as e:
        print(f"klingc: {e}", file=sys.stderr)
        return 2
    print(f"{done.job.label} [{done.job.id}]: take {done.take.take} picked ({done.take.file})")
    if done.film is not None:
        print(f"film: {done.film}")
        return 0
    if done.message:
        print(f"klingc: {done.message}", file=sys.stderr)
        return 3 if done.message.startswith("assembly failed") else 0
    return 0

"""klingc import SCRIPT.fountain|SCRIPT.fdx [-o FILE.kls] [--force]

Reads a screenplay written in Fountain (Highland, Beat, Afterwriting, Slugline…) or
Final Draft (.fdx) and writes it as a KlingScript (default: beside it, ``SCRIPT.kls``)
that ``klingc check`` accepts: scenes from scene headings, locations from their places,
characters from the cues (each with a placeholder description, KLS410, to fill), a shot
per action paragraph with its dialogue; everything else as comments. It prints what went
where. ``importers/`` does the work.

Exit codes: 0 written; 2 an unreadable or unknown input, an output that exists (without
``--force``) or cannot be written.
"""

from __future__ import annotations

import sys
from pathlib import Path

HELP = "import a Fountain or Final Draft (.fdx) screenplay as a KlingScript"


def add_arguments(p) -> None:
    p.add_argument("source", metavar="SCRIPT", help="a .fountain or .fdx screenplay")
    p.add_argument("-o", "--output", metavar="FILE.kls", type=Path,
                   help="where to write the KlingScript (default: SCRIPT.kls beside the screenplay)")
    p.add_argument("--force", action="store_true", help="replace FILE.kls if it exists")


def run(args) -> int:
    from ..files import write_atomic
    from ..importers import ImportFailure, import_file

    source = Path(args.source)
    out = args.output or source.with_suffix(".kls")
    if out.suffix != ".kls":
        print(f"klingc: {out}: the output is a KlingScript: name it FILE.kls", file=sys.stderr)
        return 2
    if out.exists() and not args.force:
        print(f"klingc: {out} exists: give --force to replace it, or -o another FILE.kls", file=sys.stderr)
        return 2
    try:
        text, summary = import_file(source)
    except ImportFailure as e:
        print(f"klingc: {e}", file=sys.stderr)
        return 2
    try:
        write_atomic(out, text)
    except OSError as e:
        print(f"klingc: cannot write {out}: {e.strerror or e}", file=sys.stderr)
        return 2
    sys.stdout.write(report(summary, out))
    return 0


def report(summary, out: Path) -> str:
    """The import summary: what was read, and where each kind of paragraph went."""
    c = summary.counts
    lines = [f"imported {summary.source} -> {out}",
             f"  title: {summary.title}" if summary.title else "  title: none (the file's name stands for it)",
             f"  scenes: {c.get('scenes', 0)}, at {len(summary.locations)} locations",
             f"  shots: {c.get('shots', 0)} ({c.get('shots from action', 0)} from action paragraphs, "
             f"{c.get('shots continuing long action', 0)} continuing long action, "
             f"{c.get('shots added for dialogue', 0)} for dialogue that needed one, "
             f"{c.get('shots added for empty scenes', 0)} for scenes with no action)",
             f"  dialogue: {c.get('dialogue lines', 0)} lines from {c.get('speeches', 0)} speeches "
             f"({c.get('parenthetical lines', 0)} parenthetical lines as tones, "
             f"{c.get('off-screen speeches', 0)} off-screen, {c.get('contd dropped', 0)} CONT'D dropped, "
             f"{c.get('dual dialogue speeches', 0)} in dual dialogue, "
             f"{c.get('long lines split', 0)} splits of long lines)"]
    extra = [k for k in ("cue extensions as tones", "languages kept as tones", "short scenes given the minimum",
                         "parentheticals after the last line as comments") if c.get(k)]
    if extra:
        lines.append("  also: " + ", ".join(f"{c[k]} {k}" for k in extra))
    comments = [(k.removesuffix(" as comments"), v) for k, v in c.items() if k.endswith(" as comments")
                and not k.startswith("parentheticals")]
    lines.append("  comments: " + (", ".join(f"{k} {v}" for k, v in comments) if comments else "none"))
    lines.append(f"  characters ({len(summary.characters)}): "
                 + ", ".join(f"{cue} -> @{name}" for cue, name in summary.characters))
    lines.append(f"  locations ({len(summary.locations)}): "
                 + ", ".join(f"{place} -> @{name}" for place, name in summary.locations))
    lines.append(f"next: describe each character in {out} (klingc check {out} lists them, KLS410)")
    return "\n".join(lines) + "\n"

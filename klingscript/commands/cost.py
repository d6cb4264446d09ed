"""klingc cost FILE [--format table|json] [--pricing FILE] — credits per job, scene and total.

Credits are seconds times the rate for the job's resolution and audio, from
the pricing data file (``klingscript/data/pricing.toml``, or ``--pricing``).
``plan.json`` carries the same figures.
"""

from __future__ import annotations

import json
import sys

HELP = "estimate the credits a render costs, per job, scene and in total"


def add_arguments(p) -> None:
    from .build import add_common, add_pricing

    add_common(p)
    p.add_argument("--format", choices=("table", "json"), default="table")
    add_pricing(p)


def report(plan, out) -> dict:
    """The figures of ``klingc cost --format json``: the same as plan.json's."""
    from ..planner.pricing import number, rate

    jobs = []
    for job, entry in zip(plan.jobs, out.plan["jobs"]):
        s = job.settings
        jobs.append({"id": entry["id"], "scene": entry["scene"], "scene_title": entry["scene_title"],
                     "part": entry["part"], "parts": entry["parts"], "shots": entry["shots"],
                     "duration": entry["duration"], "resolution": s.resolution, "audio": s.audio,
                     "rate": number(rate(plan.pricing, s.resolution, s.audio)),
                     "credits": entry["credits"]})
    return {"source": out.plan["source"], "title": out.plan["title"], "currency": out.plan["currency"],
            "jobs": jobs, "scenes": out.plan["scenes"], "totals": out.plan["totals"]}


def _shots(shots) -> str:
    if not shots:
        return "-"
    return str(shots[0]) if len(shots) == 1 else f"{shots[0]}-{shots[-1]}"


def _rows(data):
    head = ("job", "scene", "part", "shots", "seconds", "output", "rate", "credits")
    rows = []
    for j in data["jobs"]:
        output = f"{j['resolution']} {'audio' if j['audio'] == 'on' else 'silent'}"
        rows.append((j["id"], str(j["scene"]), f"{j['part']}/{j['parts']}", _shots(j["shots"]),
                     f"{j['duration']}s", output, f"{j['rate']}/s", str(j["credits"])))
    return head, rows


RIGHT = {1, 4, 6, 7}


def _plain(data) -> str:
    head, rows = _rows(data)
    right = RIGHT
    widths = [max(len(r[i]) for r in [head] + rows) for i in range(len(head))]

    def fmt(r):
        cells = [c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths))]
        return "  ".join(cells).rstrip()

    lines = [fmt(head), fmt(tuple("-" * w for w in widths))]
    lines += [fmt(r) for r in rows]
    lines.append("")
    cur = data["currency"]
    for s in data["scenes"]:
        lines.append(f"scene {s['scene']} \"{s['title']}\": {s['jobs']} job{'s' if s['jobs'] != 1 else ''}, "
                     f"{s['duration']}s, {s['credits']} {cur}")
    t = data["totals"]
    lines.append(f"total: {t['jobs']} job{'s' if t['jobs'] != 1 else ''}, {t['duration']}s, "
                 f"{t['credits']} {cur}")
    return "\n".join(lines) + "\n"


def _rich(data) -> None:
    from rich.console import Console
    from rich.table import Table

    head, rows = _rows(data)
    cur = data["currency"]
    from rich import box

    table = Table(title=f"{data['title']} — estimated {cur}", box=box.SIMPLE_HEAD)
    for i, h in enumerate(head):
        table.add_column(h, justify="right" if i in RIGHT else "left", no_wrap=True)
    for r in rows:
        table.add_row(*r)
    console = Console()
    console.print(table)
    for s in data["scenes"]:
        console.print(f"scene {s['scene']} \"{s['title']}\": {s['jobs']} job{'s' if s['jobs'] != 1 else ''}, "
                      f"{s['duration']}s, {s['credits']} {cur}", markup=False, highlight=False)
    t = data["totals"]
    console.print(f"total: {t['jobs']} job{'s' if t['jobs'] != 1 else ''}, {t['duration']}s, "
                  f"{t['credits']} {cur}", markup=False, highlight=False, style="bold")


def run(args) -> int:
    from ..compiler import OUTPUTS
    from .build import Stop, compile_args

    try:
        c = compile_args(args, OUTPUTS)
    except Stop as s:
        return s.code
    data = report(c.plan, c.output)
    if args.format == "json":
        sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2) + "\n")
    else:
        from ..diagnostics.render import use_colour
        if use_colour(sys.stdout):
            _rich(data)
        else:
            sys.stdout.write(_plain(data))
    return 0

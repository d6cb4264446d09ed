"""klingc cost FILE… [--format table|json] [--pricing FILE] [--api current|legacy] — what a render costs.

Per job, scene and in total: Kling's resource-pack units (seconds times the
units per second of the job's model, resolution and audio, from Kling's
published table) and their US dollars, and the web app's credits, an
estimate (Kling publishes no per-second credit table). The figures come from
the pricing data file (``klingscript/data/pricing.toml``, or ``--pricing``);
``plan.json`` carries the same ones.

Several scripts (the episodes of a series) give each one's figures, as for
one, and then the total of them all; a script with errors gives no figures
at all (its diagnostics, and exit 1).
"""

from __future__ import annotations

import argparse
import json
import sys

HELP = "estimate what a render costs (units, US dollars, credits), per job, scene and in total"


def add_arguments(p) -> None:
    from .build import add_api, add_common, add_pricing

    add_common(p, several=True)
    p.add_argument("--format", choices=("table", "json"), default="table")
    add_pricing(p)
    add_api(p)


def report(plan, out) -> dict:
    """The figures of ``klingc cost --format json``: the same as plan.json's."""
    from ..planner.pricing import number, rate, units_rate

    jobs = []
    for job, entry in zip(plan.jobs, out.plan["jobs"]):
        s = job.settings
        units = units_rate(plan.pricing, job.profile.model_name, s.resolution, s.audio)
        jobs.append({"id": entry["id"], "scene": entry["scene"], "scene_title": entry["scene_title"],
                     "part": entry["part"], "parts": entry["parts"], "shots": entry["shots"],
                     "duration": entry["duration"], "model": job.profile.model_name,
                     "resolution": s.resolution, "audio": s.audio,
                     **({"units_per_second": number(units)} if units is not None else {}),
                     "rate": number(rate(plan.pricing, s.resolution, s.audio)),
                     "credits": entry["credits"], "cost": entry["cost"]})
    elements = [{"id": e["id"], "name": e["name"], **{k: e[k] for k in ("cost", "voice_cost") if k in e}}
                for e in out.plan["elements"]]
    return {"source": out.plan["source"], "title": out.plan["title"], "api": out.plan["api"],
            "currency": out.plan["currency"], "pricing": out.plan["pricing"],
            "jobs": jobs, "elements": elements, "scenes": out.plan["scenes"], "totals": out.plan["totals"]}


def _added(totals: list) -> dict:
    """Several scripts' ``totals`` added up (``units`` and ``usd`` when every script has them)."""
    from ..planner.pricing import number

    out = {"jobs": sum(t["jobs"] for t in totals), "duration": sum(t["duration"] for t in totals),
           "credits": number(sum(t["credits"] for t in totals))}
    for key in ("units", "usd"):
        if all(key in t for t in totals):
            out[key] = number(round(sum(t[key] for t in totals), 4))
    return out


def _total_line(data: list) -> str:
    """The line under several scripts' figures: the total of them all."""
    from ..planner.pricing import money

    t = _added([d["totals"] for d in data])
    estimate = data[0]["pricing"].get("credits") == "estimate"
    return (f"all {len(data)} scripts: {t['jobs']} job{'s' if t['jobs'] != 1 else ''}, {t['duration']}s, "
            f"{money(t, data[0]['currency'], estimate)}")


def _shots(shots) -> str:
    if not shots:
        return "-"
    return str(shots[0]) if len(shots) == 1 else f"{shots[0]}-{shots[-1]}"


def _rows(data):
    estimate = data["pricing"].get("credits") == "estimate"
    head = ("job", "scene", "part", "shots", "seconds", "output", "units/s", "units", "USD",
            "~credits" if estimate else "credits")
    rows = []
    for j in data["jobs"]:
        output = f"{j['resolution']} {'audio' if j['audio'] == 'on' else 'silent'}"
        c = j["cost"]
        rows.append((j["id"], str(j["scene"]), f"{j['part']}/{j['parts']}", _shots(j["shots"]),
                     f"{j['duration']}s", output, str(j.get("units_per_second", "-")),
                     str(c.get("units", "-")), f"{c['usd']:.2f}" if "usd" in c else "-", str(j["credits"])))
    return head, rows


RIGHT = {1, 4, 6, 7, 8, 9}


def _lines(data) -> list[str]:
    """The scenes' and the total's lines under the table (the last one is the total)."""
    from ..planner.pricing import money

    cur = data["currency"]
    estimate = data["pricing"].get("credits") == "estimate"
    lines = []
    for s in data["scenes"]:
        lines.append(f"scene {s['scene']} \"{s['title']}\": {s['jobs']} job{'s' if s['jobs'] != 1 else ''}, "
                     f"{s['duration']}s, {money(s, cur, estimate)}")
    voices = sum(1 for e in data["elements"] if "voice_cost" in e)
    if data["elements"]:
        lines.append(f"elements: {len(data['elements'])}" + (f", custom voices: {voices}" if voices else ""))
    t = data["totals"]
    lines.append(f"total: {t['jobs']} job{'s' if t['jobs'] != 1 else ''}, {t['duration']}s, "
                 f"{money(t, cur, estimate)}")
    return lines


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
    lines += _lines(data)
    return "\n".join(lines) + "\n"


def _rich(data) -> None:
    from rich.console import Console
    from rich.table import Table

    head, rows = _rows(data)
    cur = data["currency"]
    from rich import box

    table = Table(title=f"{data['title']} — estimated cost ({data['api']} API; {cur} are an estimate)",
                  box=box.SIMPLE_HEAD)
    for i, h in enumerate(head):
        table.add_column(h, justify="right" if i in RIGHT else "left", no_wrap=True)
    for r in rows:
        table.add_row(*r)
    console = Console()
    console.print(table)
    lines = _lines(data)
    for line in lines[:-1]:
        console.print(line, markup=False, highlight=False)
    console.print(lines[-1], markup=False, highlight=False, style="bold")


def run(args) -> int:
    from ..compiler import OUTPUTS
    from .build import Stop, compile_args

    data, shown_as, code = [], [], 0
    for path in args.files:
        try:
            c = compile_args(argparse.Namespace(**{**vars(args), "file": path}), OUTPUTS)
        except Stop as s:
            code = max(code, s.code)
            continue
        data.append(report(c.plan, c.output))
        shown_as.append(path)
    if code:
        return code
    if args.format == "json":
        shown = data[0] if len(data) == 1 else {"scripts": data, "totals": _added([d["totals"] for d in data])}
        sys.stdout.write(json.dumps(shown, ensure_ascii=False, indent=2) + "\n")
        return 0
    from ..diagnostics.render import use_colour
    rich = use_colour(sys.stdout)
    for i, one in enumerate(data):
        if len(data) > 1:
            head = f"{'' if i == 0 else chr(10)}== {shown_as[i]} =="
            if rich:
                from rich.console import Console
                Console().print(head, markup=False, highlight=False, style="bold")
            else:
                sys.stdout.write(head + "\n")
        if rich:
            _rich(one)
        else:
            sys.stdout.write(_plain(one))
    if len(data) > 1:
        line = _total_line(data)
        if rich:
            from rich.console import Console
            Console().print("\n" + line, markup=False, highlight=False, style="bold")
        else:
            sys.stdout.write("\n" + line + "\n")
    return 0

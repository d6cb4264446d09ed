"""klingc status DIR [--format table|json] [--all] [--verify] — the ledger of a render folder.

One row per voice, element and job of the script's current plan (``--all``:
also those of earlier versions of the script): its state, Kling's task id,
the estimate (credits, and units / USD when the plan has them), what Kling
charged for it (``billing`` / ``final_unit_deduction``, as recorded by the
render), and the downloaded clip or the reason it failed. The last line gives
the totals, estimated and charged. ``--verify``
checks every downloaded clip against its recorded SHA-256. Safe to run
while a render is going.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

HELP = "show the state of a render folder (its ledger) as a table"


def add_arguments(p) -> None:
    p.add_argument("folder", metavar="DIR", help="a render folder (klingc render -o DIR)")
    p.add_argument("--format", choices=("table", "json"), default="table")
    p.add_argument("--all", action="store_true", help="include elements and jobs of earlier plans")
    p.add_argument("--verify", action="store_true", help="check each downloaded clip's SHA-256")


def _rows(entries, folder: Path, verify: bool):
    from ..runtime.ledger import file_ok
    from ..runtime.render import _num

    rows = []
    for e in entries:
        state = e.state
        note = e.message
        if e.kind == "job" and e.state == "done":
            ok = file_ok(folder, e, checksum=verify)
            note = e.file or ""
            if not ok:
                state, note = "missing", f"{e.file}: missing or changed; `klingc render` downloads it again"
        elif e.kind in ("element", "voice") and e.state == "done":
            note = f"{e.kind} id {e.element_id}"
        rows.append({
            "id": e.id, "kind": e.kind, "what": e.label, "shots": e.shots,
            "seconds": e.duration if e.kind == "job" else None,
            "credits": _num(e.credits) if e.kind == "job" else None,
            "units": None if e.units is None else _num(e.units),
            "usd": None if e.usd is None else round(e.usd, 4),
            "charged": None if e.charged is None else _num(e.charged),
            "charge_unit": e.charge_unit,
            "state": state, "task_id": e.task_id, "external_task_id": e.external_task_id,
            "current": e.current, "note": note})
    return rows


HEAD = ("id", "what", "shots", "secs", "estimated", "charged", "state", "task", "note")


def _estimate(r) -> str:
    parts = []
    if r["credits"] is not None:
        parts.append(f"{r['credits']} cr")
    if r["units"] is not None:
        parts.append(f"{r['units']} u")
    if r["usd"] is not None:
        parts.append(f"${r['usd']:.2f}")
    return " / ".join(parts)


def _charged(r) -> str:
    if r["charged"] is None:
        return ""
    unit = r["charge_unit"] or "units"
    return f"{r['charged']} u" if unit == "units" else f"{r['charged']} {unit}"


def _cells(r) -> list:
    """A row's cells, in the order of HEAD."""
    return [r["id"] + ("" if r["current"] else " (old)"), r["what"], r["shots"] or "-",
            "" if r["seconds"] is None else f"{r['seconds']}s",
            _estimate(r), _charged(r), r["state"],
            r["task_id"] or "-", r["note"] or ""]


def _plain(rows, totals) -> str:
    table = [HEAD] + [_cells(r) for r in rows]
    widths = [max(len(str(row[i])) for row in table) for i in range(len(HEAD) - 1)]
    lines = []
    for n, row in enumerate(table):
        cells = [str(c).ljust(w) for c, w in zip(row[:-1], widths)]
        lines.append("  ".join(cells + [str(row[-1])]).rstrip())
        if n == 0:
            lines.append("  ".join("-" * w for w in widths) + "  ----")
    lines.append("")
    lines.append(totals)
    return "\n".join(lines) + "\n"


def _rich(rows, totals, title) -> None:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    styles = {"done": "green", "failed": "red", "rejected": "red", "error": "red", "missing": "red",
              "processing": "yellow", "submitted": "yellow", "sending": "yellow", "succeed": "cyan"}
    table = Table(title=title)
    for h in HEAD:
        table.add_column(h, justify="right" if h in ("secs", "estimated", "charged") else "left",
                         overflow="fold" if h == "note" else "ellipsis")
    state = HEAD.index("state")
    for r in rows:
        cells = _cells(r)
        cells[state] = Text(r["state"], style=styles.get(r["state"], ""))
        table.add_row(*cells)
    console = Console()
    console.print(table)
    console.print(totals, markup=False, highlight=False)


def run(args) -> int:
    from ..runtime.ledger import Ledger, LedgerError, summarize
    from ..runtime.render import _num

    folder = Path(args.folder)
    try:
        ledger = Ledger.open_readonly(folder)
    except LedgerError as e:
        print(f"klingc: {e}", file=sys.stderr)
        return 2
    with ledger:
        entries = ledger.entries(current_only=not args.all)
        plan = json.loads(ledger.meta("plan") or "{}")
    rows = _rows(entries, folder, args.verify)
    current = [e for e in entries if e.current]
    s = summarize(current)
    done = sum(1 for r in rows if r["kind"] == "job" and r["current"] and r["state"] == "done")
    film = folder / "film.mp4"
    est = s["estimated"]
    estimated = [f"{_num(est['credits'])} credits (estimated from the web app's rates)"]
    if est["units"] is not None:
        estimated.append(f"{_num(est['units'])} units")
    if est["usd"] is not None:
        estimated.append(f"${est['usd']:.2f}")
    charged = ", ".join(f"{_num(v)} {u}" for u, v in sorted(s["charged"].items())) or "nothing recorded yet"
    totals = (f"{done} of {s['jobs']} jobs done ({s['done_seconds']}s); "
              f"{_num(s['spent'])} credits spent, {_num(s['to_spend'])} still to spend"
              + (f"; film: {film}" if film.exists() else "")
              + f"\nestimated: {', '.join(estimated)}; charged by Kling: {charged}")
    if args.format == "json":
        data = {"folder": str(folder), "title": plan.get("title"), "source": plan.get("source"),
                "entries": rows, "jobs": s["jobs"], "done": done, "spent": _num(s["spent"]),
                "to_spend": _num(s["to_spend"]), "film": str(film) if film.exists() else None,
                "estimated": {k: (None if v is None else _num(v)) for k, v in est.items()},
                "charged": {k: _num(v) for k, v in s["charged"].items()}}
        sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2) + "\n")
        return 0
    from ..diagnostics.render import use_colour

    title = f"{plan.get('title') or folder.name} — {folder}"
    if use_colour(sys.stdout):
        _rich(rows, totals, title)
    else:
        sys.stdout.write(f"{title}\n\n" + _plain(rows, totals))
    return 0

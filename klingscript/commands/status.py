"""klingc status DIR [--format table|json] [--all] [--verify] — the ledger of a render folder.

One row per voice, element and job of the script's current plan (``--all``:
also those of earlier versions of the script): its state, Kling's task id,
the estimate (credits, and units / USD when the plan has them; for a job, of
one take), what Kling charged for it (``billing`` / ``final_unit_deduction``,
as recorded by the render; for a job, for all its takes), and the downloaded
clip or the reason it failed. A job's ``takes`` lists its takes: ``3*`` is
the one its scene and the film use (picked with ``klingc pick``, else the
latest successful one), ``(2)`` one without a clip (failed, or not finished).
A chained part (``continuity: chain``, ``first frame: previous``) whose take
started from a take that is no longer the one used before it is marked
*stale* (``render --retake`` makes it again from the one in use).
The totals count every take ever made in the folder, of earlier versions of
the script too. ``--verify``
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


def _take_rows(ledger, folder: Path, e, verify: bool) -> tuple[list, object]:
    """The job's takes for the JSON and the take its scene uses."""
    from ..runtime.ledger import file_ok
    from ..runtime.render import _num
    from ..runtime.takes import chosen

    takes = ledger.takes(e.id)
    good = [t for t in takes if t.state == "done" and file_ok(folder, t, checksum=verify)]
    used = chosen(ledger, folder, e.id, good)
    rows = [{"take": t.take, "state": t.state if t in good or t.state != "done" else "missing",
             "external_task_id": t.external_task_id, "task_id": t.task_id, "file": t.file,
             "credits": _num(t.credits), "units": None if t.units is None else _num(t.units),
             "usd": None if t.usd is None else round(t.usd, 4),
             "charged": None if t.charged is None else _num(t.charged), "charge_unit": t.charge_unit,
             "used": used is not None and t.take == used.take, "picked": e.picked == t.take,
             "message": t.message} for t in takes]
    return rows, used


def _takes_cell(r) -> str:
    return " ".join(f"{t['take']}*" if t["used"] else (str(t["take"]) if t["state"] == "done" else f"({t['take']})")
                    for t in r.get("takes") or [])


def _rows(entries, folder: Path, verify: bool, ledger=None):
    from ..runtime import chain
    from ..runtime.ledger import file_ok
    from ..runtime.render import _num

    rows = []
    for e in entries:
        state = e.state
        note = e.message
        takes, used = (_take_rows(ledger, folder, e, verify) if e.kind == "job" and ledger is not None
                       else ([], None))
        charged = e.charged
        if takes:
            paid = [t["charged"] for t in takes if t["charged"] is not None]
            charged = sum(paid) if paid else None
        if e.kind == "job" and used is not None and (state != "done" or used.take != e.take or
                                                     not file_ok(folder, e, checksum=verify)):
            # The take the row follows is not the one in use (a retake under way, failed or lost).
            why = f"; take {e.take} {e.state}" + (f": {e.message}" if e.message and e.state != "done" else "")
            note = f"{used.file} (take {used.take}, {'picked' if e.picked == used.take else 'latest'})"
            note += why if e.take != used.take else ""
            state = "done" if state in ("done", "failed", "rejected", "error", "pending") else state
        elif e.kind == "job" and e.state == "done":
            ok = file_ok(folder, e, checksum=verify)
            note = e.file or ""
            if not ok:
                state, note = "missing", f"{e.file}: missing or changed; `klingc render` downloads it again"
            elif len(takes) > 1:
                note += f" (take {e.take}, {'picked' if e.picked == e.take else 'latest'})"
        elif e.kind in ("element", "voice") and e.state == "done":
            note = f"{e.kind} id {e.element_id}"
        stale = chain.stale(ledger, folder, entries, e, used) if used is not None else None
        if stale is not None:
            note += f"; {chain.stale_note(e, stale)}"
        rows.append({
            "id": e.id, "kind": e.kind, "what": e.label, "shots": e.shots,
            "seconds": e.duration if e.kind == "job" else None,
            "credits": _num(e.credits) if e.kind == "job" else None,
            "units": None if e.units is None else _num(e.units),
            "usd": None if e.usd is None else round(e.usd, 4),
            "charged": None if charged is None else _num(charged),
            "charge_unit": e.charge_unit or next((t["charge_unit"] for t in takes if t["charge_unit"]), None),
            "state": state, "task_id": e.task_id, "external_task_id": e.external_task_id,
            "current": e.current, "note": note, "takes": takes,
            "picked": e.picked if e.kind == "job" else None,
            "used_take": used.take if used is not None else None,
            "first_frame": used.first_frame if used is not None else None,
            "stale": stale is not None})
    return rows


HEAD = ("id", "what", "shots", "secs", "estimated", "charged", "state", "takes", "task", "note")


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
            _estimate(r), _charged(r), r["state"], _takes_cell(r),
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
        rows = _rows(entries, folder, args.verify, ledger)
        every = ledger.entries(current_only=False)
        all_takes = ledger.takes()
    current = [e for e in entries if e.current]
    s = summarize(current)
    # What was spent and charged: every take ever made here (replaced takes and earlier versions too).
    whole = summarize(every, all_takes)
    s["spent"], s["charged"] = whole["spent"], whole["charged"]
    current_ids = {e.id for e in current}
    made = [t for t in all_takes if t.paid]
    old = sum(1 for t in made if t.job not in current_ids)
    done = sum(1 for r in rows if r["kind"] == "job" and r["current"] and r["state"] == "done")
    film = folder / "film.mp4"
    est = s["estimated"]
    estimated = [f"{_num(est['credits'])} credits (estimated from the web app's rates)"]
    if est["units"] is not None:
        estimated.append(f"{_num(est['units'])} units")
    if est["usd"] is not None:
        estimated.append(f"${est['usd']:.2f}")
    charged = ", ".join(f"{_num(v)} {u}" for u, v in sorted(s["charged"].items())) or "nothing recorded yet"
    takes_text = (f" on {len(made)} take{'s' if len(made) != 1 else ''}"
                  + (f" ({old} of earlier versions of the script)" if old else "")) if made else ""
    totals = (f"{done} of {s['jobs']} jobs done ({s['done_seconds']}s); "
              f"{_num(s['spent'])} credits spent{takes_text}, {_num(s['to_spend'])} still to spend"
              + (f"; film: {film}" if film.exists() else "")
              + f"\nestimated: {', '.join(estimated)}; charged by Kling: {charged}")
    if args.format == "json":
        data = {"folder": str(folder), "title": plan.get("title"), "source": plan.get("source"),
                "entries": rows, "jobs": s["jobs"], "done": done, "spent": _num(s["spent"]),
                "to_spend": _num(s["to_spend"]), "film": str(film) if film.exists() else None,
                "takes": len(made), "takes_of_earlier_versions": old,
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

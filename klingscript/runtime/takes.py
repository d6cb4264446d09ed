"""Takes of a render folder's jobs.

``film_clips`` says which clip of each job the film is made of. (A placeholder
for the takes of issue 10 items 1-2: it gives what the render assembles, each
done job's downloaded clip; the module with takes and picks replaces it.)
"""

from __future__ import annotations

from pathlib import Path

from . import ledger as L


def film_clips(folder: Path, plan: dict) -> dict[str, Path]:
    """Job id -> the clip the film uses (the picked take, else the latest successful one), for
    the jobs of ``plan`` that have one."""
    folder = Path(folder)
    wanted = {j["id"] for j in plan.get("jobs") or []}
    with L.Ledger.open_readonly(folder) as ledger:
        entries = ledger.entries(current_only=False)
    return {e.id: folder / e.file for e in entries
            if e.id in wanted and e.kind == "job" and e.state == "done" and e.file
            and L.file_ok(folder, e, checksum=False)}

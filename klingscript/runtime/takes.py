"""Takes and picks: which take of each job the scenes and the film use.

Every generation of a job is a take (``ledger.py``). The one place that
decides which take a job's scene, the film, an export and the review page use
is ``chosen``: the take the writer picked (``klingc pick``, or a click on the
review page), when its clip is still there; otherwise the latest successful
take. ``film_clips(folder, plan)`` gives those files for a plan's jobs.

``pick(folder, "3.2", 2)`` is what ``klingc pick`` and ``klingc review
--serve`` call: it checks the take, records it in the ledger and assembles the
scene files and the film again from the picked takes.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

from . import ledger as L


class PickError(Exception):
    """A pick that cannot be made (no such scene, part or take; a take without a clip)."""


def good_takes(ledger: L.Ledger, folder: Path, job: str, checksum: bool = False) -> list[L.Take]:
    """The job's takes that succeeded and whose clip is there (size, and SHA-256 with ``checksum``)."""
    return [t for t in ledger.takes(job) if t.state == "done" and L.file_ok(folder, t, checksum=checksum)]


def chosen(ledger: L.Ledger, folder: Path, job: str, good: Optional[list[L.Take]] = None) -> Optional[L.Take]:
    """The take a job's scene uses: its pick when that take's clip is there, else the latest
    successful take (None when it has none)."""
    good = good_takes(ledger, folder, job) if good is None else good
    if not good:
        return None
    e = ledger.get(job)
    if e is not None and e.picked is not None:
        for t in good:
            if t.take == e.picked:
                return t
    return good[-1]


def choose(ledger: L.Ledger, folder: Path, plan: dict) -> dict[str, Path]:
    """``film_clips`` on an open ledger."""
    folder = Path(folder)
    clips = {}
    for job in plan.get("jobs") or []:
        t = chosen(ledger, folder, job["id"])
        if t is not None:
            clips[job["id"]] = folder / t.file
    return clips


def film_clips(folder: Path, plan: dict) -> dict[str, Path]:
    """Job id -> the file of its picked take, else of its latest successful take, for the jobs of
    ``plan`` that have one (a render folder without a ledger has none)."""
    try:
        ledger = L.Ledger.open_readonly(Path(folder))
    except L.LedgerError:
        return {}
    with ledger:
        return choose(ledger, folder, plan)


_WHERE = re.compile(r"^\s*(\d+)(?:\.(\d+))?\s*$")


def parse_where(text: str) -> tuple[int, Optional[int]]:
    """``"3"`` -> (3, None); ``"3.2"`` -> (3, 2)."""
    m = _WHERE.match(text or "")
    if not m:
        raise PickError(f"{text!r} is not a scene: write its number (3) or scene and part (3.2)")
    return int(m.group(1)), (int(m.group(2)) if m.group(2) else None)


def _at(items: list, where: str, whole_scene: bool, scene_of, part_of) -> list:
    scene, part = parse_where(where)
    jobs = sorted((x for x in items if scene_of(x) == scene), key=lambda x: part_of(x) or 1)
    if not jobs:
        scenes = sorted({scene_of(x) for x in items if scene_of(x) is not None})
        known = f"scenes {scenes[0]} to {scenes[-1]}" if scenes else "no scenes"
        raise PickError(f"there is no scene {scene} in this render ({known})")
    if part is None:
        if whole_scene or len(jobs) == 1:
            return jobs
        raise PickError(f"scene {scene} has {len(jobs)} parts: name one, as {scene}.1 to {scene}.{len(jobs)}")
    found = [x for x in jobs if (part_of(x) or 1) == part]
    if not found:
        raise PickError(f"scene {scene} has {len(jobs)} part{'s' if len(jobs) != 1 else ''}, not a part {part}")
    return found


def jobs_at(entries: list[L.Entry], where: str, whole_scene: bool = False) -> list[L.Entry]:
    """The current jobs at ``where``: scene N (all its parts when ``whole_scene``; else N must
    have one part) or scene N part P."""
    jobs = [e for e in entries if e.kind == "job" and e.current]
    return _at(jobs, where, whole_scene, lambda e: e.scene, lambda e: e.part)


def select_plan_jobs(plan: dict, wheres) -> list[str]:
    """The ids of the plan's jobs that ``wheres`` name (``"3"``: every part of scene 3;
    ``"5.2"``: scene 5 part 2), in plan order; PickError for one that names nothing."""
    jobs = list(plan.get("jobs") or [])
    chosen_ids: set = set()
    for where in wheres or ():
        found = _at(jobs, where, True, lambda j: j.get("scene"), lambda j: j.get("part"))
        chosen_ids.update(j["id"] for j in found)
    return [j["id"] for j in jobs if j["id"] in chosen_ids]


@dataclass
class Picked:
    job: L.Entry
    take: L.Take
    film: Optional[Path]            # film.mp4 when it could be assembled again
    message: str = ""               # why it was not, when it was not


def pick(folder: Path, where: str, take: int, assemble: bool = True,
         note: Optional[Callable[[str], None]] = None) -> Picked:
    """Pick take ``take`` of the job at ``where`` (``"3.2"``), then assemble the scenes and the
    film from the picked takes again (``assemble``). Not while another process renders
    (or picks) in the folder: ``PickError`` names it, and nothing is changed."""
    from .render import FolderBusy, lock_folder, unlock_folder

    folder = Path(folder)
    lock = None
    if (folder / L.FILENAME).is_file():         # a render folder (else _pick says what it is not)
        try:
            lock = lock_folder(folder, "pick")
        except FolderBusy as e:
            raise PickError(str(e)) from None
    try:
        return _pick(folder, where, take, assemble, note)
    finally:
        unlock_folder(lock)


def _pick(folder: Path, where: str, take: int, assemble: bool,
          note: Optional[Callable[[str], None]]) -> Picked:
    try:
        ledger = L.Ledger.open(folder, create=False)
    except L.LedgerError as e:
        raise PickError(str(e)) from None
    with ledger:
        (job,) = jobs_at(ledger.entries(), where)
        takes = ledger.takes(job.id)
        numbers = [t.take for t in takes if t.state == "done" and L.file_ok(folder, t, checksum=False)]
        have = (f"its takes with a clip: {', '.join(str(n) for n in numbers)}" if numbers
                else "it has no take with a clip yet")
        t = next((t for t in takes if t.take == take), None)
        if t is None:
            raise PickError(f"{job.label} has no take {take} ({have})")
        if t.take not in numbers:
            why = t.message or t.state
            raise PickError(f"take {take} of {job.label} has no clip ({why}); {have}")
        ledger.pick(job.id, take)
        job = ledger.get(job.id)
        if not assemble:
            return Picked(job, t, None)
        plan = _plan(folder)
        if plan is None:
            return Picked(job, t, None, f"{folder} has no plan.json to assemble from")
        clips = choose(ledger, folder, plan)
    from .assemble import AssemblyError, assemble as join

    try:
        made = join(plan, clips, folder, note)
    except AssemblyError as e:
        return Picked(job, t, None, f"assembly failed: {e}")
    if made.film is None:
        missing = ", ".join(str(n) for n in made.incomplete)
        return Picked(job, t, None, f"the film was not assembled: scenes {missing} have no clip yet")
    return Picked(job, t, made.film)


def _plan(folder: Path) -> Optional[dict]:
    try:
        return json.loads((Path(folder) / "plan.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None

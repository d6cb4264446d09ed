"""Continuity between parts at render time (issue 10 item 4).

A chained job's request carries its first frame as a placeholder
(``planner/chain.py``): ``previous:S.P``, the last frame of scene S part P,
or ``previous:S``, of the last part of scene S. ``klingc render`` runs such a
job after the job it names (``source``), takes that job's picked take
(``takes.chosen``: the pick, else the latest successful take), extracts its
last frame (``frames.last_frame``: PyAV, checked against the model profile's
image rules) and sends it, as Base64, where the placeholder was. The frame's
path (``frames/<digest>.jpg``, named by the source take's SHA-256) is recorded
with the take it was sent with (the ``first_frame`` of its ledger row), so
``stale`` can tell a part that started from a take that is no longer picked;
``render --retake`` of that part sends the current pick's frame.

The job a chained take started from follows from where the job is: a later
part of a scene starts from the part before it, a first part (``first frame:
previous``) from the last part of the scene before.
"""

from __future__ import annotations

import base64
import re
from pathlib import Path
from typing import Optional

from . import ledger as L

PREVIOUS = "previous:"          # lower.PREVIOUS: the planner writes it, the render fills it
_REF = re.compile(r"^previous:(\d+)(?:\.(\d+))?$")


class ChainError(Exception):
    """A chained frame that cannot be sent (no take to start from, a frame outside the rules)."""


def placeholders(request: dict) -> list[str]:
    """The ``previous:`` values of a request's frames, in order (legacy ``image``, omni
    ``image_list``, current ``contents``)."""
    found = []
    values = [request.get("image"), request.get("image_tail")]
    values += [i.get("image_url") for i in request.get("image_list") or [] if isinstance(i, dict)]
    values += [i.get("url") for i in request.get("contents") or [] if isinstance(i, dict)]
    for v in values:
        if isinstance(v, str) and v.startswith(PREVIOUS) and v not in found:
            found.append(v)
    return found


def source(jobs: list, ref: str) -> Optional[dict]:
    """The job (of plan.json's ``jobs``, or ledger entries) a placeholder names."""
    m = _REF.match(ref)
    if not m:
        return None
    scene, part = int(m.group(1)), m.group(2)

    def get(j, k):
        return j.get(k) if isinstance(j, dict) else getattr(j, k)

    mine = [j for j in jobs if get(j, "scene") == scene]
    if not mine:
        return None
    if part is None:
        return max(mine, key=lambda j: get(j, "part") or 1)
    return next((j for j in mine if (get(j, "part") or 1) == int(part)), None)


def source_entry(entries: list[L.Entry], job: L.Entry) -> Optional[L.Entry]:
    """The job a chained take of ``job`` started from: the part before it, or for a first part the
    last part of the scene before."""
    jobs = [e for e in entries if e.kind == "job" and e.current]
    if (job.part or 1) > 1:
        return source(jobs, f"{PREVIOUS}{job.scene}.{job.part - 1}")
    return source(jobs, f"{PREVIOUS}{(job.scene or 0) - 1}")


def job_profile(job: dict):
    """The model profile of a plan job (its image rules and frame bytes)."""
    from ..model import profiles as P
    from ..model.settings import DEFAULTS
    from . import generations as G

    generation = G.path_generation(job.get("endpoint") or "")
    name = (job.get("request") or {}).get("model_name")
    p = P.by_model_name(name, generation) if isinstance(name, str) else None
    if p is None:
        omni = "omni" in (job.get("endpoint") or "")
        for candidate in P.available():
            q = P.load(candidate, generation)
            if q is not None and bool(q.endpoints.omni) == omni:
                p = q
                break
    return p or P.load(DEFAULTS["model"], generation)


def frames_for(ledger: L.Ledger, folder: Path, jobs: list, job: dict) -> tuple[dict, Optional[str]]:
    """``({placeholder: Base64}, frames/<digest>.jpg)`` of a chained job: the last frame of each
    job it names, from that job's picked take; ``({}, None)`` for a job without one."""
    return extract(takes_for(ledger, folder, jobs, job), folder, job)


def takes_for(ledger: L.Ledger, folder: Path, jobs: list, job: dict) -> list[tuple]:
    """``[(placeholder, label, take)]``: the picked take of each job a chained job starts from
    (ChainError when one has none)."""
    from .takes import chosen

    out = []
    for ref in placeholders(job.get("request") or {}):
        src = source(jobs, ref)
        if src is None:
            raise ChainError(f"its first frame is the last frame of {ref[len(PREVIOUS):]}, "
                             f"which is not in this plan")
        e = ledger.get(src["id"])
        label = e.label if e is not None else src["id"]
        take = chosen(ledger, folder, src["id"])
        if take is None:
            raise ChainError(f"it starts from the last frame of {label}, which has no take")
        out.append((ref, label, take))
    return out


def extract(takes: list[tuple], folder: Path, job: dict) -> tuple[dict, Optional[str]]:
    """The frames of ``takes_for`` as ``frames_for`` gives them (no ledger: it runs in a thread)."""
    from .frames import FrameError, last_frame

    out: dict = {}
    rel = None
    for ref, label, take in takes:
        try:
            path = last_frame(Path(folder) / take.file, Path(folder), job_profile(job), digest=take.sha256)
        except FrameError as x:
            raise ChainError(f"it starts from the last frame of {label}: {x}") from None
        out[ref] = base64.b64encode(path.read_bytes()).decode("ascii")
        rel = L.relpath(Path(folder), path)
    return out, rel


def stale(ledger: L.Ledger, folder: Path, entries: list[L.Entry], job: L.Entry,
          take: Optional[L.Take]) -> Optional[L.Entry]:
    """The job whose picked take is no longer the one ``take`` of ``job`` started from (the part
    is stale), or None."""
    from .frames import is_stale
    from .takes import chosen

    if take is None or not take.first_frame:
        return None
    src = source_entry(entries, job)
    if src is None:
        return None
    now = chosen(ledger, folder, src.id)
    if now is None:
        return None
    return src if is_stale(take.first_frame, now.sha256) else None


def stale_note(job: L.Entry, src: L.Entry) -> str:
    """What ``klingc status`` and the review page say of a stale part."""
    where = f"{job.scene}.{job.part}" if (job.parts or 1) > 1 else f"{job.scene}"
    return (f"stale: it starts from a take of {src.label} that is no longer the one used; "
            f"`klingc render FILE --retake {where}` makes it again from that one")

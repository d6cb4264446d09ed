"""The storyboard of a render: what the script says each job's clip shows, shot by shot.

``storyboard.json`` in a render folder (written by ``klingc render``, see
``write``) maps each job id to its scene, part and shots: each shot's number
in the script, where it starts in the clip and how long it lasts, its action
as plain text, the elements it shows (with their first image) and its
dialogue lines (speaker, tones, language, text) with the time each is spoken.
``klingc export`` makes timelines and subtitles from it, and the simulator's
animatics (``runtime/simulator/animatic.py``) draw it, so the film, its
timeline and its subtitles place every line at the same time.

A line's time inside its shot (``line_times``): the shot's time after a short
lead-in is shared among its lines in proportion to their length. Kling does not
say when a line is spoken; this is the estimate both the animatic and the
subtitles use.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional, Sequence

FILE = "storyboard.json"
FORMAT = "0.1"


def line_times(start: float, seconds: float, texts: Sequence[str]) -> list[tuple[float, float]]:
    """(start, end) of each of a shot's lines, in seconds from the clip's start."""
    if not texts:
        return []
    lead = min(0.3, seconds / 10)
    span = max(seconds - lead, 0.1)
    weights = [max(len(t), 1) + 10 for t in texts]
    total = sum(weights)
    out = []
    t = start + lead
    for w in weights:
        length = span * w / total
        out.append((t, t + length))
        t += length
    return out


def _plain(pieces) -> str:
    from .backends.prompts import display_name

    out = []
    for p in pieces or ():
        out.append(p if type(p) is str else (display_name(p.name) if p.declared else "@" + p.name))
    return " ".join("".join(out).split())


def _image(production, name: Optional[str]) -> Optional[str]:
    el = production.elements.get(name) if name else None
    return el.images[0] if el is not None and el.images else None


def _shot(production, number: Optional[int], start: float, seconds: float, text, lines) -> dict:
    from . import lower as L

    actions = [_plain(text)] if text else []
    names: list[str] = []

    def mention(pieces):
        for p in pieces or ():
            if type(p) is not str and p.declared and p.name not in names:
                names.append(p.name)

    mention(text)
    speech = []
    for line in lines:
        if isinstance(line, L.Action):
            actions.append(_plain(line.text))
            mention(line.text)
        elif isinstance(line, L.Speech):
            speech.append(line)
            if line.element and line.element not in names:
                names.append(line.element)
    times = line_times(start, seconds, [s.text for s in speech])
    return {
        "number": number, "start": start, "seconds": seconds,
        "action": " ".join(a for a in actions if a),
        "elements": [{"name": n, "image": _image(production, n)} for n in names],
        "lines": [{"speaker": s.speaker, "tones": list(s.tones), "language": s.language,
                   "offscreen": s.offscreen, "text": s.text, "start": round(a, 6), "end": round(b, 6)}
                  for s, (a, b) in zip(speech, times)],
    }


def of_plan(plan, jobs_json: Sequence[dict]) -> dict:
    """The storyboard of a planned production (the planner's ``Plan`` after ``finish``) whose
    jobs are ``jobs_json`` (plan.json's ``jobs``, in the same order)."""
    production = plan.production
    jobs = {}
    for job, entry in zip(plan.jobs, jobs_json):
        scene = job.scene
        shots = []
        t = 0.0
        if job.shots:
            for s in job.shots:
                shots.append(_shot(production, s.number, t, float(s.seconds), s.text, s.lines))
                t += s.seconds
        else:
            shots.append(_shot(production, None, 0.0, float(job.duration), (), scene.preamble))
        location = scene.location.name if scene.location is not None and scene.location.declared else None
        # A chained first frame is known only at render time (the request carries it then).
        first = job.first_frame.path if job.first_frame is not None and not job.first_frame.chained else None
        jobs[entry["id"]] = {
            "scene": scene.number, "title": scene.title, "part": job.part, "parts": job.parts,
            "duration": job.duration,
            "location": location,
            "background": first or _image(production, location),
            "shots": shots,
        }
    return {"klingscript": FORMAT, "title": production.title, "source": production.source,
            "root": None, "jobs": jobs}


def write(folder: Path, board: dict, script_dir: Path) -> Path:
    """``storyboard.json`` in ``folder``, its image paths relative to the script's folder
    (``root`` says which, as an absolute path, for readers elsewhere)."""
    from .files import write_atomic

    data = dict(board, root=str(Path(script_dir).resolve()))
    path = Path(folder) / FILE
    write_atomic(path, json.dumps(data, ensure_ascii=False, indent=2) + "\n")
    return path


class Missing(Exception):
    pass


def read(folder: Path) -> dict:
    path = Path(folder) / FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise Missing(f"{folder} has no {FILE}: render it again with this klingc "
                      f"(`klingc render FILE -o {folder}` sends nothing new for clips already made)") from None
    except (OSError, ValueError) as e:
        raise Missing(f"{path}: not readable ({e})") from None
    if not isinstance(data, dict) or not isinstance(data.get("jobs"), dict):
        raise Missing(f"{path}: not a klingc storyboard")
    return data


def image_path(board: dict, rel: Optional[str]) -> Optional[Path]:
    """An image of the storyboard as a path (relative ones against the script's folder)."""
    if not rel:
        return None
    p = Path(rel)
    if not p.is_absolute() and board.get("root"):
        p = Path(board["root"]) / p
    return p

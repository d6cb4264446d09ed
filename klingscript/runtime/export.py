"""Hand-off to an editor: the film of a render folder as a timeline and subtitles.

``film(folder)`` lays the picked take of every job (``takes.film_clips``) end
to end in film order, as ``film.mp4`` joins them, and places each shot of the
storyboard (``storyboard.json``) and each line of dialogue on that time line,
in frames of the clips' frame rate. Everything else is made from it, so the
OpenTimelineIO timeline (``timeline``; FCPXML and CMX 3600 EDL through OTIO's
adapter plugins), the subtitles (``subtitles``: SRT, WebVTT, and the ASS file
that ``burn`` draws into ``film.mp4``) and the film agree to the frame.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Optional

from .. import storyboard as S


class ExportError(Exception):
    """The render folder cannot be exported (one line for the user)."""


@dataclass
class Line:
    speaker: str
    tones: list
    text: str
    start: int                  # frames from the film's start
    end: int


@dataclass
class Shot:
    number: Optional[int]
    action: str
    start: int                  # frames from the clip's start
    frames: int
    lines: list[Line] = field(default_factory=list)   # in film frames


@dataclass
class Part:
    id: str
    scene: int
    part: int
    parts: int
    title: str
    path: Path
    start: int                  # frames from the film's start
    frames: int
    shots: list[Shot] = field(default_factory=list)

    @property
    def name(self) -> str:
        where = f"Scene {self.scene}" + (f".{self.part}" if self.parts > 1 else "")
        return f"{where} — {self.title}"


@dataclass
class Film:
    title: str
    rate: float
    parts: list[Part]

    @property
    def frames(self) -> int:
        return sum(p.frames for p in self.parts)

    @property
    def lines(self) -> list[Line]:
        return [ln for p in self.parts for s in p.shots for ln in s.lines]


def _frames(path: Path) -> tuple[int, float]:
    """(frame count, frame rate) of a clip's video (PyAV)."""
    import av

    try:
        with av.open(str(path)) as c:
            v = next(s for s in c.streams if s.type == "video")
            rate = float(v.average_rate or v.guessed_rate or 24)
            n = v.frames
            if not n:
                seconds = float(v.duration * v.time_base) if v.duration else (c.duration or 0) / 1_000_000
                n = round(seconds * rate)
            return int(n), rate
    except (StopIteration, OSError, ValueError) as e:
        raise ExportError(f"{path.name} is not a readable video ({e})") from None
    except Exception as e:  # av.error.*
        raise ExportError(f"{path.name} is not a readable video ({type(e).__name__}: {e})") from None


def read_plan(folder: Path) -> dict:
    path = Path(folder) / "plan.json"
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ExportError(f"{folder} is not a klingc render folder (no plan.json)") from None
    except (OSError, ValueError) as e:
        raise ExportError(f"{path}: not readable ({e})") from None


def film(folder: Path, plan: Optional[dict] = None, board: Optional[dict] = None) -> Film:
    """The film of render folder ``folder``: every job's clip in film order, with its shots and
    lines in frames. Raises ExportError when a job has no clip yet."""
    from .ledger import LedgerError
    from .takes import film_clips

    folder = Path(folder)
    plan = plan if plan is not None else read_plan(folder)
    try:
        board = board if board is not None else S.read(folder)
    except S.Missing as e:
        raise ExportError(str(e)) from None
    try:
        clips = film_clips(folder, plan)
    except LedgerError as e:
        raise ExportError(str(e)) from None
    jobs = sorted(plan.get("jobs") or [], key=lambda j: (int(j["scene"]), int(j.get("part", 1))))
    missing = [j for j in jobs if j["id"] not in clips]
    if missing:
        names = ", ".join(f"scene {j['scene']}" + (f" part {j['part']}" if j.get("parts", 1) > 1 else "")
                          for j in missing[:6]) + (", ..." if len(missing) > 6 else "")
        raise ExportError(f"the film is not complete: {names} {'has' if len(missing) == 1 else 'have'} "
                          f"no clip yet (run `klingc render` first)")
    if not jobs:
        raise ExportError(f"{folder}: the plan has no jobs")
    rate = None
    parts: list[Part] = []
    at = 0
    for j in jobs:
        path = clips[j["id"]]
        n, r = _frames(path)
        if rate is None:
            rate = r
        elif abs(r - rate) > 1e-6:        # joined by re-encoding at the first clip's rate
            n = round(n * rate / r)
        sb = board["jobs"].get(j["id"]) or {"shots": []}
        part = Part(j["id"], int(j["scene"]), int(j.get("part", 1)), int(j.get("parts", 1)),
                    str(j.get("scene_title") or sb.get("title") or f"scene {j['scene']}"), path, at, n)

        def frame(t: float) -> int:
            return min(max(round(t * rate), 0), n)

        for s in sb.get("shots") or []:
            a = frame(float(s["start"]))
            b = frame(float(s["start"]) + float(s["seconds"]))
            shot = Shot(s.get("number"), s.get("action") or "", a, b - a)
            for ln in s.get("lines") or []:
                la, lb = frame(float(ln["start"])), frame(float(ln["end"]))
                if lb > la:
                    shot.lines.append(Line(ln["speaker"], list(ln.get("tones") or []), ln["text"],
                                           at + la, at + lb))
            part.shots.append(shot)
        parts.append(part)
        at += n
    return Film(str(plan.get("title") or board.get("title") or "film"), float(rate), parts)


# -- the timeline ---------------------------------------------------------------------

def _speech(ln: Line) -> str:
    how = f" ({', '.join(ln.tones)})" if ln.tones else ""
    return f"{ln.speaker}{how}: \u201c{ln.text}\u201d"


def timeline(f: Film):
    """The film as an OpenTimelineIO timeline: one video track, a clip per job, a marker per shot."""
    import opentimelineio as otio

    RT, TR = otio.opentime.RationalTime, otio.opentime.TimeRange
    rate = f.rate
    tl = otio.schema.Timeline(name=f.title, global_start_time=RT(0, rate))
    track = otio.schema.Track(name="Film", kind=otio.schema.TrackKind.Video)
    tl.tracks.append(track)
    for p in f.parts:
        whole = TR(RT(0, rate), RT(p.frames, rate))
        ref = otio.schema.ExternalReference(target_url=p.path.resolve().as_uri(), available_range=whole)
        clip = otio.schema.Clip(name=p.name, media_reference=ref, source_range=whole,
                                metadata={"klingscript": {"job": p.id, "scene": p.scene, "part": p.part,
                                                          "parts": p.parts, "title": p.title}})
        for s in p.shots:
            dialogue = [{"speaker": ln.speaker, "tones": ln.tones, "text": ln.text,
                         "start": ln.start - p.start, "end": ln.end - p.start} for ln in s.lines]
            comment = " ".join([s.action] + [_speech(ln) for ln in s.lines]).strip()
            clip.markers.append(otio.schema.Marker(
                name=f"Shot {s.number}" if s.number is not None else p.name,
                marked_range=TR(RT(s.start, rate), RT(max(s.frames, 1), rate)),
                color=otio.schema.MarkerColor.RED,
                metadata={"klingscript": {"shot": s.number, "action": s.action, "dialogue": dialogue}},
                comment=comment))
        track.append(clip)
    return tl


ADAPTERS = {"otio": "otio_json", "fcpxml": "fcpx_xml", "edl": "cmx_3600"}


def write_timeline(tl, path: Path, kind: str) -> None:
    """``kind``: otio, fcpxml or edl (the last two through OTIO's adapter plugins)."""
    import opentimelineio as otio

    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        otio.adapters.write_to_file(tl, str(tmp), adapter_name=ADAPTERS[kind])
        os.replace(tmp, path)
    except otio.exceptions.OTIOError as e:
        raise ExportError(f"cannot write {path.name} ({type(e).__name__}: {e})") from None
    except ValueError as e:          # the adapters' own complaints (a frame rate without timecode)
        raise ExportError(f"cannot write {path.name}: {e}") from None
    finally:
        if tmp.exists():
            tmp.unlink()


# -- subtitles ---------------------------------------------------------------------------

def _ms(frame: int, rate: float) -> int:
    return int(round(frame * 1000 / rate))


def subtitles(f: Film, font: Optional[str] = None):
    """Every dialogue line as a subtitle (``Speaker: text``), timed in the film (pysubs2)."""
    import pysubs2

    subs = pysubs2.SSAFile()
    subs.info["Title"] = f.title
    style = subs.styles["Default"]
    if font:
        style.fontname = font
    style.fontsize = 18
    style.outline = 1.5
    for ln in f.lines:
        subs.append(pysubs2.SSAEvent(start=_ms(ln.start, f.rate), end=_ms(ln.end, f.rate),
                                     text=f"{ln.speaker}: {ln.text}", name=ln.speaker))
    return subs


def write_subtitles(subs, path: Path, kind: str) -> None:
    """``kind``: srt, vtt or ass."""
    from ..files import write_atomic

    write_atomic(Path(path), subs.to_string(kind))


# -- burning subtitles into the film ----------------------------------------------------

def burn(film_path: Path, f: Film) -> None:
    """Draw the film's subtitles into ``film_path`` (re-encoded, same frames; written atomically)."""
    import tempfile

    from . import fonts
    from .assemble import _run, ffmpeg

    film_path = Path(film_path)
    face = fonts.find()
    subs = subtitles(f, face.family if face.path else None)
    with tempfile.TemporaryDirectory(prefix=".burn-", dir=film_path.parent) as tmp:
        ass = Path(tmp) / "subs.ass"
        ass.write_text(subs.to_string("ass"), encoding="utf-8")
        out = Path(tmp) / "film.mp4"
        vf = f"subtitles=filename={_filter_path(ass)}"
        if face.path:
            vf += f":fontsdir={_filter_path(Path(face.path).parent)}"
        _run([ffmpeg(), "-hide_banner", "-nostdin", "-loglevel", "error", "-y", "-i", str(film_path),
              "-vf", vf, "-fps_mode", "passthrough", "-c:v", "libx264", "-preset", "veryfast", "-crf", "18",
              "-pix_fmt", "yuv420p", "-c:a", "copy", "-movflags", "+faststart", "-f", "mp4", str(out)])
        os.replace(out, film_path)


def _filter_path(p: Path) -> str:
    """A path as an ffmpeg filter option value (its special characters escaped)."""
    s = str(Path(p).resolve())
    for ch in ("\\", ":", "'", ",", "[", "]", ";"):
        s = s.replace(ch, "\\" + ch)
    return s


def after_render(folder: Path, board: dict, script_dir: Path, film_path: Optional[Path],
                 burn_subtitles: bool, simulated: bool = False) -> tuple[list[str], bool]:
    """What ``klingc render`` does for export after the render: write the storyboard, burn the
    subtitles into the film when asked, and (for animatics) say when the font lacks glyphs the
    script needs. Returns (notes to print, whether a burn asked for failed)."""
    folder = Path(folder)
    notes: list[str] = []
    if simulated:
        from .fonts import missing

        texts = [s["action"] for j in board["jobs"].values() for s in j["shots"]]
        texts += [ln["speaker"] + ln["text"] for j in board["jobs"].values() for s in j["shots"]
                  for ln in s["lines"]]
        note = missing(texts)
        if note:
            notes.append(note)
    if not (folder / "ledger.sqlite").exists():
        return notes, burn_subtitles
    try:
        S.write(folder, board, script_dir)
    except OSError as e:
        notes.append(f"cannot write {S.FILE}: {e.strerror or e}")
    if burn_subtitles:
        if film_path is None:
            notes.append("subtitles not burnt: the film was not assembled")
            return notes, True
        from .assemble import AssemblyError

        try:
            burn(film_path, film(folder))
        except (ExportError, AssemblyError, OSError) as e:
            notes.append(f"subtitles not burnt into the film: {e}")
            return notes, True
    return notes, False

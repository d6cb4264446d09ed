"""Assembly: the clips of a render become scene files and the film.

``DIR/scenes/NN-<scene-slug>.mp4`` joins the parts of scene NN in order;
``DIR/film.mp4`` joins every clip in script order (from the clips, not the
scene files: each join of AAC audio keeps one frame of encoder delay, so a
film made of scene files would drift by that much per scene). Clips that share their
codecs and picture size (Kling's clips of one model and resolution do) are
joined without re-encoding (ffmpeg's concat demuxer, streams copied), so
nothing is lost; otherwise they are scaled and padded to the first clip's
size, given silence where a clip has no sound, and encoded again (H.264 and
AAC). The ffmpeg used is the one that the ``imageio-ffmpeg`` package ships:
no system ffmpeg is needed. Every file is written to a temporary name and
renamed when complete.
"""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional, Sequence


class AssemblyError(Exception):
    """ffmpeg could not join the clips."""


@dataclass(frozen=True)
class ClipInfo:
    duration: float
    width: int
    height: int
    video_codec: str
    pix_fmt: str
    fps: Optional[float]
    audio_codec: Optional[str]
    sample_rate: Optional[int]
    channels: Optional[int]

    def joinable_with(self, other: "ClipInfo") -> bool:
        return (self.width, self.height, self.video_codec, self.pix_fmt, self.audio_codec,
                self.sample_rate, self.channels) == (other.width, other.height, other.video_codec,
                                                     other.pix_fmt, other.audio_codec,
                                                     other.sample_rate, other.channels)


@dataclass
class Assembly:
    scenes: list[Path] = field(default_factory=list)
    film: Optional[Path] = None
    incomplete: list[int] = field(default_factory=list)   # scene numbers with clips missing


def ffmpeg() -> str:
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


def probe(path: Path) -> ClipInfo:
    """What a clip holds (PyAV)."""
    import av

    try:
        with av.open(str(path)) as c:
            v = next((s for s in c.streams if s.type == "video"), None)
            a = next((s for s in c.streams if s.type == "audio"), None)
            if v is None:
                raise AssemblyError(f"{path.name} has no video stream")
            duration = c.duration / 1_000_000 if c.duration else 0.0
            fps = float(v.average_rate) if v.average_rate else None
            return ClipInfo(duration, v.codec_context.width, v.codec_context.height, v.codec_context.name,
                            str(v.codec_context.pix_fmt), fps,
                            a.codec_context.name if a is not None else None,
                            a.codec_context.sample_rate if a is not None else None,
                            a.codec_context.channels if a is not None else None)
    except AssemblyError:
        raise
    except Exception as e:  # av.error.* and anything a broken file raises
        raise AssemblyError(f"{path.name} is not a readable video ({type(e).__name__}: {e})") from None


def duration(path: Path) -> float:
    return probe(path).duration


def slug(title: str, limit: int = 40) -> str:
    """A file-name form of a scene title: ``"Liked the photo"`` -> ``liked-the-photo``."""
    ascii_ = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode("ascii")
    s = re.sub(r"[^A-Za-z0-9]+", "-", ascii_).strip("-").lower()
    if not s:
        s = re.sub(r"[^\w]+", "-", title, flags=re.UNICODE).strip("-").lower()
    s = s[:limit].strip("-")
    return s or "scene"


def scene_file(number: int, title: str, width: int = 2) -> str:
    return f"{number:0{width}d}-{slug(title)}.mp4"


def _run(args: list[str]) -> None:
    try:
        proc = subprocess.run(args, capture_output=True, text=True, encoding="utf-8", errors="replace")
    except OSError as e:
        raise AssemblyError(f"cannot run ffmpeg ({e})") from None
    if proc.returncode != 0:
        tail = " ".join((proc.stderr or "").strip().splitlines()[-3:])
        raise AssemblyError(f"ffmpeg failed: {tail or f'exit code {proc.returncode}'}")


def _concat_copy(inputs: Sequence[Path], out: Path) -> None:
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False, dir=out.parent,
                                     prefix=".concat-", encoding="utf-8") as f:
        for p in inputs:
            escaped = str(Path(p).resolve()).replace("'", "'\\''")
            f.write(f"file '{escaped}'\n")
        listing = f.name
    try:
        _run([ffmpeg(), "-hide_banner", "-nostdin", "-loglevel", "error", "-y", "-f", "concat",
              "-safe", "0", "-i", listing, "-map", "0", "-c", "copy", "-movflags", "+faststart",
              "-f", "mp4", str(out)])
    finally:
        os.unlink(listing)


def _concat_encode(inputs: Sequence[Path], infos: Sequence[ClipInfo], out: Path) -> None:
    w, h = infos[0].width, infos[0].height
    w, h = w - w % 2, h - h % 2
    fps = next((i.fps for i in infos if i.fps), 24.0)
    sound = any(i.audio_codec for i in infos)
    args = [ffmpeg(), "-hide_banner", "-nostdin", "-loglevel", "error", "-y"]
    for p in inputs:
        args += ["-i", str(p)]
    n = len(inputs)
    filters, pads = [], []
    extra = n
    for k, info in enumerate(infos):
        filters.append(f"[{k}:v]scale={w}:{h}:force_original_aspect_ratio=decrease,"
                       f"pad={w}:{h}:(ow-iw)/2:(oh-ih)/2,setsar=1,fps={fps:g},format=yuv420p,"
                       f"trim=duration={info.duration:.6f},setpts=PTS-STARTPTS[v{k}]")
        pads.append(f"[v{k}]")
        if sound:
            if info.audio_codec:
                filters.append(f"[{k}:a]aresample=48000,aformat=sample_fmts=fltp:channel_layouts=stereo,"
                               f"apad,atrim=duration={info.duration:.6f},asetpts=PTS-STARTPTS[a{k}]")
            else:
                args += ["-f", "lavfi", "-t", f"{info.duration:.6f}",
                         "-i", "anullsrc=channel_layout=stereo:sample_rate=48000"]
                filters.append(f"[{extra}:a]aformat=sample_fmts=fltp:channel_layouts=stereo[a{k}]")
                extra += 1
            pads.append(f"[a{k}]")
    filters.append("".join(pads) + f"concat=n={n}:v=1:a={1 if sound else 0}[v]" + ("[a]" if sound else ""))
    args += ["-filter_complex", ";".join(filters), "-map", "[v]"]
    if sound:
        args += ["-map", "[a]", "-c:a", "aac", "-b:a", "192k"]
    args += ["-c:v", "libx264", "-preset", "veryfast", "-crf", "18", "-pix_fmt", "yuv420p",
             "-movflags", "+faststart", "-f", "mp4", str(out)]
    _run(args)


def concat(inputs: Sequence[Path], out: Path, infos: Optional[Sequence[ClipInfo]] = None) -> list[ClipInfo]:
    """Join ``inputs`` in order into ``out`` (written atomically); returns what each input holds.

    ``infos``: the inputs already probed (one each, in order), so they are not probed again.
    """
    if not inputs:
        raise AssemblyError("nothing to join")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.stem}.tmp{os.getpid()}.mp4")
    try:
        infos = list(infos) if infos is not None else [probe(Path(p)) for p in inputs]
        if all(infos[0].joinable_with(i) for i in infos[1:]):
            _concat_copy(inputs, tmp)
        else:
            _concat_encode(inputs, infos, tmp)
        os.replace(tmp, out)
    finally:
        if tmp.exists():
            tmp.unlink()
    return infos


def clean_temporary(folder: Path) -> None:
    """Remove what an interrupted assembly left behind."""
    for pattern in (".*.tmp*.mp4", ".concat-*.txt"):
        for where in (folder, folder / "scenes"):
            for p in where.glob(pattern):
                try:
                    p.unlink()
                except OSError:
                    pass


def assemble(plan: dict, clips: dict[str, Path], folder: Path,
             note: Optional[Callable[[str], None]] = None) -> Assembly:
    """Scene files for every scene whose clips are all there; the film when every scene is."""
    folder = Path(folder)
    scenes_dir = folder / "scenes"
    result = Assembly()
    order: list[int] = []
    by_scene: dict[int, list[dict]] = {}
    titles: dict[int, str] = {}
    for job in plan.get("jobs") or []:
        n = int(job["scene"])
        if n not in by_scene:
            order.append(n)
            by_scene[n] = []
            titles[n] = str(job.get("scene_title") or f"scene {n}")
        by_scene[n].append(job)
    width = max(2, len(str(max(order, default=0))))
    wanted = set()
    clean_temporary(folder)
    all_clips: list[Path] = []
    all_infos: list[ClipInfo] = []
    for n in order:
        jobs = sorted(by_scene[n], key=lambda j: j.get("part", 1))
        paths = [clips.get(j["id"]) for j in jobs]
        if any(p is None for p in paths):
            result.incomplete.append(n)
            continue
        target = scenes_dir / scene_file(n, titles[n], width)
        wanted.add(target.name)
        all_infos.extend(concat(paths, target))
        all_clips.extend(paths)
        result.scenes.append(target)
        if note is not None:
            note(f"scene {n}: {target.relative_to(folder)}")
    if scenes_dir.is_dir():
        for old in scenes_dir.glob("*.mp4"):
            if old.name not in wanted and re.match(r"^\d+-", old.name):
                old.unlink()
    film = folder / "film.mp4"
    if result.scenes and not result.incomplete:
        concat(all_clips, film, all_infos)
        result.film = film
    return result

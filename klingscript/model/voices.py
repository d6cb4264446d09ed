"""Reading voice samples for their limits: format, sound, length.

A character's ``voice sample:`` is the clip Kling makes a custom voice from
(``custom-voices`` ``voice_url``): a clean sample of one voice, of a length and
in a format the model profile gives (``[voice]``). ``inspect`` reads the file's
container with PyAV (imported only when a sample is checked) and remembers the
answer per file until the file changes.
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple, Optional

from .filecache import FileCache
from .settings import join_and


class SampleInfo(NamedTuple):
    """What klingc found at a voice sample's path."""
    path: Path
    exists: bool
    seconds: Optional[float] = None     # the audio's length
    audio_streams: int = 0
    error: Optional[str] = None         # why it could not be read, in a writer's words


_cache: FileCache[SampleInfo] = FileCache(1024)


def inspect(path: Path) -> SampleInfo:
    """Facts about the sample at ``path`` (never raises)."""
    from ..files import MAX_BYTES, FileTooLarge, NotRegularFile, stat_regular

    path = Path(path)
    try:
        st = stat_regular(path)
    except (FileNotFoundError, NotADirectoryError):
        return SampleInfo(path, exists=False)
    except IsADirectoryError:
        return SampleInfo(path, True, error="is a folder, not a sound file")
    except NotRegularFile as e:
        return SampleInfo(path, True, error=f"is {e.kind}, not a sound file")
    except OSError as e:
        return SampleInfo(path, True, error=f"cannot be read ({e.strerror or e})")
    if st.st_size > MAX_BYTES["sample"]:
        too = FileTooLarge(path, st.st_size, MAX_BYTES["sample"], "voice samples")
        return SampleInfo(path, True, error=too.strerror.removeprefix("it "))
    return _cache.get(path, st, lambda: _read(path) if st.st_size else
                      SampleInfo(path, True, error="is an empty file"))


def _read(path: Path) -> SampleInfo:
    from ..files import open_regular

    try:
        import av
    except ImportError:  # pragma: no cover - PyAV is a dependency
        return SampleInfo(path, True, error="cannot be read (PyAV is not installed)")
    try:
        f = open_regular(path, "sample")
    except OSError as e:
        return SampleInfo(path, True, error=f"cannot be read ({e.strerror or e})")
    try:
        with f, av.open(f) as container:
            streams = list(container.streams.audio)
            if not streams:
                return SampleInfo(path, True, None, 0)
            seconds = None
            stream = streams[0]
            if stream.duration is not None and stream.time_base is not None:
                seconds = float(stream.duration * stream.time_base)
            elif container.duration is not None:
                seconds = container.duration / av.time_base
            if seconds is None:   # no length in the header: decode it
                end = 0.0
                for frame in container.decode(stream):
                    if frame.time is not None:
                        end = max(end, frame.time + frame.samples / (frame.sample_rate or 1))
                seconds = end
            return SampleInfo(path, True, seconds, len(streams))
    except Exception as e:  # PyAV raises many kinds of errors for a bad file
        what = type(e).__name__
        return SampleInfo(path, True, error=f"cannot be read as sound ({what})")


def _seconds(x: float) -> str:
    return f"{x:.1f}".rstrip("0").rstrip(".")


def problems(info: SampleInfo, limits, suffix: str) -> list[tuple[str, Optional[str]]]:
    """(message, help) for each way the sample breaks ``limits`` (a profile's ``[voice]``)."""
    formats = limits.sample_formats
    shown = join_and([f".{f}" for f in formats], "or")
    if suffix.lower().lstrip(".") not in formats:
        kind = f"a .{suffix.lstrip('.')} file" if suffix else "a file without an extension"
        return [(f"is {kind}; Kling makes a voice from {shown}",
                 f"convert it, e.g. `ffmpeg -i {info.path.name} {info.path.stem}.wav`")]
    if info.error:
        return [(info.error, f"export it again as {shown}")]
    if not info.audio_streams:
        return [("has no sound", "give a clip in which the character speaks")]
    lo, hi = limits.sample_min_seconds, limits.sample_max_seconds
    out = []
    if info.seconds is not None and info.seconds < lo:
        out.append((f"is {_seconds(info.seconds)} s long; Kling makes a voice from {_seconds(lo)} to "
                    f"{_seconds(hi)} seconds of one voice", f"record a longer sample ({_seconds(lo)} s at least)"))
    elif info.seconds is not None and info.seconds > hi:
        out.append((f"is {_seconds(info.seconds)} s long; Kling makes a voice from {_seconds(lo)} to "
                    f"{_seconds(hi)} seconds of one voice",
                    f"trim it to {_seconds(hi)} s, e.g. `ffmpeg -i {info.path.name} -t {_seconds(hi)} "
                    f"{info.path.stem}_short{info.path.suffix}`"))
    return out

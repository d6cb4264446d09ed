"""Animatic clips: what the simulator serves as a generated video.

A clip is a real, playable H.264 MP4 of exactly the requested duration,
rendered at low resolution and frame rate so that a render of a whole film
stays quick: each shot shows its number and description, dialogue appears
as captions at the times it would be spoken, and when the request has
``sound: "on"`` an AAC track carries a quiet tone under each line of
dialogue (silence elsewhere).

The storyboard is read from the request body alone: ``multi_prompt`` gives
the shots and their durations; a single prompt written as ``Shot N (Ds): ...``
lines gives them the same way; any other prompt is one shot. Dialogue is
found in Kling's own form, ``Who (how, language): "what"``.
"""

from __future__ import annotations

import io
import math
import re
from array import array
from dataclasses import dataclass, field
from fractions import Fraction
from functools import lru_cache
from typing import Optional

FPS = 8
SAMPLE_RATE = 16000
SIZES = {"16:9": (320, 180), "9:16": (180, 320), "1:1": (240, 240)}

_SHOT_LINE = re.compile(r"^\s*Shot\s+(\d+)\s*\((\d+)s\)\s*:\s*(.*)$")
_DIALOGUE = re.compile(r"(?P<who>[^\n\"().:]{1,60}?)\s*\((?P<how>[^()\n]*)\)\s*:\s*"
                       r"[\"“](?P<what>[^\"”\n]*)[\"”]")
_TOKEN = re.compile(r"<<<(element|image|video)_(\d+)>>>")
_LABELS = ("location:", "ambient sound:", "style:", "voice of ", "sound:")


@dataclass
class Caption:
    start: float
    end: float
    text: str


@dataclass
class Shot:
    index: int
    start: float
    seconds: float
    description: str
    captions: list[Caption] = field(default_factory=list)


@dataclass
class Storyboard:
    duration: int
    size: tuple[int, int]
    sound: bool
    shots: list[Shot]
    title: str = ""


def _names(text: str, elements: dict, images: int) -> str:
    def sub(m):
        kind, k = m.group(1), int(m.group(2))
        if kind == "element" and k in elements:
            return elements[k]
        return f"{kind} {k}"
    return _TOKEN.sub(sub, text)


def _describe(text: str) -> str:
    """The action of a shot: its text without dialogue, labels and cast descriptions."""
    kept = []
    for line in text.splitlines():
        stripped = _DIALOGUE.sub("", line).strip()
        low = stripped.lower()
        if not stripped or low.startswith(_LABELS):
            continue
        # "Name: description" lines describe the cast, not the action.
        head, sep, _ = stripped.partition(":")
        if sep and len(head.split()) <= 3 and not head.endswith((".", "!", "?")) and kept:
            continue
        kept.append(stripped)
    return " ".join(kept)[:300]


def _shot(index: int, start: float, seconds: float, text: str) -> Shot:
    shot = Shot(index, start, seconds, _describe(text))
    lines = [(m.group("who").strip(), m.group("what").strip()) for m in _DIALOGUE.finditer(text)]
    if lines:
        lead = min(0.3, seconds / 10)
        span = max(seconds - lead, 0.1)
        weights = [max(len(what), 1) + 10 for _, what in lines]
        total = sum(weights)
        t = start + lead
        for (who, what), w in zip(lines, weights):
            length = span * w / total
            shot.captions.append(Caption(t, t + length, f"{who}: \u201c{what}\u201d"))
            t += length
    return shot


def storyboard(body: dict, elements: Optional[dict] = None) -> Storyboard:
    """The storyboard of a video request (``elements``: position in element_list -> name)."""
    elements = elements or {}
    images = len(body.get("image_list") or [])
    try:
        duration = int(body.get("duration", 5))
    except (TypeError, ValueError):
        duration = 5
    duration = max(duration, 1)
    size = SIZES.get(body.get("aspect_ratio") or "16:9", SIZES["16:9"])
    sound = body.get("sound", "on") == "on"
    shots: list[Shot] = []
    multi = body.get("multi_prompt") if body.get("multi_shot") else None
    if isinstance(multi, list) and multi:
        t = 0.0
        for n, item in enumerate(multi, 1):
            try:
                seconds = float(item.get("duration", 1))
            except (TypeError, ValueError):
                seconds = 1.0
            shots.append(_shot(item.get("index", n), t, seconds, _names(str(item.get("prompt", "")),
                                                                         elements, images)))
            t += seconds
    else:
        prompt = _names(str(body.get("prompt") or ""), elements, images)
        parts: list[tuple[int, int, list[str]]] = []
        head: list[str] = []
        for line in prompt.splitlines():
            m = _SHOT_LINE.match(line)
            if m:
                parts.append((int(m.group(1)), int(m.group(2)), [m.group(3)]))
            elif parts:
                parts[-1][2].append(line)
            else:
                head.append(line)
        if parts:
            t = 0.0
            for number, seconds, lines in parts:
                shots.append(_shot(number, t, float(seconds), "\n".join(lines)))
                t += seconds
        else:
            shots.append(_shot(1, 0.0, float(duration), prompt))
    return Storyboard(duration, size, sound, shots)


# -- drawing -------------------------------------------------------------------------

_FONT_FILES = ("DejaVuSans.ttf", "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
               "/usr/share/fonts/TTF/DejaVuSans.ttf", "/Library/Fonts/Arial Unicode.ttf",
               "/System/Library/Fonts/Supplemental/Arial Unicode.ttf", "C:/Windows/Fonts/arial.ttf")


@lru_cache(maxsize=8)
def _font(size: int):
    from PIL import ImageFont

    for name in _FONT_FILES:
        try:
            return ImageFont.truetype(name, size)
        except OSError:
            continue
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow without FreeType sizes
        return ImageFont.load_default()


def _wrap(draw, text: str, font, width: int, lines: int) -> list[str]:
    words = text.split()
    out: list[str] = []
    line = ""
    for word in words:
        trial = f"{line} {word}".strip()
        if draw.textlength(trial, font=font) <= width or not line:
            line = trial
        else:
            out.append(line)
            line = word
            if len(out) == lines:
                break
    if line and len(out) < lines:
        out.append(line)
    if len(out) == lines and len(" ".join(out)) < len(text):
        last = out[-1]
        while last and draw.textlength(last + "…", font=font) > width:
            last = last[:-1]
        out[-1] = last + "…"
    return out


_PALETTE = [(38, 50, 72), (60, 42, 66), (34, 64, 58), (70, 52, 36), (44, 44, 44), (30, 58, 80)]


def _frame_image(board: Storyboard, shot: Shot, caption: Optional[Caption]):
    from PIL import Image, ImageDraw

    w, h = board.size
    img = Image.new("RGB", (w, h), _PALETTE[(shot.index - 1) % len(_PALETTE)])
    draw = ImageDraw.Draw(img)
    small, body = _font(max(9, h // 18)), _font(max(10, h // 15))
    margin = max(6, w // 40)
    draw.text((margin, margin), f"SHOT {shot.index}  ({shot.seconds:g}s)", font=body, fill=(255, 214, 102))
    y = margin + body.size + 4
    for line in _wrap(draw, shot.description, small, w - 2 * margin, 5 if h > w else 4):
        draw.text((margin, y), line, font=small, fill=(235, 235, 235))
        y += small.size + 2
    if caption is not None:
        lines = _wrap(draw, caption.text, body, w - 2 * margin, 3)
        box = (len(lines) * (body.size + 3)) + 6
        top = h - box - margin // 2
        draw.rectangle((0, top, w, h), fill=(0, 0, 0))
        ty = top + 3
        for line in lines:
            tw = draw.textlength(line, font=body)
            draw.text(((w - tw) / 2, ty), line, font=body, fill=(255, 255, 255))
            ty += body.size + 3
    return img


def _state_at(board: Storyboard, t: float):
    shot = board.shots[-1] if board.shots else Shot(1, 0.0, board.duration, "")
    for s in board.shots:
        if s.start <= t < s.start + s.seconds:
            shot = s
            break
    caption = next((c for c in shot.captions if c.start <= t < c.end), None)
    return shot, caption


@lru_cache(maxsize=4)
def _tone(frequency: int, seconds_block: int = 1) -> bytes:
    n = SAMPLE_RATE * seconds_block
    amp = 1200  # quiet: about -29 dBFS
    return array("h", (int(amp * math.sin(2 * math.pi * frequency * i / SAMPLE_RATE)) for i in range(n))).tobytes()


def _audio_pcm(board: Storyboard) -> bytes:
    """Mono 16-bit PCM of exactly the clip's duration: a tone under each caption."""
    total = board.duration * SAMPLE_RATE
    pcm = bytearray(total * 2)
    speakers: dict[str, int] = {}
    for shot in board.shots:
        for c in shot.captions:
            who = c.text.split(":", 1)[0]
            freq = (200, 250, 320, 400)[speakers.setdefault(who, len(speakers)) % 4]
            tone = _tone(freq)
            a = max(0, int(c.start * SAMPLE_RATE))
            b = min(total, int(c.end * SAMPLE_RATE))
            pos = a
            while pos < b:
                chunk = min(b - pos, SAMPLE_RATE)
                pcm[pos * 2:(pos + chunk) * 2] = tone[:chunk * 2]
                pos += chunk
    return bytes(pcm)


def encode(board: Storyboard) -> bytes:
    """The clip as MP4 bytes: H.264 video at FPS frames a second, AAC audio when sound is on."""
    import av

    buf = io.BytesIO()
    w, h = board.size
    with av.open(buf, "w", format="mp4") as out:
        video = out.add_stream("libx264", rate=FPS)
        video.width, video.height = w, h
        video.pix_fmt = "yuv420p"
        video.codec_context.time_base = Fraction(1, FPS)
        video.options = {"preset": "ultrafast", "crf": "30"}
        audio = None
        if board.sound:
            audio = out.add_stream("aac", rate=SAMPLE_RATE)
            audio.layout = "mono"
            audio.codec_context.bit_rate = 32000
            audio.codec_context.options = {"aac_coder": "fast"}
        cache: dict = {}
        for i in range(board.duration * FPS):
            shot, caption = _state_at(board, (i + 0.5) / FPS)
            key = (id(shot), id(caption))
            frame = cache.get(key)
            if frame is None:
                # One picture per storyboard state; the encoder copies it, so it is reused.
                frame = cache[key] = av.VideoFrame.from_image(
                    _frame_image(board, shot, caption)).reformat(format="yuv420p")
            frame.pts = i
            frame.time_base = Fraction(1, FPS)
            for packet in video.encode(frame):
                out.mux(packet)
        for packet in video.encode(None):
            out.mux(packet)
        if audio is not None:
            pcm = _audio_pcm(board)
            step = 4096
            total = len(pcm) // 2
            pts = 0
            while pts < total:
                n = min(step, total - pts)
                frame = av.AudioFrame(format="s16", layout="mono", samples=n)
                frame.planes[0].update(pcm[pts * 2:(pts + n) * 2])
                frame.sample_rate = SAMPLE_RATE
                frame.pts = pts
                frame.time_base = Fraction(1, SAMPLE_RATE)
                for packet in audio.encode(frame):
                    out.mux(packet)
                pts += n
            for packet in audio.encode(None):
                out.mux(packet)
    return buf.getvalue()


def test_card(duration: int, aspect: str = "16:9", sound: bool = True, label: str = "") -> Storyboard:
    """A plain storyboard: one shot that names the clip (for benchmarks that need no animatic)."""
    size = SIZES.get(aspect, SIZES["16:9"])
    return Storyboard(duration, size, sound, [Shot(1, 0.0, float(duration), label)])

"""Animatic clips: what the simulator serves as a generated video.

A clip is a real, playable H.264 MP4 of exactly the requested duration,
rendered at low resolution so that a render of a whole film stays quick, at
24 frames a second (so that editors' timecode takes it, see ``klingc export``).
Over the scene's location image or first frame (the request's first frame, else
the image its ``Location:`` line names), each shot shows its number in the
script, its description and the reference images of the elements it names;
each line of dialogue appears with its speaker and tone while it is spoken
(``storyboard.line_times``, the timing the subtitles use too); and when the
request has ``sound: "on"`` an AAC track carries a quiet tone under each line
(silence elsewhere). Text is drawn with a font that has CJK glyphs
(``runtime/fonts.py``).

The storyboard is read from the request body: ``multi_prompt`` gives the
shots and their durations; a single prompt written as ``Shot N (Ds): ...``
lines gives them the same way; any other prompt is one shot. Dialogue is
found in Kling's own form, ``Who (how, language): "what"``. The shots'
numbers in the script are not in the request: the render passes them
(``numbers``); without them, shots are numbered from 1.
"""

from __future__ import annotations

import base64
import binascii
import io
import math
import re
from array import array
from dataclasses import dataclass, field
from fractions import Fraction
from functools import lru_cache
from typing import Optional

FPS = 24
SAMPLE_RATE = 16000
SIZES = {"16:9": (320, 180), "9:16": (180, 320), "1:1": (240, 240)}

_SHOT_LINE = re.compile(r"^\s*Shot\s+(\d+)\s*\((\d+)s\)\s*:\s*(.*)$")
_DIALOGUE = re.compile(r"(?P<who>[^\n\"().:]{1,60}?)\s*\((?P<how>[^()\n]*)\)\s*:\s*"
                       r"[\"“](?P<what>[^\"”\n]*)[\"”]")
_TOKEN = re.compile(r"<<<(element|image|video)_(\d+)>>>")
_CAST = re.compile(r"^[^\s—.!?][^—.!?]{0,40}? — ")
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
    refs: list[tuple[str, Optional[str]]] = field(default_factory=list)   # (name, image data) shown


@dataclass
class Storyboard:
    duration: int
    size: tuple[int, int]
    sound: bool
    shots: list[Shot]
    title: str = ""
    background: Optional[str] = None     # image data (Base64) of the location or first frame
    take: int = 1                        # the take (shown from take 2 on, so that takes differ)


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
        # "Name — description" (and older "Name: description") lines describe the cast.
        if _CAST.match(stripped) and kept:
            continue
        head, sep, _ = stripped.partition(":")
        if sep and len(head.split()) <= 3 and not head.endswith((".", "!", "?")) and kept:
            continue
        kept.append(stripped)
    return " ".join(kept)[:300]


def _how(how: str) -> str:
    """The tones of a dialogue direction (``earnest, English`` -> ``earnest``)."""
    from ...model.languages import lookup

    items = [h.strip() for h in how.split(",") if h.strip()]
    if items and lookup(items[-1]):
        items = items[:-1]
    return ", ".join(items)


def _shot(index: int, start: float, seconds: float, text: str) -> Shot:
    from ...storyboard import line_times

    shot = Shot(index, start, seconds, _describe(text))
    lines = [(m.group("who").strip(), _how(m.group("how")), m.group("what").strip())
             for m in _DIALOGUE.finditer(text)]
    for (who, how, what), (a, b) in zip(lines, line_times(start, seconds, [w for _, _, w in lines])):
        head = f"{who} ({how})" if how else who
        shot.captions.append(Caption(a, b, f"{head}: \u201c{what}\u201d"))
    return shot


def _refs(text: str, elements: dict, element_images: dict, images: list, skip: Optional[int]) -> list:
    """The (name, image) of each element or reference image that ``text`` names, in order."""
    out: list = []
    for m in _TOKEN.finditer(text):
        kind, k = m.group(1), int(m.group(2))
        if kind == "element":
            ref = (elements.get(k, f"element {k}"), element_images.get(k))
        elif kind == "image" and k != skip and 0 < k <= len(images):
            ref = (images[k - 1][0] or f"image {k}", images[k - 1][1])
        else:
            continue
        if ref not in out:
            out.append(ref)
    return out


_LOCATION = re.compile(r"(?im)^\s*location:\s*<<<image_(\d+)>>>\s*(?:,\s*([^,.\n]*))?")


def _images(body: dict) -> tuple[list, Optional[str]]:
    """The request's reference images [(label, data)] and its first frame's data."""
    refs, first = [], None
    for item in body.get("image_list") or []:
        if not isinstance(item, dict):
            continue
        if item.get("type") == "first_frame":
            first = first or item.get("image_url")
        elif item.get("type") != "end_frame":
            refs.append(("", item.get("image_url")))
    if isinstance(body.get("image"), str):
        first = first or body["image"]
    return refs, first


def storyboard(body: dict, elements: Optional[dict] = None, element_images: Optional[dict] = None,
               numbers: Optional[list] = None) -> Storyboard:
    """The storyboard of a video request (``elements``: position in element_list -> name;
    ``element_images``: position -> its frontal image; ``numbers``: the shots' numbers in the
    script, in order)."""
    elements = elements or {}
    element_images = element_images or {}
    images, first = _images(body)
    try:
        duration = int(body.get("duration", 5))
    except (TypeError, ValueError):
        duration = 5
    duration = max(duration, 1)
    size = SIZES.get(body.get("aspect_ratio") or "16:9", SIZES["16:9"])
    sound = body.get("sound", "on") == "on"
    raw: list[tuple[int, float, str]] = []       # (number, seconds, text with its tokens)
    multi = body.get("multi_prompt") if body.get("multi_shot") else None
    if isinstance(multi, list) and multi:
        for n, item in enumerate(multi, 1):
            try:
                seconds = float(item.get("duration", 1))
            except (TypeError, ValueError):
                seconds = 1.0
            raw.append((item.get("index", n), seconds, str(item.get("prompt", ""))))
    else:
        prompt = str(body.get("prompt") or "")
        parts: list[tuple[int, int, list[str]]] = []
        for line in prompt.splitlines():
            m = _SHOT_LINE.match(line)
            if m:
                parts.append((int(m.group(1)), int(m.group(2)), [m.group(3)]))
            elif parts:
                parts[-1][2].append(line)
        if parts:
            raw = [(number, float(seconds), "\n".join(lines)) for number, seconds, lines in parts]
        else:
            raw = [(1, float(duration), prompt)]
    everything = "\n".join(text for _, _, text in raw) + "\n" + str(body.get("prompt") or "")
    place = _LOCATION.search(everything)
    where = int(place.group(1)) if place else None
    if where is not None and 0 < where <= len(images):
        images[where - 1] = ((place.group(2) or "").strip(), images[where - 1][1])
    background = first or (images[where - 1][1] if where is not None and 0 < where <= len(images) else None)
    shots: list[Shot] = []
    t = 0.0
    for i, (number, seconds, text) in enumerate(raw):
        if numbers is not None and i < len(numbers) and numbers[i] is not None:
            number = numbers[i]
        shot = _shot(number, t, seconds, _names(text, elements, len(images)))
        shot.refs = _refs(text, elements, element_images, images, where if first is None else None)
        shots.append(shot)
        t += seconds
    return Storyboard(duration, size, sound, shots, background=background)


# -- drawing -------------------------------------------------------------------------

def _font(size: int):
    from ..fonts import font

    return font(size)


def _pieces(draw, word: str, font, width: int) -> list[str]:
    """A word wider than ``width`` (CJK text has no spaces) cut into pieces that fit."""
    if draw.textlength(word, font=font) <= width:
        return [word]
    out, piece = [], ""
    for ch in word:
        if piece and draw.textlength(piece + ch, font=font) > width:
            out.append(piece)
            piece = ""
        piece += ch
    return out + ([piece] if piece else [])


def _wrap(draw, text: str, font, width: int, lines: int) -> list[str]:
    # (piece, whether it goes on from the piece before without a space: a long word cut)
    words = [(p, k > 0) for word in text.split() for k, p in enumerate(_pieces(draw, word, font, width))]
    out: list[str] = []
    line = ""
    cut = False
    for word, glued in words:
        trial = (line + ("" if glued else " ") + word) if line else word
        if draw.textlength(trial, font=font) <= width or not line:
            line = trial
        else:
            out.append(line)
            line = word
            if len(out) == lines:
                cut = True
                break
    if line and len(out) < lines:
        out.append(line)
    elif line:
        cut = True
    if cut and out:
        last = out[-1]
        while last and draw.textlength(last + "…", font=font) > width:
            last = last[:-1]
        out[-1] = last + "…"
    return out


_PALETTE = [(38, 50, 72), (60, 42, 66), (34, 64, 58), (70, 52, 36), (44, 44, 44), (30, 58, 80)]


@lru_cache(maxsize=32)
def _picture(data: str):
    """An image of the request (Base64 or a data: URL) as a Pillow image, or None."""
    from PIL import Image

    if not isinstance(data, str) or data.startswith(("http://", "https://", "file:", "element:")):
        return None
    if data.startswith("data:"):
        data = data.partition(",")[2]
    try:
        img = Image.open(io.BytesIO(base64.b64decode(data, validate=False)))
        img.load()
        return img.convert("RGB")
    except (binascii.Error, ValueError, OSError):
        return None


@lru_cache(maxsize=16)
def _backdrop(data: Optional[str], size: tuple[int, int], shade: int):
    """The background: the image, scaled to cover the frame and darkened; else a plain colour."""
    from PIL import Image, ImageOps

    img = _picture(data) if data else None
    if img is None:
        return Image.new("RGB", size, _PALETTE[shade % len(_PALETTE)])
    cover = ImageOps.fit(img, size)
    return Image.blend(cover, Image.new("RGB", size, (0, 0, 0)), 0.55)


@lru_cache(maxsize=64)
def _thumb(data: str, height: int):
    from PIL import ImageOps

    img = _picture(data)
    if img is None:
        return None
    return ImageOps.contain(img, (height, height))


def _frame_image(board: Storyboard, shot: Shot, caption: Optional[Caption]):
    from PIL import ImageDraw

    w, h = board.size
    img = _backdrop(board.background, (w, h), shot.index - 1).copy()
    draw = ImageDraw.Draw(img)
    side = min(w, h)
    small, body = _font(max(9, side // 18)), _font(max(10, side // 15))
    margin = max(6, w // 40)
    thumbs = [(name, _thumb(data, max(24, h // 4)) if data else None) for name, data in shot.refs][:4]
    column = max(24, h // 4) + margin if thumbs else 0
    take = f"  TAKE {board.take}" if board.take > 1 else ""
    draw.text((margin, margin), f"SHOT {shot.index}  ({shot.seconds:g}s){take}", font=body, fill=(255, 214, 102))
    y = margin + body.size + 4
    for line in _wrap(draw, shot.description, small, w - 2 * margin - column, 5 if h > w else 4):
        draw.text((margin, y), line, font=small, fill=(235, 235, 235))
        y += small.size + 2
    ty = margin
    for name, thumb in thumbs:
        x = w - column
        if thumb is not None:
            img.paste(thumb, (x, ty))
            ty += thumb.height
        label = _wrap(draw, name, small, column - margin // 2, 1)
        if label:
            draw.text((x, ty), label[0], font=small, fill=(255, 255, 255))
        ty += small.size + 4
    if caption is not None:
        lines = _wrap(draw, caption.text, body, w - 2 * margin, 3)
        box = (len(lines) * (body.size + 3)) + 6
        # above the bottom fifth of the picture, where subtitles burnt into the film go
        top = max(y + 2, h - h // 5 - box)
        draw.rectangle((0, top, w, top + box), fill=(0, 0, 0))
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
            who = c.text.split(":", 1)[0].split(" (", 1)[0]
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

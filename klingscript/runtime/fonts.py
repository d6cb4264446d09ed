"""The font that animatics and burnt-in subtitles are drawn with.

Scripts speak Chinese, English, Japanese, Korean and Spanish, so the font must
have Han, kana and Hangul glyphs as well as Latin ones: Noto Sans CJK, which
Debian and Ubuntu ship as ``fonts-noto-cjk`` (installed by ``.ci/run``; other
systems ship it too). ``find`` takes, in order:

1. the font file named by ``KLINGC_FONT`` (a .ttf, .otf or .ttc);
2. Noto Sans CJK (or Source Han Sans) where Linux distributions and macOS put it,
   then a few other fonts known to cover the three scripts (Arial Unicode,
   WenQuanYi, Droid Sans Fallback);
3. what fontconfig's ``fc-match`` proposes for Korean text, when it covers it;
4. DejaVu Sans, then Pillow's own font: Latin text only.

A fallback that lacks glyphs the text needs is reported (``missing``) rather
than drawn silently as empty boxes.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from functools import lru_cache
from typing import Optional

ENV = "KLINGC_FONT"
HINT = "install Noto Sans CJK (Debian, Ubuntu: apt-get install fonts-noto-cjk) or set KLINGC_FONT to a font file"

# One character of each script the five languages are written in.
SAMPLES = {"Latin": "Añ", "Han": "汉", "Hiragana": "か", "Katakana": "カ", "Hangul": "한"}

_CJK_FILES = (
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",          # Debian, Ubuntu
    "/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc",               # Arch
    "/usr/share/fonts/google-noto-cjk/NotoSansCJK-Regular.ttc",        # Fedora
    "/usr/share/fonts/opentype/noto/NotoSansCJKjp-Regular.otf",
    "/usr/share/fonts/adobe-source-han-sans/SourceHanSans-Regular.ttc",
    "/Library/Fonts/NotoSansCJK-Regular.ttc",
    "/System/Library/Fonts/Supplemental/Arial Unicode.ttf",            # macOS
    "/Library/Fonts/Arial Unicode.ttf",
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf",
)
_LATIN_FILES = ("DejaVuSans.ttf", "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
                "/usr/share/fonts/TTF/DejaVuSans.ttf", "C:/Windows/Fonts/arial.ttf")


@dataclass(frozen=True)
class Face:
    path: Optional[str]          # None: Pillow's built-in font
    family: str
    scripts: tuple[str, ...]     # which of SAMPLES' scripts it has glyphs for

    @property
    def cjk(self) -> bool:
        return all(s in self.scripts for s in ("Han", "Hiragana", "Katakana", "Hangul"))


def _load(path: str, size: int = 24):
    from PIL import ImageFont

    return ImageFont.truetype(path, size)


def covered(font, text: str) -> bool:
    """Whether ``font`` (a Pillow FreeType font) has a glyph for every character of ``text``:
    one drawn otherwise than its missing-glyph box."""
    notdef = _mask(font, "\u0378")      # an unassigned code point: no font draws it
    return all(_mask(font, ch) != notdef for ch in text if not ch.isspace())


def _mask(font, ch: str):
    m = font.getmask(ch)
    return (m.size, bytes(m))


def _face(path: str) -> Optional[Face]:
    try:
        font = _load(path)
    except (OSError, ValueError):
        return None
    family = font.getname()[0] or os.path.basename(path)
    return Face(path, family, tuple(s for s, sample in SAMPLES.items() if covered(font, sample)))


def _fc_match() -> Optional[str]:
    exe = shutil.which("fc-match")
    if exe is None:
        return None
    try:
        out = subprocess.run([exe, "-f", "%{file}", "sans-serif:lang=ko"], capture_output=True, text=True,
                             timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


@lru_cache(maxsize=1)
def find() -> Face:
    """The best font here (see the module's text); cached for the process."""
    chosen = os.environ.get(ENV)
    if chosen:
        face = _face(chosen)
        if face is not None:
            return face
    for path in _CJK_FILES:
        if os.path.isfile(path):
            face = _face(path)
            if face is not None and face.cjk:
                return face
    matched = _fc_match()
    if matched:
        face = _face(matched)
        if face is not None and face.cjk:
            return face
    for path in _LATIN_FILES:
        face = _face(path)
        if face is not None:
            return face
    return Face(None, "Pillow default", ("Latin",))


@lru_cache(maxsize=16)
def font(size: int):
    """The chosen font at ``size`` pixels, for Pillow."""
    from PIL import ImageFont

    face = find()
    if face.path is not None:
        try:
            return _load(face.path, size)
        except OSError:
            pass
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow without FreeType sizes
        return ImageFont.load_default()


def missing(texts) -> Optional[str]:
    """A note when the chosen font lacks glyphs that ``texts`` need, or None."""
    face = find()
    if face.path is None and not any(ord(c) > 127 for t in texts for c in t):
        return None
    try:
        f = font(24)
        lacking = sorted({c for t in texts for c in t if not c.isspace() and not covered(f, c)})
    except (AttributeError, OSError):     # Pillow's bitmap font: treat anything past ASCII as missing
        lacking = sorted({c for t in texts for c in t if ord(c) > 127})
    if not lacking:
        return None
    shown = "".join(lacking[:8]) + ("…" if len(lacking) > 8 else "")
    return f"the font {face.family} has no glyphs for {shown}: they show as boxes in the animatics; {HINT}"

"""Reading image files for their limits: format, pixel size, bytes, aspect ratio.

Kling takes PNG or JPEG images of a bounded size and shape; the bounds are in
the model profile (``[images]``). ``inspect`` reads only what it needs (the
file's size and its header, then a structural check) and remembers the answer
per file until the file changes, so checking a script that uses the same
image in many places, or re-checking it in an editor, stays fast.

Pillow is imported only when an image is actually read.
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple, Optional

from .filecache import FileCache
from .settings import join_and


class ImageInfo(NamedTuple):
    """What klingc found at an image path."""
    path: Path
    exists: bool
    is_file: bool
    size: Optional[int] = None          # bytes
    format: Optional[str] = None        # Pillow's name: PNG, JPEG, WEBP, GIF...
    width: Optional[int] = None
    height: Optional[int] = None
    error: Optional[str] = None         # why it could not be read, in a writer's words


_cache: FileCache[ImageInfo] = FileCache(4096)


def inspect(path: Path) -> ImageInfo:
    """Facts about the image at ``path`` (never raises)."""
    from ..files import MAX_BYTES, NotRegularFile, stat_regular

    path = Path(path)
    try:
        st = stat_regular(path)
    except (FileNotFoundError, NotADirectoryError):
        return ImageInfo(path, exists=False, is_file=False)
    except IsADirectoryError:
        return ImageInfo(path, exists=True, is_file=False, error="is a folder, not an image")
    except NotRegularFile as e:
        return ImageInfo(path, exists=True, is_file=False, error=f"is {e.kind}, not an image")
    except OSError as e:
        return ImageInfo(path, exists=True, is_file=False, error=f"cannot be read ({e.strerror or e})")
    if st.st_size > MAX_BYTES["image"]:
        # Not opened: its size is what is wrong with it (problems() says by how much).
        return ImageInfo(path, exists=True, is_file=True, size=st.st_size)
    return _cache.get(path, st, lambda: _read(path, st.st_size))


def _read(path: Path, size: int) -> ImageInfo:
    from ..files import open_regular

    if size == 0:
        return ImageInfo(path, True, True, size, error="is an empty file, not an image")
    try:
        from PIL import Image, UnidentifiedImageError
    except ImportError:  # pragma: no cover - Pillow is a dependency
        return ImageInfo(path, True, True, size)
    import warnings
    try:
        with warnings.catch_warnings(), open_regular(path, "image") as f:
            warnings.simplefilter("ignore")
            with Image.open(f) as img:
                fmt = img.format
                width, height = img.size
                try:
                    img.verify()
                except Exception:
                    return ImageInfo(path, True, True, size, fmt, width, height,
                                     error="is damaged (the file is incomplete or corrupt)")
    except UnidentifiedImageError:
        return ImageInfo(path, True, True, size, error="is not an image file klingc can read")
    except OSError as e:
        return ImageInfo(path, True, True, size, error=f"cannot be read ({e.strerror or e})")
    except Exception as e:  # decompression bombs, malformed headers
        return ImageInfo(path, True, True, size, error=f"cannot be read as an image ({type(e).__name__})")
    return ImageInfo(path, True, True, size, fmt, width, height)


# Pillow's format names for the names used in profiles.
_FORMAT_NAMES = {"png": "PNG", "jpeg": "JPEG", "jpg": "JPEG", "webp": "WEBP", "gif": "GIF",
                 "bmp": "BMP", "tiff": "TIFF"}


def _ratio_text(value: float) -> str:
    """0.4 -> "1:2.5", 2.5 -> "2.5:1"."""
    if value >= 1:
        return f"{_num(value)}:1"
    return f"1:{_num(1 / value)}"


def _num(x: float) -> str:
    return f"{x:.2f}".rstrip("0").rstrip(".")


def _megabytes(n: int) -> str:
    return _num(n / (1024 * 1024)) + " MB"


def _formats_text(formats) -> str:
    return join_and(dict.fromkeys(_FORMAT_NAMES.get(f.lower(), f.upper()) for f in formats), "or")


def problems(info: ImageInfo, limits, model: str = "Kling", max_bytes: Optional[int] = None,
             use: str = "images") -> list[tuple[str, Optional[str]]]:
    """What is wrong with an image for a model, as (message tail, help) pairs.

    Each message tail follows the image's name: ``"refs/a.png" is 200×200 pixels…``.
    ``limits`` is a profile's ``[images]`` table (``profiles.Images``); ``max_bytes``, the
    bytes of the image's use (``Profile.image_max_bytes``: frames, reference images and element
    images differ), named ``use`` in the message; without it, ``limits.max_bytes``.
    """
    out: list[tuple[str, Optional[str]]] = []
    formats = limits.formats
    if not info.exists:
        return [("does not exist", None)]
    if info.error is not None and info.format is None:
        help = None
        if "not an image" in info.error:
            help = f"{model} takes {_formats_text(formats)} images"
        return [(info.error, help)]
    if max_bytes is None:
        max_bytes = limits.max_bytes
    if info.size is not None and info.size > max_bytes:
        out.append((f"is {_megabytes(info.size)}; {model} takes {use} up to {_megabytes(max_bytes)}",
                    "save it smaller (a JPEG of 2000 pixels on the long side is plenty)"))
    wanted = {_FORMAT_NAMES.get(f.lower(), f.upper()) for f in formats}
    if info.format is not None and info.format not in wanted:
        out.append((f"is a {info.format} image; {model} takes {_formats_text(formats)}",
                    f"save it as {_formats_text(formats)}"))
    if info.error is not None:
        out.append((info.error, "export the image again"))
        return out
    if info.width is None or info.height is None:
        return out
    w, h = info.width, info.height
    min_side = limits.min_side_px
    if min(w, h) < min_side:
        out.append((f"is {w}×{h} pixels; {model} needs at least {min_side} pixels on each side",
                    f"use a larger image (at least {min_side}×{min_side})"))
    lo, hi = limits.min_aspect, limits.max_aspect
    ratio = w / h if h else 0.0
    if h and not (lo - 1e-9 <= ratio <= hi + 1e-9):
        out.append((f"is {w}×{h} pixels, too {'wide' if ratio > hi else 'tall'} for {model}, which takes "
                    f"shapes from {_ratio_text(lo)} (tall) to {_ratio_text(hi)} (wide)",
                    "crop it closer to the video's shape (16:9, 9:16 or 1:1)"))
    return out

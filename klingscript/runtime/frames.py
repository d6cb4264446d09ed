"""Frames for continuity between parts (issue 10 item 4): the last frame of a take, as an
image Kling takes as the next part's first frame.

``last_frame(clip, folder, profile)`` decodes the clip with PyAV, keeps its
last frame, and writes it as ``frames/<clip-sha>.jpg`` in the render folder
(named by the take's SHA-256, so the frame says which take it came from: a part
whose frame is not the current pick's is stale). The image is checked against
the model profile's image rules (``model/images.py``: format, bytes of a frame,
smallest side, aspect ratio); a frame too small on one side is scaled up to the
smallest size Kling takes, keeping its shape, and a JPEG over the byte limit is
saved again at a lower quality. What still breaks a rule raises FrameError.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Optional

FOLDER = "frames"


class FrameError(Exception):
    pass


def take_digest(clip: Path) -> str:
    h = hashlib.sha256()
    with open(clip, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _last_image(clip: Path):
    import av

    last = None
    try:
        with av.open(str(clip)) as c:
            for frame in c.decode(video=0):
                last = frame
    except Exception as e:  # av.error.* and whatever a broken file raises
        raise FrameError(f"{Path(clip).name} is not a readable video ({type(e).__name__}: {e})") from None
    if last is None:
        raise FrameError(f"{Path(clip).name} has no video frames")
    return last.to_image().convert("RGB")


def last_frame(clip: Path, folder: Path, profile, digest: Optional[str] = None) -> Path:
    """The last frame of ``clip`` as a first frame for ``profile``'s model (see the module)."""
    from PIL import Image

    from ..model import images as I

    clip, folder = Path(clip), Path(folder)
    digest = digest or take_digest(clip)
    out = folder / FOLDER / f"{digest[:16]}.jpg"
    if not out.is_file():
        img = _last_image(clip)
        limits = profile.images
        side = min(img.size)
        if side < limits.min_side_px:
            k = limits.min_side_px / side
            img = img.resize((max(limits.min_side_px, round(img.width * k)),
                              max(limits.min_side_px, round(img.height * k))), Image.LANCZOS)
        max_bytes = profile.image_max_bytes("frame")
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_name(f".{out.name}.tmp{os.getpid()}")
        try:
            for quality in (92, 80, 65, 50):
                img.save(tmp, "JPEG", quality=quality)
                if tmp.stat().st_size <= max_bytes:
                    break
            os.replace(tmp, out)
        finally:
            if tmp.exists():
                tmp.unlink()
    info = I.inspect(out)
    found = I.problems(info, profile.images, max_bytes=profile.image_max_bytes("frame"), use="frames")
    if found:
        raise FrameError(f"the last frame of {clip.name} " + "; ".join(m for m, _ in found))
    return out


def is_stale(frame: Optional[str], picked_digest: Optional[str]) -> bool:
    """Whether a part's first frame (a ``frames/<digest>.jpg`` path) came from another take than
    the one now picked (its SHA-256 ``picked_digest``)."""
    if not frame or not picked_digest:
        return False
    return Path(frame).stem != picked_digest[:16]

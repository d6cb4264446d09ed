"""The last frame of a take as the next part's first frame (issue 10 item 4, frames only)."""

from __future__ import annotations

import pytest
from PIL import Image

from klingscript.model import images as I
from klingscript.model.profiles import load
from klingscript.runtime import frames as F
from klingscript.runtime.simulator import animatic


@pytest.fixture
def clip(tmp_path):
    board = animatic.test_card(2, "16:9", False, "last frame")
    path = tmp_path / "take.mp4"
    path.write_bytes(animatic.encode(board))
    return path


def test_the_last_frame_meets_klings_image_rules(clip, tmp_path):
    profile = load("kling-v3-omni")
    out = F.last_frame(clip, tmp_path, profile)
    assert out.parent.name == "frames" and out.suffix == ".jpg"
    info = I.inspect(out)
    assert info.format == "JPEG"
    # the animatic is 320x180; Kling needs 300 px on each side: scaled up, same shape
    assert min(info.width, info.height) >= profile.images.min_side_px
    assert abs(info.width / info.height - 16 / 9) < 0.02
    assert I.problems(info, profile.images, max_bytes=profile.image_max_bytes("frame")) == []
    # the frame is the clip's last: the test card's colour
    with Image.open(out) as img:
        r, g, b = img.convert("RGB").getpixel((img.width // 2, img.height - 5))
    assert (r, g, b) != (0, 0, 0)


def test_the_frame_is_named_by_its_take_and_stale_for_another(clip, tmp_path):
    profile = load("kling-v3-omni")
    digest = F.take_digest(clip)
    out = F.last_frame(clip, tmp_path, profile, digest)
    assert F.last_frame(clip, tmp_path, profile, digest) == out
    assert not F.is_stale(str(out), digest)
    assert F.is_stale(str(out), "0" * 64)


def test_a_file_that_is_not_a_video_is_a_frame_error(tmp_path):
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"not a video")
    with pytest.raises(F.FrameError, match="not a readable video"):
        F.last_frame(bad, tmp_path, load("kling-v3-omni"))

"""Assembly: scene files and the film, joined by the ffmpeg that imageio-ffmpeg ships."""

from __future__ import annotations

from pathlib import Path

import pytest

from klingscript.runtime import assemble as A
from klingscript.runtime.simulator import animatic


def clip(folder: Path, name: str, seconds: int, aspect="16:9", sound=True) -> Path:
    board = animatic.storyboard({"duration": str(seconds), "aspect_ratio": aspect,
                                 "sound": "on" if sound else "off",
                                 "prompt": f'{name}. Man (calm): "Line of {name}."'})
    path = folder / f"{name}.mp4"
    path.write_bytes(animatic.encode(board))
    return path


def test_slugs_and_scene_file_names():
    assert A.slug("Liked the photo") == "liked-the-photo"
    assert A.slug("Café — «Olé»!") == "cafe-ole"
    assert A.slug("옥상에서") == "옥상에서"
    assert A.slug("!!!") == "scene"
    assert A.scene_file(3, "The business plan") == "03-the-business-plan.mp4"
    assert A.scene_file(7, "x", width=3) == "007-x.mp4"


def test_join_without_reencoding_keeps_the_duration(tmp_path):
    parts = [clip(tmp_path, "a", 3), clip(tmp_path, "b", 4), clip(tmp_path, "c", 5)]
    out = tmp_path / "joined.mp4"
    A.concat(parts, out)
    info = A.probe(out)
    assert 12 <= info.duration <= 12.1
    assert (info.width, info.height, info.video_codec, info.audio_codec) == (320, 180, "h264", "aac")
    assert not list(tmp_path.glob(".*tmp*"))


def test_join_of_different_shapes_and_sound_reencodes(tmp_path):
    parts = [clip(tmp_path, "wide", 3), clip(tmp_path, "tall", 4, aspect="9:16"),
             clip(tmp_path, "mute", 3, sound=False)]
    out = tmp_path / "mixed.mp4"
    A.concat(parts, out)
    info = A.probe(out)
    assert abs(info.duration - 10) < 0.15
    assert (info.width, info.height) == (320, 180)
    assert info.audio_codec == "aac"


def test_assemble_scenes_and_film_in_script_order(tmp_path):
    clips = tmp_path / "clips"
    clips.mkdir()
    plan = {"jobs": [
        {"id": "j1", "scene": 1, "scene_title": "Cold open", "part": 1},
        {"id": "j2", "scene": 1, "scene_title": "Cold open", "part": 2},
        {"id": "j3", "scene": 2, "scene_title": "Rooftop", "part": 1},
    ]}
    paths = {"j1": clip(clips, "j1", 3), "j2": clip(clips, "j2", 4), "j3": clip(clips, "j3", 5)}
    (tmp_path / "scenes").mkdir()
    stale = tmp_path / "scenes" / "09-old-title.mp4"
    stale.write_bytes(b"old")
    made = A.assemble(plan, paths, tmp_path)
    assert [p.name for p in made.scenes] == ["01-cold-open.mp4", "02-rooftop.mp4"]
    assert abs(A.duration(made.scenes[0]) - 7) < 0.1 and abs(A.duration(made.scenes[1]) - 5) < 0.1
    assert made.film == tmp_path / "film.mp4" and abs(A.duration(made.film) - 12) < 0.1
    assert not stale.exists()
    # A scene without all its clips: no scene file for it and no film.
    partial = A.assemble(plan, {"j1": paths["j1"], "j3": paths["j3"]}, tmp_path / "other")
    assert partial.incomplete == [1] and partial.film is None
    assert [p.name for p in partial.scenes] == ["02-rooftop.mp4"]


def test_a_broken_clip_is_a_clear_error(tmp_path):
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"\x00\x00\x00\x18ftypmp42 but nothing else")
    with pytest.raises(A.AssemblyError) as e:
        A.concat([bad], tmp_path / "out.mp4")
    assert "bad.mp4" in str(e.value)
    assert not (tmp_path / "out.mp4").exists()

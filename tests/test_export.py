"""klingc export (issue 10 item 5): timeline, subtitles and the film agree to the frame.

One render of the sitcom example against the simulator (a split scene: part 2 holds
shots 5-8), with its subtitles burnt into film.mp4; every exported file is read back
with its own library.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import av
import opentimelineio as otio
import pysubs2
import pytest

from klingscript.cli import main
from klingscript.runtime import export as X
from klingscript.runtime.takes import film_clips

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def _frames(path: Path) -> list:
    with av.open(str(path)) as c:
        return [f.to_image() for f in c.decode(video=0)]


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    root = tmp_path_factory.mktemp("export")
    folder = root / "render"
    code = main(["render", str(EXAMPLES / "sitcom_coffee_shop.kls"), "-o", str(folder), "--simulate",
                 "--latency", "0.1", "--poll-interval", "0.05", "--progress", "quiet", "--burn-subtitles"])
    assert code == 0
    out = root / "out"
    out.mkdir()
    files = {k: out / f"film.{k}" for k in ("otio", "fcpxml", "edl", "srt", "vtt")}
    args = ["export", str(folder)]
    for k, p in files.items():
        args += [f"--{k}", str(p)]
    assert main(args) == 0
    return folder, files


def test_the_timeline_is_one_track_of_the_films_clips_with_a_marker_per_shot(rendered):
    folder, files = rendered
    tl = otio.adapters.read_from_file(str(files["otio"]))
    assert tl.name == "Bottomless Refills"
    assert len(tl.video_tracks()) == 1 and not tl.audio_tracks()
    clips = list(tl.video_tracks()[0].find_clips())
    assert [c.name for c in clips] == ["Scene 1.1 — The business plan", "Scene 1.2 — The business plan"]
    import json
    plan = json.loads((folder / "plan.json").read_text())
    picked = film_clips(folder, plan)
    assert [c.media_reference.target_url for c in clips] == [picked[j["id"]].resolve().as_uri()
                                                             for j in plan["jobs"]]
    markers = [(m.name, m.metadata["klingscript"]["shot"]) for c in clips for m in c.markers]
    assert markers == [(f"Shot {n}", n) for n in range(1, 9)]          # part 2 starts at Shot 5
    shot2 = clips[0].markers[1]
    assert shot2.metadata["klingscript"]["action"] == "Dev slams his laptop down on the low table."
    assert shot2.metadata["klingscript"]["dialogue"][0]["speaker"] == "Dev"
    assert shot2.metadata["klingscript"]["dialogue"][0]["text"] == "I quit my job."
    assert "I quit my job." in shot2.comment


def test_timeline_and_film_have_the_same_frames(rendered):
    folder, files = rendered
    tl = otio.adapters.read_from_file(str(files["otio"]))
    total = tl.duration()
    with av.open(str(folder / "film.mp4")) as c:
        v = c.streams.video[0]
        film_frames, rate = v.frames, float(v.average_rate)
    assert total.rate == rate
    assert total.to_frames() == film_frames == 25 * rate


@pytest.mark.parametrize("kind, adapter", [("fcpxml", "fcpx_xml"), ("edl", "cmx_3600")])
def test_fcpxml_and_edl_read_back_with_the_same_cuts(rendered, kind, adapter):
    _, files = rendered
    ours = otio.adapters.read_from_file(str(files["otio"]))
    back = otio.adapters.read_from_file(str(files[kind]), adapter_name=adapter,
                                        **({"rate": 24} if adapter == "cmx_3600" else {}))
    cuts = [(c.range_in_parent().start_time.to_frames(), c.duration().to_frames())
            for c in ours.video_tracks()[0].find_clips()]
    clips = list(back.find_clips())
    assert [(c.range_in_parent().start_time.to_frames(), c.duration().to_frames()) for c in clips] == cuts
    names = [m.name.lower() for c in clips for m in c.markers]
    assert names == [f"shot {n}" for n in range(1, 9)]


def test_subtitles_are_every_line_with_its_speaker_timed_to_the_markers(rendered):
    _, files = rendered
    tl = otio.adapters.read_from_file(str(files["otio"]))
    rate = tl.duration().rate
    expected = []
    for clip in tl.video_tracks()[0].find_clips():
        at = clip.range_in_parent().start_time.to_frames()
        for m in clip.markers:
            start = m.marked_range.start_time.to_frames()
            end = start + m.marked_range.duration.to_frames()
            for d in m.metadata["klingscript"]["dialogue"]:
                assert start <= d["start"] < d["end"] <= end           # inside its shot
                expected.append((at + d["start"], at + d["end"], f"{d['speaker']}: {d['text']}"))
    assert len(expected) == 7
    for kind in ("srt", "vtt"):
        subs = pysubs2.load(str(files[kind]))
        got = [(round(e.start * rate / 1000), round(e.end * rate / 1000), e.plaintext) for e in subs]
        assert got == expected, kind


def test_the_burnt_film_shows_the_lines_and_keeps_its_frames(rendered):
    folder, files = rendered
    film = _frames(folder / "film.mp4")
    clips = [p for p in sorted((folder / "clips").glob("*.mp4"))]
    plain = []
    import json
    plan = json.loads((folder / "plan.json").read_text())
    picked = film_clips(folder, plan)
    for j in plan["jobs"]:
        plain.extend(_frames(picked[j["id"]]))
    assert len(film) == len(plain) and clips
    subs = pysubs2.load(str(files["srt"]))
    first = subs[0]
    inside = round((first.start + first.end) / 2 * 24 / 1000)
    outside = 2                     # the first shot has no dialogue
    w, h = film[0].size

    def bottom_difference(k):
        from PIL import ImageChops, ImageStat

        box = (0, h * 4 // 5, w, h)
        diff = ImageChops.difference(film[k].crop(box), plain[k].crop(box))
        return sum(ImageStat.Stat(diff).mean)

    assert bottom_difference(inside) > 3 * bottom_difference(outside) + 1


def test_export_refuses_what_it_cannot_export(rendered, tmp_path, capsys):
    folder, _ = rendered
    assert main(["export", str(folder)]) == 2
    assert "nothing to export" in capsys.readouterr().err
    assert main(["export", str(EXAMPLES / "sitcom_coffee_shop.kls"), "--otio", str(tmp_path / "x.otio")]) == 2
    assert "is a script" in capsys.readouterr().err
    assert main(["export", str(tmp_path), "--srt", str(tmp_path / "x.srt")]) == 2
    assert "not a klingc render folder" in capsys.readouterr().err
    copy = tmp_path / "copy"
    shutil.copytree(folder, copy)
    for clip in (copy / "clips").glob("*.mp4"):
        clip.unlink()
        break
    assert main(["export", str(copy), "--otio", str(tmp_path / "x.otio")]) == 2
    err = capsys.readouterr().err
    assert "not complete" in err and "Traceback" not in err
    (copy / "storyboard.json").unlink()
    assert main(["export", str(copy), "--otio", str(tmp_path / "x.otio")]) == 2
    assert "storyboard.json" in capsys.readouterr().err
    assert not (tmp_path / "x.otio").exists()


def test_film_places_lines_by_the_clips_real_length(rendered):
    folder, _ = rendered
    f = X.film(folder)
    assert [p.start for p in f.parts] == [0, 12 * 24]
    assert [s.number for s in f.parts[1].shots] == [5, 6, 7, 8]
    assert f.parts[1].shots[0].lines[0].start == 12 * 24 + round(0.3 * 24)

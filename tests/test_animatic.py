"""Animatics worth reviewing (issue 10 item 6): background, reference images, the script's shot
numbers, speaker and tone, and a font with the glyphs of all five languages."""

from __future__ import annotations

import base64
import io
import os

import pytest
from PIL import Image, ImageChops, ImageDraw, ImageStat

from klingscript.runtime import fonts
from klingscript.runtime.simulator import animatic
from klingscript.runtime.simulator.server import Simulator


def _png(colour, size=(64, 48)) -> str:
    buf = io.BytesIO()
    Image.new("RGB", size, colour).save(buf, "PNG")
    return base64.b64encode(buf.getvalue()).decode("ascii")


RED, GREEN = _png((220, 30, 30)), _png((30, 200, 30))


def _body(**extra):
    body = {"duration": "7", "aspect_ratio": "16:9", "sound": "off", "multi_shot": True,
            "multi_prompt": [
                {"index": 1, "prompt": "Location: <<<image_1>>>, a red room.\nWide shot. <<<element_1>>> waits.",
                 "duration": "3"},
                {"index": 2, "prompt": 'Close-up. <<<element_1>>> (nervous, Korean): "안녕하세요."',
                 "duration": "4"}],
            "image_list": [{"image_url": RED}]}
    body.update(extra)
    return body


def test_shots_carry_the_scripts_numbers():
    board = animatic.storyboard(_body(), {1: "Minji"}, numbers=[5, 6])
    assert [s.index for s in board.shots] == [5, 6]
    assert [s.index for s in animatic.storyboard(_body()).shots] == [1, 2]     # none given: from 1


def test_the_simulator_passes_a_jobs_shot_numbers_by_its_external_id(monkeypatch):
    seen = []
    real = animatic.storyboard

    def spy(body, elements=None, element_images=None, numbers=None):
        seen.append(numbers)
        return real(body, elements, element_images, numbers)

    monkeypatch.setattr(animatic, "storyboard", spy)
    with Simulator(latency=0.0, shots={"abc123": [5, 6]}) as sim:
        for ext in ("abc123", "abc123-t2", "abc123-2", "other"):
            sim._clip_future(_body(), ext).result()
    assert seen == [[5, 6], [5, 6], [5, 6], None]


def test_the_location_image_is_the_background_and_elements_show_their_images():
    board = animatic.storyboard(_body(), {1: "Minji"}, {1: GREEN})
    assert board.background == RED
    assert board.shots[0].refs == [("Minji", GREEN)]         # the location is not repeated as a reference
    img = animatic._frame_image(board, board.shots[0], None)
    w, h = img.size
    # the background's red shows through the shade; the element's green thumbnail is in the top right
    r, g, b = img.getpixel((w // 2, h * 3 // 4))
    assert r > 2 * g and r > 2 * b
    assert any(img.getpixel((x, y))[1] > 150 and img.getpixel((x, y))[0] < 80
               for x in range(w * 3 // 4, w) for y in range(0, h // 3))


def test_a_first_frame_is_the_background_before_the_location():
    body = _body(image_list=[{"image_url": RED}, {"image_url": GREEN, "type": "first_frame"}])
    assert animatic.storyboard(body).background == GREEN


def test_each_line_shows_its_speaker_and_tone_while_it_is_spoken():
    board = animatic.storyboard(_body(), {1: "Minji"})
    (cap,) = board.shots[1].captions
    assert cap.text == "Minji (nervous): \u201c안녕하세요.\u201d"
    assert 3.0 < cap.start < cap.end <= 7.0
    shot, caption = animatic._state_at(board, (cap.start + cap.end) / 2)
    assert caption is cap
    assert animatic._state_at(board, 1.0)[1] is None


SAMPLES = {"Chinese": "你好，世界", "English": "Hello", "Japanese": "こんにちは、カタカナ",
           "Korean": "안녕하세요", "Spanish": "¿Qué tal, señor?"}


def _cjk_font_here() -> bool:
    return fonts.find().cjk


@pytest.mark.skipif(not _cjk_font_here() and not os.environ.get("CI"),
                    reason="no font with CJK glyphs on this machine (.ci/run installs fonts-noto-cjk)")
@pytest.mark.parametrize("language", sorted(SAMPLES))
def test_text_in_every_language_is_drawn_with_glyphs_not_boxes(language):
    face = fonts.find()
    assert face.cjk, f"{face.family} has no CJK glyphs"
    font = fonts.font(20)
    text = SAMPLES[language]
    assert fonts.covered(font, text)
    # and what is drawn is not the missing-glyph box repeated
    boxes = _draw("\u0378" * len(text), font)
    drawn = _draw(text, font)
    assert sum(ImageStat.Stat(ImageChops.difference(boxes, drawn)).mean) > 5


def _draw(text, font):
    img = Image.new("L", (400, 40), 0)
    ImageDraw.Draw(img).text((2, 2), text, font=font, fill=255)
    return img


def test_a_font_without_cjk_glyphs_is_reported_with_what_to_install(monkeypatch):
    dejavu = next((p for p in fonts._LATIN_FILES if os.path.isfile(p)), None)
    if dejavu is None:
        pytest.skip("no DejaVu Sans here")
    monkeypatch.setenv(fonts.ENV, dejavu)
    fonts.find.cache_clear()
    fonts.font.cache_clear()
    try:
        face = fonts.find()
        assert face.family == "DejaVu Sans" and not face.cjk and "Latin" in face.scripts
        note = fonts.missing(["Minji", "안녕하세요"])
        assert note is not None and "fonts-noto-cjk" in note and "안" in note
        assert fonts.missing(["Hello, señor"]) is None
    finally:
        fonts.find.cache_clear()
        fonts.font.cache_clear()


def test_long_cjk_lines_wrap_inside_the_frame():
    font = fonts.font(14)
    draw = ImageDraw.Draw(Image.new("RGB", (10, 10)))
    lines = animatic._wrap(draw, "这是一个很长很长的中文句子没有空格但是需要换行显示在画面里面", font, 120, 3)
    assert len(lines) == 3 and all(draw.textlength(x, font=font) <= 120 for x in lines)
    assert lines[-1].endswith("…")
    korean = animatic._wrap(draw, "여기 있었구나. 한참 찾았어.", font, 400, 2)
    assert korean == ["여기 있었구나. 한참 찾았어."]          # Korean keeps its spaces

"""The front-end checks (passes/check.py, passes/lint.py), images, languages and timing."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from klingscript.syntax import ast as A
from klingscript.model import images
from klingscript.model import languages
from klingscript.model import profiles
from klingscript.model import timing
from klingscript.compiler import check
from klingscript.diagnostics.render import render_text
from klingscript.project import Loader

SPEC_PILOT = '''\
# Sitcom pilot, cold open
title: I Need New Friends
model: kling-v3-omni
resolution: 1080p
aspect: 16:9
audio: on
language: English
style: "bright sitcom lighting, 35mm"

use "cast.kls"                     # shared cast for the whole series

location CoffeeShop:
    description: "cozy coffee shop, worn green couch, chalkboard menu"
    images: "refs/coffee_shop.png"

scene "Liked the photo" at @CoffeeShop:
    sound: "espresso machine hiss, low chatter"

    Shot 1 (3s): Mid-shot. @Jamie and @Sam sit on the couch.
    Shot 2 (3s): @Alex rushes into the coffee shop.
        @Alex (panicked): "I just liked my ex's photo from 2016."
    Shot 3 (2s): @Jamie turns to @Alex.
        @Jamie: "How bad?"
    Shot 4: @Alex slumps onto the couch.
        @Alex (defeated, English): "She's with the guy she left me for."

scene "Terrace" (10s):
    first frame: "frames/terrace.png"
    Outdoor terrace of a European villa, blue and white checkered tablecloth.
    The camera zooms in, the woman swirls the juice in her glass.
    Woman (wistful): "These trees will turn yellow in a month, won't they?"
    Close-up of the man, he lowers his head.
    Man (softly): "But they'll be green again next summer."
'''

SPEC_CAST = '''\
character Alex:
    description: "late-20s man, messy brown hair, green hoodie"
    images: "refs/alex_front.png", "refs/alex_left.png", "refs/alex_right.png"
    voice: "nervous, fast-talking tenor"
character Jamie:
    description: "woman, sharp bob haircut, denim jacket"
character Sam:
    description: "tall bearded man, flannel shirt"
'''


def png(path: Path, size=(640, 480), fmt="PNG") -> Path:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, (120, 80, 40)).save(path, fmt)
    return path


def run_check(tmp_path: Path, text: str, files: dict | None = None, allow_outside=False, name="main.kls"):
    for rel, content in (files or {}).items():
        p = tmp_path / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            p.write_bytes(content)
        else:
            p.write_text(content, encoding="utf-8")
    main = tmp_path / name
    main.parent.mkdir(parents=True, exist_ok=True)
    main.write_text(text, encoding="utf-8")
    return check(_shown(main), allow_outside=allow_outside)


def _shown(path: Path):
    """The path as a writer types it: relative to the working folder when it can be."""
    try:
        return path.relative_to(Path.cwd())
    except ValueError:
        return path


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)


def codes(program) -> list[str]:
    return [d.code for d in program.diagnostics]


def only(program, code):
    return [d for d in program.diagnostics if d.code == code]


def rendered(checked) -> str:
    return render_text(checked.diagnostics, checked.program.source_of)


# -- a clean script ---------------------------------------------------------------

def test_the_spec_example_with_its_cast_has_no_errors_or_warnings(tmp_path):
    for rel in ("refs/coffee_shop.png", "refs/alex_front.png", "refs/alex_left.png", "refs/alex_right.png"):
        png(tmp_path / rel)
    png(tmp_path / "frames/terrace.png", (1280, 720))
    program = run_check(tmp_path, SPEC_PILOT, {"cast.kls": SPEC_CAST}, name="pilot.kls")
    assert [d.severity.value for d in program.diagnostics] == ["note"], rendered(program)
    note = program.diagnostics[0]
    assert note.code == "KLS404"
    assert note.message == "Shot 4 has no duration; it is inferred as 5s from its dialogue"
    assert (note.span.line, note.span.column, note.span.end_column) == (24, 5, 11)


def test_a_clean_script_gives_the_check_pass_nothing_to_say(tmp_path):
    program = run_check(tmp_path, 'title: T\nlanguage: ko\n\nscene "S":\n    Shot 1 (3s): Rain.\n'
                                  '        Jin: "숙제 다 했어?"\n')
    assert program.diagnostics == []


# -- everything is reported at once ----------------------------------------------

def test_several_errors_in_one_file_are_all_reported(tmp_path):
    text = ('title: Many\nmodle: kling-v3\nresolution: 8k\nlanguage: French\n\n'
            'character Mia:\n    descripton: "x"\n    voice: "soft"\n'
            'location Flat:\n    voice: "echo"\n\n'
            'scene "A":\n    Shot 1 (2.5s): @Mia sits.\n    Shot 3 (20s): @Mia stands.\n'
            '        @Mia (German): "Hallo."\n    Shot 4 (2s): Rain in @Flat.\n')
    program = run_check(tmp_path, text)
    got = codes(program)
    for code in ("KLS103", "KLS104", "KLS304", "KLS307", "KLS301", "KLS303"):
        assert code in got, rendered(program)
    assert got.count("KLS301") == 2          # (2.5s) and (20s)
    assert got.count("KLS304") == 2          # language: French and (German)
    assert got.count("KLS303") == 1          # only the first wrong number
    assert got.count("KLS103") == 2          # modle, descripton


# -- settings ---------------------------------------------------------------------

@pytest.mark.parametrize("line, code, help_part", [
    ("modle: kling-v3", "KLS103", "did you mean `model:`?"),
    ("lenguage: English", "KLS103", "did you mean `language:`?"),
    ("resolution: 1080P", "KLS104", "did you mean `resolution: 1080p`?"),
    ("model: kling-v33", "KLS104", "did you mean `model: kling-v3`?"),
    ("language: Englsh", "KLS104", "did you mean `English`?"),
    ("audio: yes", "KLS104", "write `audio: on`"),
    ("audio: false", "KLS104", "write `audio: off`"),
    ("aspect: 16x9", "KLS104", "did you mean `aspect: 16:9`?"),
])
def test_suggestions(tmp_path, line, code, help_part):
    program = run_check(tmp_path, f"title: T\n{line}\n")
    diags = only(program, code)
    assert len(diags) == 1, rendered(program)
    assert help_part in (diags[0].help or "")


def test_invalid_values_say_the_allowed_values(tmp_path):
    program = run_check(tmp_path, "aspect: 4:3\nmultishot: json\nmodel: sora\n")
    messages = [d.message for d in only(program, "KLS104")]
    assert "`4:3` is not an aspect ratio Kling 3.0 makes; Kling 3.0 makes `16:9`, `9:16` and `1:1`" in messages
    assert "`json` is not a value of `multishot:`; write `api` or `text`" in messages
    assert "`sora` is not a model klingc knows; the models are `kling-v3` and `kling-v3-omni`" in messages


def test_value_spans_point_at_the_value(tmp_path):
    program = run_check(tmp_path, "resolution:   8k   \n")
    d = only(program, "KLS104")[0]
    assert (d.span.line, d.span.column, d.span.end_column) == (1, 15, 17)


def test_a_setting_given_twice_points_at_both(tmp_path):
    program = run_check(tmp_path, "aspect: 16:9\naudio: on\naspect: 9:16\n")
    d = only(program, "KLS104")[0]
    assert d.span.line == 3 and d.labels[0].span.line == 1


def test_quoted_only_settings_need_quotes(tmp_path):
    png(tmp_path / "f.png")
    program = run_check(tmp_path, 'scene "S":\n    first frame: f.png\n    sound: rain\n    Rain.\n')
    messages = [d.message for d in only(program, "KLS104")]
    assert "the path of `first frame:` must be in quotes" in messages
    assert "the text of `sound:` must be in quotes" in messages


def test_title_is_document_only_and_voice_is_an_element_field(tmp_path):
    program = run_check(tmp_path, 'voice: "deep"\n\nscene "S":\n    title: "Other"\n    Shot 1 (3s): Rain.\n')
    messages = [d.message for d in only(program, "KLS103")]
    assert "`voice:` is a field of an element, not a document setting" in messages
    assert "`title:` is a document setting; a scene's title is written after `scene`" in messages


def test_voice_on_a_location_is_an_element_limit_not_an_unknown_field(tmp_path):
    program = run_check(tmp_path, 'location Flat:\n    description: "small flat"\n    voice: "echo"\n')
    assert codes(program) == ["KLS307"]
    assert only(program, "KLS307")[0].message == "only characters have a voice; Flat is a location"


def test_scene_overrides_are_checked_against_the_scene_model(tmp_path):
    # kling-v3 is the document model; the scene switches to omni and back to a bad value.
    text = ('model: kling-v3\n\nscene "A":\n    model: kling-v3-omni\n    aspect: 2:1\n    Shot 1 (3s): Rain.\n'
            'scene "B":\n    model: kling-v5\n    Shot 1 (3s): Rain.\n')
    program = run_check(tmp_path, text)
    messages = [d.message for d in only(program, "KLS104")]
    assert any(m.startswith("`2:1` is not an aspect ratio Kling 3.0 Omni makes") for m in messages)
    assert any(m.startswith("`kling-v5` is not a model") for m in messages)


# -- languages --------------------------------------------------------------------

def test_the_kls304_message(tmp_path):
    program = run_check(tmp_path, 'scene "S":\n    Shot 1 (3s): A waiter.\n        Waiter (polite, French): "Bonjour."\n')
    d = only(program, "KLS304")[0]
    assert d.message == ("French is not a language Kling 3.0 speaks "
                         "(it speaks Chinese, English, Japanese, Korean and Spanish)")
    assert (d.span.line, d.span.column, d.span.end_column) == (3, 25, 31)


@pytest.mark.parametrize("value, code", [("ko", None), ("한국어", None), ("Español", None), ("es", None),
                                         ("French", "KLS304"), ("Deutsch", "KLS304"), ("Klingon", "KLS104")])
def test_language_setting(tmp_path, value, code):
    program = run_check(tmp_path, f"language: {value}\n")
    assert codes(program) == ([code] if code else []), rendered(program)


def test_korean_text_columns_are_exact(tmp_path):
    text = ('character 하나:\n    description: "소녀"\n\n'
            'scene "옥상":\n    Shot 1 (3s): @하나 looks at the city.\n'
            '        @하나 (French): "Bonjour"\n'
            '        선생님 (English): "숙제 다 했어?"\n')
    program = run_check(tmp_path, text)
    d304 = only(program, "KLS304")[0]
    assert (d304.span.line, d304.span.column, d304.span.end_column) == (6, 14, 20)
    d402 = only(program, "KLS402")[0]
    # `        선생님 (English): ` is 23 code points: the string starts at column 24.
    assert (d402.span.line, d402.span.column, d402.span.end_column) == (7, 24, 34)
    out = rendered(program)
    # The caret sits under the string when the line is shown in code points.
    lines = out.splitlines()
    i = lines.index('7 |         선생님 (English): "숙제 다 했어?"')
    assert lines[i + 1] == "  |                        ^^^^^^^^^^"


def test_japanese_text_columns_are_exact(tmp_path):
    text = 'scene "駅":\n    Shot 1 (3s): 雨。\n        駅員 (Chinese): "ありがとう、またね"\n'
    program = run_check(tmp_path, text)
    d = only(program, "KLS402")[0]
    assert d.message == "this line is written in Japanese kana but marked Chinese"
    assert d.help == "if it is Japanese, change `Chinese` to `Japanese`"
    assert (d.span.column, d.span.end_column) == (23, 34)


def test_wrong_script_for_the_scene_language(tmp_path):
    program = run_check(tmp_path, 'scene "S":\n    language: Korean\n    Shot 1 (3s): Rain.\n'
                                  '        Hana: "I am fine."\n        Jin: "괜찮아."\n')
    ds = only(program, "KLS402")
    assert len(ds) == 1 and ds[0].span.line == 4
    assert ds[0].message == "this line is written in Latin letters but is spoken in Korean, the scene's language"


@pytest.mark.parametrize("text, language, ok", [
    ("숙제 다 했어?", "Korean", True),
    ("숙제 다 했어?", "English", False),
    ("Hello there", "Korean", False),
    ("東京大学に行く", "Japanese", True),      # mostly kanji is still Japanese
    ("今日は天気がいい", "Chinese", False),     # kana show it is not Chinese
    ("你好，今天怎么样？", "Chinese", True),
    ("¿Dónde está la plaza?", "Spanish", True),
    ("123 !!!", "Korean", True),               # no letters: nothing to say
])
def test_script_matches(text, language, ok):
    assert languages.script_matches(text, language)[0] is ok


# -- references ---------------------------------------------------------------------

def test_grace_s_refers_to_grace(tmp_path):
    checked = run_check(tmp_path, 'character Grace:\n    description: "red coat"\n\n'
                                  'scene "S":\n    Shot 1 (3s): @Grace\'s hand holds an umbrella.\n')
    assert checked.diagnostics == [], rendered(checked)
    ref, decl = checked.program.references[0]
    assert ref.name == "Grace" and decl is not None
    assert ref.span.end_column - ref.span.column == len("@Grace")


# -- shots and durations --------------------------------------------------------------

def test_numbering_points_at_the_first_wrong_number(tmp_path):
    program = run_check(tmp_path, 'scene "S":\n    Shot 1 (3s): A.\n    Shot 2 (3s): B.\n'
                                  '    Shot 4 (3s): C.\n    Shot 5 (3s): D.\n')
    ds = only(program, "KLS303")
    assert len(ds) == 1
    assert (ds[0].span.line, ds[0].span.column, ds[0].span.end_column) == (4, 10, 11)
    assert ds[0].help == "write `Shot 3`"


def test_durations_use_the_profile(tmp_path, monkeypatch):
    real = profiles.load

    def narrow(name, generation=profiles.DEFAULT_GENERATION):
        p = real(name, generation)
        if p is None:
            return None
        data = {**p.data, "duration": {**p.data["duration"], "shot_min": 2, "shot_max": 5}}
        return profiles.Profile(p.name, data, None, generation)

    monkeypatch.setattr(profiles, "load", narrow)
    program = run_check(tmp_path, 'scene "S":\n    Shot 1 (1s): A.\n    Shot 2 (6s): B.\n    Shot 3 (5s): C.\n')
    messages = [d.message for d in only(program, "KLS301")]
    assert messages == ["Shot 1 is 1s long; Kling 3.0 takes shots of 2 to 5 seconds",
                        "Shot 2 is 6s long; Kling 3.0 takes shots of 2 to 5 seconds"]


def test_not_whole_seconds(tmp_path):
    program = run_check(tmp_path, 'scene "S" (2.5s):\n    Rain.\nscene "T":\n    Shot 1 (3 sec): A.\n')
    ds = only(program, "KLS301")
    assert [d.help for d in ds] == ["write whole seconds like (3s)", "write whole seconds like (3s)"]
    assert ds[1].span.column == 12 and ds[1].span.end_column == 19


def test_an_inferred_duration_longer_than_a_shot(tmp_path):
    words = " ".join(["word"] * 40)
    program = run_check(tmp_path, f'scene "S":\n    Shot 1: A.\n        Mia: "{words}"\n')
    ds = only(program, "KLS301")
    assert len(ds) == 1 and ds[0].message.startswith("Shot 1 has no duration and is inferred as 17s from its dialogue; Kling 3.0 takes")


# -- lint -----------------------------------------------------------------------------

def test_dialogue_that_does_not_fit(tmp_path):
    line = "I have been thinking about this all night and I am sure it is the best idea."
    program = run_check(tmp_path, f'scene "S":\n    Shot 1 (2s): A.\n        Dev: "{line}"\n'
                                  f'scene "T" (3s):\n    Dev: "{line}"\n'
                                  f'scene "U" (9s):\n    Dev: "{line}"\n')
    ds = only(program, "KLS401")
    assert [d.span.line for d in ds] == [2, 4]
    assert ds[0].message.startswith("Shot 1 lasts 2s, but its dialogue takes about 6.8s to say")
    assert ds[0].help == "make it (8s), or shorten the dialogue"


def test_a_brisk_line_in_a_tight_shot_is_not_warned(tmp_path):
    # 8 words: 3.2 s at a comfortable pace, said fast in under 3 s (the spec's own example).
    program = run_check(tmp_path, 'scene "S":\n    Shot 1 (3s): A.\n        Alex: "I just liked my ex\'s photo from 2016."\n')
    assert only(program, "KLS401") == []


def test_inferred_durations_are_notes(tmp_path):
    program = run_check(tmp_path, 'scene "S":\n    Shot 1: A.\n        Mia: "Do you want some?"\n    Shot 2: B.\n'
                                  'scene "T":\n    Mia: "The roses came back."\n')
    messages = [d.message for d in only(program, "KLS404")]
    assert messages == ["Shot 1 has no duration; it is inferred as 3s from its dialogue",
                        "Shot 2 has no duration and no dialogue; it gets the minimum, 2s",
                        'scene "T" has no duration; it is inferred as 3s from its dialogue']
    assert all(d.severity.value == "note" for d in only(program, "KLS404"))


# -- elements -----------------------------------------------------------------------

def test_element_limits(tmp_path):
    png(tmp_path / "a.png")
    desc = "x" * 101
    text = (f'character Hero:\n    description: "{desc}"\n'
            '    images: "a.png", "a.png", "a.png", "a.png", "a.png"\n'
            'prop AVeryLongPropNameIndeed:\n    description: "sword"\n    description: "again"\n')
    program = run_check(tmp_path, text)
    messages = [d.message for d in only(program, "KLS307")]
    assert "the description of Hero is 101 characters; Kling takes at most 100" in messages
    assert "Hero has 5 images; an element takes 1 to 4 (the first is the frontal view)" in messages
    assert "the name AVeryLongPropNameIndeed is 23 characters; Kling element names are at most 20" in messages
    assert [d.message for d in only(program, "KLS104")] == ["`description:` is given twice"]


def test_an_element_with_images_needs_a_description(tmp_path):
    png(tmp_path / "a.png")
    program = run_check(tmp_path, 'character Mia:\n    images: "a.png"\ncharacter Tom:\n    voice: "low"\n')
    assert [d.message for d in program.diagnostics] == [
        "Mia has images but no description; Kling needs both to create an element"]


def test_elements_in_used_files_are_checked_where_they_are_written(tmp_path):
    program = run_check(tmp_path, 'use "cast/cast.kls"\n',
                        {"cast/cast.kls": 'character Mia:\n    description: "x"\n    images: "mia.png"\n',
                         "cast/mia.png": b""})
    ds = only(program, "KLS501")
    assert len(ds) == 1 and ds[0].span.file == os.path.join("cast", "cast.kls")
    assert ds[0].message == 'an image of Mia, "mia.png", is an empty file, not an image'


# -- images and paths -----------------------------------------------------------------

def test_images_are_read(tmp_path):
    png(tmp_path / "small.png", (200, 200))
    png(tmp_path / "wide.png", (1000, 100))
    png(tmp_path / "tall.png", (300, 800))
    png(tmp_path / "edge.png", (750, 300))           # exactly 2.5:1 is allowed
    png(tmp_path / "photo.jpg", (400, 400), "JPEG")
    png(tmp_path / "anim.gif", (400, 400), "GIF")
    (tmp_path / "notes.png").write_text("not an image")
    (tmp_path / "truncated.png").write_bytes((tmp_path / "small.png").read_bytes()[:60])
    text = ('model: kling-v3-omni\ncharacter Mia:\n    description: "x"\n'
            '    images: "small.png", "wide.png", "tall.png", "edge.png"\n'
            'character Tom:\n    description: "y"\n    images: "photo.jpg", "anim.gif", "notes.png", "truncated.png"\n'
            'scene "S":\n    Shot 1 (3s): @Mia and @Tom.\n')
    program = run_check(tmp_path, text)
    by_path = {}
    for d in only(program, "KLS501"):
        by_path.setdefault(d.message.split('"')[1], []).append(d.message)
    assert set(by_path) == {"small.png", "wide.png", "tall.png", "anim.gif", "notes.png", "truncated.png"}
    assert any("is 200×200 pixels" in m for m in by_path["small.png"])
    assert any("too wide" in m for m in by_path["wide.png"])
    assert any("too tall" in m for m in by_path["tall.png"])
    assert any("is a GIF image" in m for m in by_path["anim.gif"])
    assert any("not an image file" in m for m in by_path["notes.png"])


def test_a_missing_image_suggests_the_nearest_file(tmp_path):
    png(tmp_path / "refs/alex_front.png")
    program = run_check(tmp_path, 'character Alex:\n    description: "x"\n    images: "refs/alex_frnt.png"\n')
    d = only(program, "KLS501")[0]
    assert d.message == 'cannot find an image of Alex: "refs/alex_frnt.png" (looked for refs/alex_frnt.png)'
    assert d.help == 'did you mean "refs/alex_front.png"?'


def test_paths_may_not_leave_the_project(tmp_path):
    project = tmp_path / "project"
    png(tmp_path / "outside.png")
    text = ('character Mia:\n    description: "x"\n    images: "../outside.png", "' + str(tmp_path / "outside.png") + '"\n'
            'scene "S":\n    first frame: "sub/../../outside.png"\n    Shot 1 (3s): @Mia.\n')
    program = run_check(project, text)
    ds = only(program, "KLS502")
    assert len(ds) == 3
    assert ds[0].message == '"../outside.png" is outside the project folder (the folder of main.kls)'
    allowed = check(project / "main.kls", allow_outside=True)
    assert only(allowed, "KLS502") == [] and only(allowed, "KLS501") == []


def test_relative_paths_resolve_against_the_file_they_are_in(tmp_path):
    png(tmp_path / "cast/refs/mia.png")
    program = run_check(tmp_path, 'use "cast/cast.kls"\n',
                        {"cast/cast.kls": 'character Mia:\n    description: "x"\n    images: "refs/mia.png"\n'})
    assert program.diagnostics == [], rendered(program)


def test_image_problems_include_size_in_bytes():
    info = images.ImageInfo(Path("big.png"), True, True, size=12 * 1024 * 1024, format="PNG",
                            width=4000, height=3000)
    limits = profiles.load("kling-v3").images
    problems = images.problems(info, limits, "Kling 3.0")
    assert problems[0][0] == "is 12 MB; Kling 3.0 takes images up to 10 MB"


def test_image_facts_are_cached_until_the_file_changes(tmp_path):
    p = png(tmp_path / "a.png", (400, 400))
    first = images.inspect(p)
    assert images.inspect(p) is first
    png(p, (500, 400))
    os.utime(p, ns=(first.path.stat().st_atime_ns, first.path.stat().st_mtime_ns + 10**9))
    assert images.inspect(p).width == 500


def test_unsaved_editor_text_is_checked(tmp_path):
    main = tmp_path / "main.kls"
    main.write_text("title: On disk\n")
    program = check(main, loader=Loader({main: "modle: kling-v3\n"}))
    assert codes(program) == ["KLS103"]


# -- data -------------------------------------------------------------------------------

@pytest.mark.parametrize("name", profiles.available())
def test_profiles_are_complete_and_cite_their_sources(name):
    p = profiles.load(name)
    assert p.data["display_name"]
    for section in ("endpoints", "duration", "shots", "prompt", "references", "frames", "images",
                    "output", "speech", "element"):
        assert p.data[section].get("source"), f"{name}: [{section}] has no source"
    assert 1 <= p.shot_min <= p.shot_max <= p.job_max and p.job_min <= p.job_max
    assert set(p.resolutions) == set(p.data["output"]["modes"])
    for lang in p.languages:
        assert languages.lookup(lang) == lang
        assert lang in timing.rates(), f"no speaking rate for {lang}"
    assert 0 < p.images.min_aspect < 1 < p.images.max_aspect


def test_speaking_time_and_inference():
    assert timing.speaking_seconds("one two three four five", "English") == pytest.approx(2.0)
    assert timing.speaking_seconds("숙제 다 했어", "Korean") == pytest.approx(5 / 5.2)
    line = A.Dialogue(A.Role("Mia", None), None, A.Str("one two three four five", False, None), None, None)
    assert timing.infer_duration([line], "English") == 3          # 2.0 + 1 padding
    assert timing.infer_duration([], "English") == 2              # the minimum


# -- never a traceback -------------------------------------------------------------------

_PIECES = st.sampled_from([
    "title: X\n", "model: kling-v3\n", "model: \n", "aspect: 4:3\n", "language: fr\n", "language:\n",
    'scene "S":\n', 'scene "S" (3.5s):\n', "scene (2s):\n", "    Shot 1 (3s): A.\n", "    Shot x: B.\n",
    "    Shot 2 (\n", '        @A (French, ko): "x"\n', '        Mia: "숙제"\n', "    first frame: \n",
    '    first frame: "../x.png"\n', '    last frame: "", ""\n', "character A:\n", "prop B:\n",
    '    images: "a.png", \n', "    voice:\n", '    description: ""\n', "\t\n", "#c\n", "use \"x.kls\"\n",
    "    lenguage: x\n", "    title:\n", "\n", "@\n", "Shot 1:\n",
])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(_PIECES, max_size=14))
def test_any_jumble_of_lines_is_checked_without_a_fault(tmp_path, pieces):
    program = run_check(tmp_path, "".join(pieces))
    rendered(program)
    for d in program.diagnostics:
        assert d.span.line >= 1 and d.span.column >= 1


# -- a misspelt shot header is still a shot (issue 11) ----------------------------

_ELIAS = 'title: T\n\ncharacter Elias:\n    description: "a tall man"\n\nscene "Street":\n'


@pytest.mark.parametrize("header, message, fix", [
    ("Shot 3 (3s) @Elias raises his hands.", "a shot header needs a `:` after it",
     "write `Shot 3 (3s): @Elias raises his hands.`"),
    ("shot 3 (3s): @Elias raises his hands.", "a shot header starts with `Shot`, with a capital S",
     "write `Shot 3 (3s): @Elias raises his hands.`"),
    ("SHOT 3 (3s) @Elias raises his hands.", "a shot header needs a `:` after it",
     "write `Shot 3 (3s): @Elias raises his hands.`"),
])
def test_a_misspelt_shot_header_gets_one_error_and_is_read_as_a_shot(tmp_path, header, message, fix):
    text = (_ELIAS + '    Shot 1 (3s): @Elias walks.\n    Shot 2 (3s): @Elias stops.\n'
            f'    {header}\n        @Elias: "Enough."\n    Shot 4 (3s): @Elias smiles.\n')
    program = run_check(tmp_path, text)
    assert [(d.code, d.message, d.help) for d in program.diagnostics] == [("KLS100", message, fix)], rendered(program)
    d = program.diagnostics[0]
    assert (d.span.line, d.span.column, d.span.end_column) == (9, 5, 16)
    shot = program.program.main.doc.items[-1].shots[2]
    assert (shot.number, shot.duration.seconds, shot.text.value) == (3, 3, "@Elias raises his hands.")
    assert [type(l).__name__ for l in shot.lines] == ["Dialogue"]


def test_a_header_without_colon_or_text_opens_its_block(tmp_path):
    text = _ELIAS + '    Shot 1 (3s)\n        @Elias: "Hello there."\n'
    program = run_check(tmp_path, text)
    assert [(d.code, d.help) for d in program.diagnostics] == [("KLS100", "write `Shot 1 (3s):`")], rendered(program)
    shot = program.program.main.doc.items[-1].shots[0]
    assert shot.span.end_line == 8 and shot.head_span.end_column == 16  # the added colon is not in the span


def test_a_misspelt_header_deeper_than_the_scene_stays_an_action_line(tmp_path):
    text = _ELIAS + '    Shot 1 (3s): @Elias walks.\n        Shot 2 (3s) deeper\n'
    program = run_check(tmp_path, text)
    assert [(d.code, d.message) for d in program.diagnostics] == [
        ("KLS100", "a shot header needs a `:` after it")], rendered(program)
    assert len(program.program.main.doc.items[-1].shots) == 1


# -- code frames (issue 11) -------------------------------------------------------

def test_every_line_of_a_frame_stands_on_its_gutter(tmp_path):
    # Line 9, 10 and 100: the `|` of each frame and its `= help` / `= note` lines in one column.
    from klingscript.diagnostics.codes import make
    from klingscript.diagnostics.model import Label

    text = "".join(f"line {i}\n" for i in range(1, 120))
    diags = [make("KLS100", A.Span("f.kls", n, 1, n, 5, 0, 0), "m", help="one\ntwo",
                  labels=[Label(A.Span("f.kls", 1, 1, 1, 2, 0, 0), "here")]) for n in (9, 10, 100)]
    out = render_text(diags, lambda _f: text).splitlines()
    frames = [out[i:i + 7] for i in range(0, len(out), 7)]
    for frame, n in zip(frames, (9, 10, 100)):
        bar = len(str(n)) + 1
        assert [line[bar] for line in frame[1:6]] == ["|", "|", "|", "=", "="], frame
        assert frame[6] == " " * (bar + len("= help: ")) + "two"


# -- hints a writer needs (issue 11) -------------------------------------------------

_CAST = ('title: T\n\ncharacter Grace:\n    description: "woman in a green scarf"\n'
         'character OldMan:\n    description: "old man, white beard"\n'
         'location Kitchen:\n    description: "a small kitchen"\n\n')


@pytest.mark.parametrize("speaker, named", [
    ("Grace", "Grace"), ("GRACE", "Grace"), ("Old Man", "OldMan"), ("@Grace", None), ("Waiter", None),
    ("Kitchen", None),   # a location does not speak
])
def test_a_speaker_without_at_who_is_declared_gets_a_hint(tmp_path, speaker, named):
    text = _CAST + f'scene "S":\n    Shot 1 (4s): @Grace and @OldMan in the @Kitchen.\n        {speaker}: "Hello."\n'
    program = run_check(tmp_path, text)
    hints = only(program, "KLS411")
    assert [h.help for h in hints] == ([f"write `@{named}` for `{speaker}`"] if named else []), rendered(program)
    if named:
        assert hints[0].severity.value == "warning"
        assert (hints[0].span.line, hints[0].span.column, hints[0].span.end_column) == (12, 9, 9 + len(speaker))


@pytest.mark.parametrize("durations, over", [
    ((5, 6, 6), 2), ((5, 5, 8), 3), ((5, 6, 8), None), ((3, 3, 3, 3, 3, 3, 2), None), ((5, 5, 5), None),
])
def test_a_scene_a_few_seconds_over_one_job_names_the_trim(tmp_path, durations, over):
    shots = "".join(f"    Shot {i} ({d}s): Rain {i}.\n" for i, d in enumerate(durations, 1))
    program = run_check(tmp_path, 'title: T\n\nscene "S":\n' + shots)
    notes = only(program, "KLS412")
    if over is None:   # 19s is too far over; 7 shots split it anyway; 15s is one job
        assert notes == [], rendered(program)
    else:
        assert [n.message for n in notes] == [
            f'scene "S" lasts {sum(durations)}s: {over}s over a single 15s job, so it is made as 2 generations']
        assert notes[0].help == f"trim {over}s from its shots (15s in all) to make it one generation"

"""Lowering and planning: effective settings, durations, references, splitting, endpoints,
element tokens, prompt text, job identity and cost."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from conftest import EXAMPLES
from klingscript.backends.emit import content_id, finish, plan_json
from klingscript.backends.prompts import PlainRenderer, Renderer
from klingscript.compiler import OUTPUTS, PROMPTS, check, compile_script
from klingscript.diagnostics.model import Severity
from klingscript.lower import Mention, Speech, lower
from klingscript.planner.pricing import load_pricing
from klingscript.planner.scene import make_plan

EXAMPLE_FILES = sorted(EXAMPLES.glob("*.kls")) + sorted((EXAMPLES / "series").glob("*.kls"))


@pytest.fixture
def project(tmp_path):
    from PIL import Image

    (tmp_path / "refs").mkdir()
    for name in ("front", "side", "room", "start", "end"):
        Image.new("RGB", (400, 400), (100, 100, 100)).save(tmp_path / "refs" / f"{name}.png")
    return tmp_path


def write(project: Path, text: str, name: str = "script.kls") -> Path:
    path = project / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def compiled(path, api="legacy"):
    """(the check's compilation, plan with rendered prompts, plan.json output); fails on errors.
    The requests of the legacy generation unless ``api`` says otherwise (tests of the current
    generation's: test_current_api.py)."""
    c = compile_script(path, api=api)
    errors = [d for d in c.diagnostics if d.severity is Severity.ERROR]
    assert not errors, errors
    plan = finish(c.plan, Renderer())
    return c, plan, plan_json(plan)


def codes(program):
    return sorted({d.code for d in program.diagnostics})


# -- lowering ---------------------------------------------------------------------------

def test_lowering_resolves_settings_durations_references_and_dialogue(project):
    (project / "cast.kls").write_text(textwrap.dedent('''\
        character Alex:
            description: "man in a green hoodie"
            images: "refs/front.png", "refs/side.png"
            voice: "nervous tenor"
        '''), encoding="utf-8")
    path = write(project, '''\
        title: Pilot
        resolution: 1080p
        audio: off
        language: Spanish
        model: kling-v3-omni
        use "cast.kls"

        scene "One":
            Shot 1 (3s): @Alex waits.
            Shot 2: @Alex answers the phone.
                @Alex (tired, V.O., English): "Hello?"

        scene "Two":
            resolution: 720p
            audio: on
            Mom (sad): "Ven a casa."
        ''')
    production = check(path).production
    one, two = production.scenes
    assert production.title == "Pilot" and production.source == "script.kls"
    assert (one.settings.resolution, one.settings.audio, one.settings.language) == ("1080p", "off", "Spanish")
    assert (two.settings.resolution, two.settings.audio, two.settings.model) == ("720p", "on", "kling-v3-omni")
    assert [s.seconds for s in one.shots] == [3, 2] and one.shots[1].inferred
    assert production.elements["Alex"].images == ("refs/front.png", "refs/side.png")
    assert [p.name for p in one.shots[0].text if isinstance(p, Mention)] == ["Alex"]
    line = one.shots[1].lines[0]
    assert isinstance(line, Speech)
    assert (line.speaker, line.element, line.tones, line.language, line.offscreen) == \
        ("Alex", "Alex", ("tired",), "English", "voice-over")
    (mom,) = two.preamble
    assert (mom.speaker, mom.element, mom.language) == ("Mom", None, "Spanish")
    assert two.seconds == two.duration and two.inferred


def test_paths_are_relative_to_the_script(project):
    sub = project / "cast"
    sub.mkdir()
    (sub / "cast.kls").write_text('character Alex:\n    description: "man"\n'
                                  '    images: "../refs/front.png", "../refs/side.png"\n', encoding="utf-8")
    path = write(project, 'model: kling-v3-omni\nuse "cast/cast.kls"\nscene "A":\n    Shot 1 (4s): @Alex waits.\n')
    _, _, out = compiled(path)
    assert out.plan["elements"][0]["images"] == ["refs/front.png", "refs/side.png"]
    assert out.plan["elements"][0]["request"]["element_image_list"]["frontal_image"] == "file:refs/front.png"


# -- splitting -----------------------------------------------------------------------------

def test_sitcom_splits_into_two_valid_jobs():
    program, plan, out = compiled(EXAMPLES / "sitcom_coffee_shop.kls")
    assert [j.shot_numbers for j in plan.jobs] == [[1, 2, 3, 4], [5, 6, 7, 8]]
    assert [j.duration for j in plan.jobs] == [12, 13]
    profile = plan.jobs[0].profile
    for job in plan.jobs:
        assert profile.job_min <= job.duration <= profile.job_max
        assert len(job.shots) <= profile.shots_per_job
        assert (job.part, job.parts) in ((1, 2), (2, 2))
        assert all(len(p) <= profile.shot_prompt_max for _, p, _ in job.multi_prompt)
    notes = [d for d in program.diagnostics if d.code == "KLS404" and "split into 2 jobs" in d.message]
    assert len(notes) == 1 and notes[0].span.line == 31
    # location and sound go into every part
    for job in plan.jobs:
        first = job.multi_prompt[0][1]
        # the café is a reference image (one image), so its description is in the prompt too
        assert "Location: <<<image_1>>>, cozy coffee shop, chalkboard menu, espresso machine." in first
        assert "Ambient sound: espresso machine hiss" in first
        assert "Style: bright multi-camera sitcom lighting" in first


def test_text_multishot_writes_shot_lines_and_ignores_the_shot_limit(project):
    shots = "\n".join(f"    Shot {k} (2s): Frame {k} of the flip-book." for k in range(1, 8))
    path = write(project, f'multishot: text\nscene "Flip":\n{shots}\n')
    _, plan, out = compiled(path)
    (job,) = plan.jobs
    assert job.duration == 14 and len(job.shots) == 7
    request = out.plan["jobs"][0]["request"]
    # Kling cuts the shot lines itself (issue 9, item 3)
    assert request["multi_shot"] is True and request["shot_type"] == "intelligence"
    assert request["duration"] == "14"
    lines = request["prompt"].splitlines()
    assert lines[0] == "Shot 1 (2s): Frame 1 of the flip-book."
    assert lines[6] == "Shot 7 (2s): Frame 7 of the flip-book."


def test_one_shot_jobs_are_single_prompts(project):
    path = write(project, 'scene "A":\n    Shot 1 (12s): A long shot.\n    Shot 2 (12s): Another.\n')
    program, plan, out = compiled(path)
    assert [j.shot_numbers for j in plan.jobs] == [[1], [2]]
    for job in out.plan["jobs"]:
        assert "multi_shot" not in job["request"] and job["request"]["prompt"]


@pytest.mark.parametrize("body,code,line", [
    ('scene "S":\n    Shot 1 (2s): Blink.\n', "KLS302", 1),
    ('scene "S" (20s):\n    A long sunset.\n', "KLS302", 1),
    ('scene "S":\n    Shot 1 (14s): A.\n    Shot 2 (2s): B.\n    Shot 3 (14s): C.\n', "KLS302", 3),
])
def test_no_valid_split_says_why_and_where(project, body, code, line):
    path = write(project, body)
    program = check(path)
    found = [d for d in program.diagnostics if d.code == code]
    assert found and found[0].span.line == line
    assert "Traceback" not in found[0].message


def test_reference_inputs_make_more_jobs_when_they_must(project):
    props = "\n".join(f'prop P{k}:\n    description: "thing {k}"\n    images: "refs/room.png"' for k in range(1, 9))
    path = write(project, f'''model: kling-v3-omni
{props}
scene "Table":
    Shot 1 (4s): @P1 @P2 @P3 @P4 on the table.
    Shot 2 (4s): @P5 @P6 @P7 @P8 on the floor.
''')
    program, plan, out = compiled(path)
    assert [j.shot_numbers for j in plan.jobs] == [[1], [2]]
    assert all(j.inputs <= 7 for j in plan.jobs)
    assert any("split into 2 jobs" in d.message and "reference inputs" in d.message
               for d in program.diagnostics)


def test_compiled_checks_run_in_check(project):
    path = write(project, 'model: kling-v3\ncharacter Mia:\n    description: "woman"\n'
                          '    images: "refs/front.png"\nscene "K":\n    Shot 1 (4s): @Mia pours tea.\n')
    assert "KLS308" in codes(check(path))


def test_scenes_with_front_end_errors_are_not_planned(project):
    path = write(project, 'scene "A":\n    Shot 1 (1.5s): x.\n    Shot 2 (2s): y.\n')
    program = check(path)
    assert "KLS301" in codes(program) and "KLS302" not in codes(program)


# -- endpoints, frames and elements --------------------------------------------------------------

def test_a_first_frame_goes_with_the_first_part(project):
    path = write(project, '''\
        multishot: text
        scene "Walk":
            first frame: "refs/start.png"
            Shot 1 (8s): She walks.
            Shot 2 (8s): She stops.
        ''')
    _, plan, out = compiled(path)
    one, two = out.plan["jobs"]
    assert one["endpoint"] == "/v1/videos/image2video" and two["endpoint"] == "/v1/videos/text2video"
    assert one["request"]["image"] == "file:refs/start.png" and "image_tail" not in one["request"]
    assert "image" not in two["request"] and "image_tail" not in two["request"]


def test_a_scene_with_a_last_frame_is_one_job(project):
    # Split, its last job would have the last frame without the first, which Kling refuses
    # (profile [frames] last_alone): the planner never proposes that split.
    path = write(project, '''\
        multishot: text
        scene "Walk":
            first frame: "refs/start.png"
            last frame: "refs/end.png"
            Shot 1 (8s): She walks.
            Shot 2 (8s): She stops.
        ''')
    c = check(path)
    (d,) = [d for d in c.diagnostics if d.severity is Severity.ERROR]
    assert d.code == "KLS308" and "must be one job" in d.message
    assert not c.plan.jobs


def test_omni_frames_and_elements(project):
    path = write(project, '''\
        model: kling-v3-omni
        character Alex:
            description: "man in a green hoodie"
            images: "refs/front.png", "refs/side.png"
        location Room:
            description: "small room"
            images: "refs/room.png"
        character Sam:
            description: "tall bearded man"
        scene "In" at @Room:
            first frame: "refs/start.png"
            Shot 1 (5s): @Alex greets @Sam.
                @Sam (dry): "Hi."
        scene "Out":
            Shot 1 (4s): Empty street.
        ''')
    _, plan, out = compiled(path)
    first, second = out.plan["jobs"]
    request = first["request"]
    assert first["endpoint"] == "/v1/videos/omni-video"
    assert request["element_list"] == [{"element_id": "element:Alex"}]
    assert request["image_list"] == [{"image_url": "file:refs/room.png"},
                                     {"image_url": "file:refs/start.png", "type": "first_frame"}]
    assert "aspect_ratio" not in request
    assert "<<<element_1>>> greets Sam." in request["prompt"]
    assert "Location: <<<image_1>>>, small room." in request["prompt"]   # one image: described
    assert "Sam — tall bearded man; voice" not in request["prompt"]   # Sam has no voice
    assert "Sam — tall bearded man." in request["prompt"]    # a cast line is not shaped like dialogue
    assert "Sam:" not in request["prompt"]
    assert 'Sam (dry, English): "Hi."' in request["prompt"]
    (element,) = out.plan["elements"]
    assert element["name"] == "Alex" and first["depends_on"] == [element["id"]]
    assert element["request"]["external_task_id"] == element["id"]
    assert first["elements"] == ["Room", "Alex", "Sam"]
    # kling-v3-omni is served by omni-video only, even without images
    assert second["endpoint"] == "/v1/videos/omni-video" and second["depends_on"] == []
    assert second["request"]["aspect_ratio"] == "16:9"
    web = plan.jobs[0].web
    assert "@Alex greets Sam." in web and "Location: @Room, small room." in web and "<<<" not in web


def test_kling_v3_endpoints(project):
    path = write(project, 'scene "A":\n    Shot 1 (4s): Rain.\n')
    _, _, out = compiled(path)
    (job,) = out.plan["jobs"]
    assert job["endpoint"] == "/v1/videos/text2video"
    r = job["request"]
    assert (r["model_name"], r["mode"], r["sound"], r["aspect_ratio"], r["duration"]) == \
        ("kling-v3", "std", "on", "16:9", "4")


def test_settings_reach_the_request(project):
    path = write(project, '''\
        resolution: 1080p
        aspect: 9:16
        audio: off
        negative: "blur, text"
        scene "A":
            Shot 1 (4s): Rain.
        scene "B":
            resolution: 720p
            Shot 1 (4s): Sun.
        ''')
    _, _, out = compiled(path)
    a, b = (j["request"] for j in out.plan["jobs"])
    assert (a["mode"], a["aspect_ratio"], a["sound"], a["negative_prompt"]) == ("pro", "9:16", "off", "blur, text")
    assert b["mode"] == "std"
    assert [j["credits"] for j in out.plan["jobs"]] == [4 * 8, 4 * 6]


# -- prompt text ----------------------------------------------------------------------------------

def test_dialogue_is_written_as_kling_writes_it():
    _, plan, _ = compiled(EXAMPLES / "truck_driver.kls")
    (job,) = plan.jobs
    texts = [p for _, p, _ in job.multi_prompt]
    assert 'Ray (muttering, tired, English): "Two hundred miles. Stay awake."' in texts[1]
    assert 'Ray (voice-over, tender, English): "Almost home, kiddo."' in texts[2]


def test_plain_renderer_writes_what_the_templates_write():
    """The planner measures prompts with PlainRenderer; the templates write them."""
    from klingscript.planner.scene import ScenePlanner

    count = 0
    for path in EXAMPLE_FILES:
        program = check(path)
        plan = getattr(program, "plan", None)
        if plan is None:
            continue
        for job in finish(plan, Renderer()).jobs:
            planner = ScenePlanner(job.scene, plan.production, PlainRenderer(), plan.pricing)
            i = job.shots[0].number - 1 if job.shots else 0
            j = job.shots[-1].number if job.shots else 0
            prompt, multi = planner.prompts(i, j, planner.refs("api", job.kling_elements, job.ref_images))
            assert (prompt, multi) == (job.prompt, job.multi_prompt)
            count += 1
    assert count >= 10


def test_templates_can_be_overridden(project, tmp_path):
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "_lines.j2").write_text((Path(__file__).parent.parent / "klingscript" / "templates" / "_lines.j2")
                                      .read_text(encoding="utf-8").replace("Ambient sound:", "AMBIENCE:"),
                                      encoding="utf-8")
    path = write(project, 'scene "A":\n    sound: "wind"\n    Shot 1 (4s): Rain.\n')
    plan = compile_script(path, templates=str(folder), emit=PROMPTS).plan
    assert "AMBIENCE: wind." in plan.jobs[0].prompt


# -- identity and cost -----------------------------------------------------------------------------

def test_job_id_is_the_hash_of_the_request(project):
    import hashlib

    _, _, out = compiled(EXAMPLES / "living_room.kls")
    for job in out.plan["jobs"]:
        body = {k: v for k, v in job["request"].items() if k != "external_task_id"}
        canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        assert job["id"] == hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:12]
        assert job["id"] == content_id(job["request"]) == job["request"]["external_task_id"]


def test_editing_one_scene_changes_only_its_job_ids(project):
    text = textwrap.dedent('''\
        scene "A":
            Shot 1 (4s): Rain on the window.
        scene "B":
            Shot 1 (9s): A car passes.
            Shot 2 (9s): It stops.
        scene "C":
            Shot 1 (4s): Sun.
        ''')
    before = compiled(write(project, text))[2].plan["jobs"]
    after = compiled(write(project, text.replace("It stops.", "It stops at the lights.")))[2].plan["jobs"]
    changed = [(a["scene"], a["part"]) for a, b in zip(before, after) if a["id"] != b["id"]]
    assert changed == [(2, 2)]


def test_cost_uses_the_pricing_data(project, tmp_path):
    pricing = tmp_path / "pricing.toml"
    pricing.write_text('[per_second."720p"]\nsilent = 1\naudio = 2.5\n[per_second."1080p"]\nsilent = 3\naudio = 4\n',
                       encoding="utf-8")
    path = write(project, 'scene "A":\n    Shot 1 (4s): Rain.\n')
    default = compile_script(path, emit=OUTPUTS).output.plan
    assert default["totals"]["credits"] == 4 * load_pricing()["per_second"]["720p"]["audio"]
    mine = compile_script(path, pricing=str(pricing), emit=OUTPUTS).output.plan
    assert mine["totals"] == {"jobs": 1, "duration": 4, "credits": 10}
    assert mine["scenes"] == [{"scene": 1, "title": "A", "jobs": 1, "duration": 4, "credits": 10}]

"""The requests of each API generation (issue 9): `api: current | legacy` and --api, Kling's
shot form, Kling cutting prose, `negative:` where there is no field for it (KLS407), 4k,
the callback option, and costs in units and US dollars."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st

from klingscript.cli import main
from klingscript.compiler import OUTPUTS, compile_script


@pytest.fixture
def project(tmp_path):
    from PIL import Image

    (tmp_path / "refs").mkdir()
    for name in ("front", "side", "room"):
        Image.new("RGB", (400, 400), (100, 100, 100)).save(tmp_path / "refs" / f"{name}.png")
    return tmp_path


def build(project: Path, text: str, **options):
    path = project / "film.kls"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    c = compile_script(path, emit=OUTPUTS, **options)
    assert c.ok, c.diagnostics
    return c


def requests(c) -> list[dict]:
    return [j["request"] for j in c.output.plan["jobs"]]


SHOTS = textwrap.dedent('''\
    scene "Rain":
        Shot 1 (4s): Rain on the window; a cat watches.
        Shot 2 (3s): The cat yawns.
    ''')


def test_the_default_is_current_and_api_legacy_or_the_option_chooses(project):
    c = build(project, SHOTS)
    assert c.output.plan["api"] == "current"
    assert c.output.plan["jobs"][0]["endpoint"] == "/text-to-video/kling-3.0"
    c = build(project, "api: legacy\n" + SHOTS)
    assert c.output.plan["api"] == "legacy" and c.output.plan["jobs"][0]["endpoint"] == "/v1/videos/text2video"
    c = build(project, "api: legacy\n" + SHOTS, api="current")
    assert c.output.plan["api"] == "current"


def test_structured_shots_are_klings_shot_form(project):
    (request,) = requests(build(project, SHOTS))
    assert request["prompt"] == "shot 1, 4, Rain on the window, a cat watches.; shot 2, 3, The cat yawns.;"
    assert request["settings"] == {"multi_shot": True, "audio": "native", "resolution": "720p",
                                   "aspect_ratio": "16:9", "duration": 7}
    assert request["options"] == {"external_task_id": build(project, SHOTS).output.plan["jobs"][0]["id"]}
    # multishot: text is the same request on the current generation
    (text,) = requests(build(project, "multishot: text\n" + SHOTS))
    assert text == request


def test_kling_cuts_a_scene_without_shots_and_one_shot_is_one_shot(project):
    prose = 'scene "Prose" (6s):\n    The rain stops and the sun comes out.\nscene "One":\n    Shot 1 (4s): A door.\n'
    current = requests(build(project, prose))
    assert current[0]["settings"]["multi_shot"] is True
    assert current[0]["prompt"] == "The rain stops and the sun comes out."
    assert current[1]["settings"]["multi_shot"] is False
    legacy = requests(build(project, prose, api="legacy"))
    assert (legacy[0]["multi_shot"], legacy[0]["shot_type"]) == (True, "intelligence")
    assert legacy[0]["prompt"] == "The rain stops and the sun comes out."
    assert "multi_shot" not in legacy[1]
    # multishot: text on legacy: Kling cuts its Shot N (Ds): lines
    (text,) = requests(build(project, "multishot: text\n" + SHOTS, api="legacy"))
    assert (text["multi_shot"], text["shot_type"]) == (True, "intelligence")
    assert text["prompt"].startswith("Shot 1 (4s): Rain on the window; a cat watches.\nShot 2 (3s):")


OMNI = textwrap.dedent('''\
    model: kling-v3-omni
    negative: "text, watermark"
    character Mara:
        description: "woman in a green coat"
        images: "refs/front.png", "refs/side.png"
    location Room:
        description: "small kitchen"
        images: "refs/room.png"
    scene "Talk" at @Room:
        Shot 1 (3s): @Mara sits down.
        Shot 2 (3s): @Mara smiles.
    ''')


def test_current_omni_names_its_inputs_and_carries_the_negative_in_the_prompt(project):
    c = build(project, OMNI)
    (request,) = requests(c)
    prompt, *inputs = request["contents"]
    assert inputs == [{"type": "refer_image", "url": "file:refs/room.png", "id": "Room"},
                      {"type": "element", "element_id": "element:Mara", "id": "Mara"}]
    text = prompt["text"]
    assert text.startswith("shot 1, 3, Location: @Room, small kitchen. @Mara sits down. Avoid")
    assert "Avoid: text, watermark.; shot 2, 3, @Mara smiles.;" in text and "<<<" not in text
    notes = [d for d in c.diagnostics if d.code == "KLS407"]
    assert len(notes) == 1 and "Avoid: text, watermark." in notes[0].message


def test_negative_is_a_field_only_on_legacy_text_and_image_to_video(project):
    c = build(project, 'negative: "text"\n' + SHOTS, api="legacy")
    (request,) = requests(c)
    assert request["negative_prompt"] == "text"
    assert not any(d.code == "KLS407" for d in c.diagnostics)
    c = build(project, OMNI, api="legacy")
    (request,) = requests(c)
    assert "negative_prompt" not in request
    assert request["multi_prompt"][0]["prompt"].endswith("\nAvoid: text, watermark.")
    assert [d.code for d in c.diagnostics if d.code == "KLS407"] == ["KLS407"]
    from klingscript.backends.rules import validate_request

    assert "negative_prompt: not a field of omni-video" in validate_request(
        "/v1/videos/omni-video", {**request, "negative_prompt": "text"})


def test_api_is_a_document_setting(project):
    path = project / "film.kls"
    path.write_text('api: newest\nscene "A":\n    api: legacy\n    Shot 1 (4s): A door.\n', encoding="utf-8")
    c = compile_script(path)
    found = {(d.code, d.span.line) for d in c.diagnostics}
    assert ("KLS104", 1) in found and ("KLS103", 3) in found


def test_4k_where_the_profile_allows_it(project):
    text = "resolution: 4k\n" + SHOTS
    (current,) = requests(build(project, text))
    assert current["settings"]["resolution"] == "4k"
    c = build(project, text, api="legacy")
    (legacy,) = requests(c)
    assert legacy["mode"] == "4k"
    # Kling 3.0 at 4k: 3.0 units ($0.42) a second
    assert c.output.plan["jobs"][0]["cost"] == {"units": 21, "usd": 2.94, "credits": 210}


def test_callback_url_is_klings_option_and_keeps_the_job_ids(project):
    plain = build(project, SHOTS).output.plan["jobs"][0]
    c = build(project, SHOTS, callback_url="https://example.test/hook")
    job = c.output.plan["jobs"][0]
    assert job["id"] == plain["id"]
    assert job["request"]["options"] == {"external_task_id": job["id"], "callback_url": "https://example.test/hook"}
    legacy = build(project, SHOTS, api="legacy", callback_url="https://example.test/hook")
    assert requests(legacy)[0]["callback_url"] == "https://example.test/hook"
    # the runtime puts the option in the same place (runtime/generations.set_job_options)
    from klingscript.runtime.generations import set_job_options

    body = {"prompt": "x", "settings": {}}
    set_job_options(job["endpoint"], body, job["id"], "https://example.test/hook")
    assert body["options"] == job["request"]["options"]


def test_build_callback_option_on_the_command_line(project, monkeypatch, capsys):
    (project / "film.kls").write_text(SHOTS, encoding="utf-8")
    monkeypatch.chdir(project)
    assert main(["build", "film.kls", "-o", "out", "--callback-url", "https://example.test/h"]) == 0
    plan = json.loads((project / "out" / "plan.json").read_text(encoding="utf-8"))
    assert plan["jobs"][0]["request"]["options"]["callback_url"] == "https://example.test/h"
    assert main(["build", "film.kls", "-o", "out"]) == 0       # not the shortcut of the build before
    plan = json.loads((project / "out" / "plan.json").read_text(encoding="utf-8"))
    assert "callback_url" not in plan["jobs"][0]["request"]["options"]
    assert main(["build", "film.kls", "-o", "out", "--api", "legacy"]) == 0
    plan = json.loads((project / "out" / "plan.json").read_text(encoding="utf-8"))
    assert plan["api"] == "legacy"


def test_units_and_dollars_from_klings_table(project):
    from klingscript.planner.pricing import load_pricing, units_rate

    p = load_pricing()
    assert p["units"]["as_of"] and p["credits_are_estimates"] is True
    # Omni with native audio is cheaper than Kling 3.0's (0.8 against 0.9 units at 720p)
    assert units_rate(p, "kling-v3-omni", "720p", "on") == 0.8 < units_rate(p, "kling-v3", "720p", "on") == 0.9
    c = build(project, OMNI)
    plan = c.output.plan
    assert plan["jobs"][0]["cost"] == {"units": 4.8, "usd": 0.672, "credits": 54}
    assert plan["elements"][0]["cost"] == {"units": 0, "usd": 0}
    assert plan["totals"]["units"] == 4.8 and plan["pricing"]["credits"] == "estimate"


def test_a_voice_sample_is_priced_as_a_custom_voice():
    from types import SimpleNamespace

    from klingscript.backends.emit import _element_costs
    from klingscript.planner.pricing import load_pricing

    entry: dict = {}
    _element_costs(entry, SimpleNamespace(voice_sample="voices/mara.wav", voice_id=None), load_pricing())
    assert entry["voice_cost"] == {"units": 0.05, "usd": 0.007}
    entry = {}
    _element_costs(entry, SimpleNamespace(voice_sample=None, voice_id="v1"), load_pricing())
    assert "voice_cost" not in entry


def test_the_simulator_bills_what_the_plan_estimates(project, tmp_path):
    from runtime_support import ACCESS, API_KEY, SECRET, api_key_credentials, render_with

    from klingscript.runtime import ledger as L
    from klingscript.runtime.simulator import Simulator

    def simulator():
        return Simulator(access_key=ACCESS, secret_key=SECRET, api_key=API_KEY, latency=0.08, seed=5,
                         clips="card")

    c = build(project, OMNI)
    with simulator() as sim:
        result = render_with(c.output.plan, project, project, sim, tmp_path / "out", api_key_credentials(),
                             assemble=False)
    assert result.code == 0
    with L.Ledger.open_readonly(tmp_path / "out") as ledger:
        job = next(e for e in ledger.entries() if e.kind == "job")
    assert job.charged == pytest.approx(c.output.plan["jobs"][0]["cost"]["units"])


# -- the planner measures what is sent ---------------------------------------------------------

def _long_shots(count: int, chars: int, seconds: int = 2) -> str:
    words = ("rain falls on the quiet street while the neon signs flicker " * 20)[:chars].rsplit(" ", 1)[0]
    return "".join(f"    Shot {k} ({seconds}s): {words}.\n" for k in range(1, count + 1))


def _shots_of(c) -> list[list[int]]:
    return [job["shots"] for job in c.output.plan["jobs"]]


def test_the_whole_shot_form_prompt_is_measured(project):
    """Six shots of about 500 characters fit 512 each, but on the current generation they are
    one `shot n, m, words;` prompt, over 3,072 characters: the planner splits them there (and
    every request passes Kling's rules); on legacy they are multi_prompt items, one job."""
    script = 'scene "Street":\n' + _long_shots(6, 510)
    current = build(project, script)
    assert len(current.output.plan["jobs"]) == 2, _shots_of(current)
    for request in requests(current):
        assert len(request["prompt"]) <= 3072
    legacy = build(project, "api: legacy\n" + script)
    assert len(legacy.output.plan["jobs"]) == 1


def test_the_avoid_line_of_negative_is_measured(project):
    """`negative:` goes into the first shot's words on the current generation: a first shot
    that fits 512 characters alone but not with its `Avoid:` line is not put first in a
    structured job (here: each shot a job of its own). On legacy text to video the negative is
    Kling's negative_prompt field, so the shots stay one job."""
    script = ('negative: "blurry faces, text on screen, watermarks, extra limbs"\n'
              'scene "Street":\n' + _long_shots(2, 480, seconds=3))
    current = build(project, script)
    assert len(current.output.plan["jobs"]) == 2
    legacy = build(project, "api: legacy\n" + script)
    assert len(legacy.output.plan["jobs"]) == 1
    assert "negative_prompt" in requests(legacy)[0]


def test_a_first_frame_is_kept_off_structured_shots(project):
    """A frame does not go with structured multi-shot (the profile's rule): the planner makes the
    first frame's shot a job of its own instead of reporting KLS308 after planning."""
    script = textwrap.dedent('''\
        scene "Door":
            first frame: "refs/room.png"
            Shot 1 (3s): A door opens.
            Shot 2 (3s): A dog runs in.
            Shot 3 (3s): The dog sits.
        ''')
    for api in ("current", "legacy"):
        c = build(project, f"api: {api}\n" + script)
        assert _shots_of(c) == [[1], [2, 3]], api
        notes = [d.message for d in c.diagnostics if d.code == "KLS404"]
        assert notes and "the first frame's shot is a job of its own" in notes[0]


def test_the_render_summary_shows_units_and_usd(project):
    """`klingc render`'s closing summary reports spending as `klingc cost` shows costs: units and
    US dollars, credits marked as an estimate."""
    from klingscript.commands.render import _summary
    from klingscript.runtime.render import Outcome, Result

    script = SHOTS + textwrap.dedent('''\
        scene "Sun":
            Shot 1 (5s): Sun through the blinds.
        ''')
    plan = build(project, script).output.plan
    first, second = plan["jobs"]
    result = Result(0, [Outcome(first["id"], "scene 1", "done", credits=first["credits"], seconds=7,
                                spent_now=True),
                        Outcome(second["id"], "scene 2", "failed", credits=second["credits"], seconds=5)])
    text = _summary(result, project / "out", plan, lambda s: s)
    c1, c2 = first["cost"], second["cost"]
    assert (f"spent by this render: {c1['units']} units (${c1['usd']:.2f}), ~{c1['credits']} credits "
            f"(estimate); the whole film so far: {c1['units']} of {c1['units'] + c2['units']} units "
            f"(${c1['usd']:.2f} of ${c1['usd'] + c2['usd']:.2f}), ~{c1['credits']} of "
            f"{c1['credits'] + c2['credits']} credits (estimate)") in text, text


NAMES = textwrap.dedent('''\
    model: kling-v3-omni
    character Mara:
        description: "woman in a green coat"
        images: "refs/front.png", "refs/side.png"
    character MaraLee:
        description: "her sister"
        images: "refs/front.png", "refs/side.png"
    location Room:
        description: "small kitchen"
        images: "refs/room.png"
    scene "Talk" at @Room:
        Shot 1 (3s): @Mara sits down.
            @Mara (calm, English): "Mail me at mara@room.org."
    scene "Apart":
        Shot 1 (3s): @MaraLee waits alone.
    scene "Sisters":
        Shot 1 (3s): @MaraLee hugs @Mara.
    ''')


def test_element_names_kling_may_confuse(project):
    """KLS408 on the current generation (inputs named @Name): names part of each other in one
    job, and an input's @name in the prompt's other text; not on legacy (<<<element_k>>>), not
    for names in different jobs, not for a name said as a plain word."""
    c = build(project, NAMES)
    found = sorted(d.message.split(";")[0] for d in c.diagnostics if d.code == "KLS408")
    assert found == ['scene "Sisters": the element name @Mara is part of @MaraLee',
                     'scene "Talk": the prompt has "mara@room.org", which Kling may read as the input @Room']
    legacy = build(project, "api: legacy\n" + NAMES)
    assert not [d for d in legacy.diagnostics if d.code == "KLS408"]


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from([" ", "\t", "\n", "\r", "\x0b", "\x0c", "\x1c", "\x1f", "\x85", "\xa0",
                                          "\u2000", "\u2028", "\u3000", "\u200b", "\ufeff", ";", "a", "é", "@"]),
               max_size=40))
def test_a_shot_s_words_are_one_line_with_every_whitespace_run_one_space(text):
    """Kling's shot form ``shot n, m, words;``: the words have no ``;`` and no line break, and
    every run of whitespace (as Python's ``\\s`` takes it) is one space, none at either end."""
    import re

    from klingscript.backends.api import shot_words

    assert shot_words(text) == re.sub(r"\s+", " ", text.replace(";", ",")).strip()

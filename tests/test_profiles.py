"""Each limit of a model is written once, in its profile, and every consumer follows it.

A test copies the built-in profiles into a temporary folder, changes one limit
there, points klingc at the copy (``KLINGSCRIPT_PROFILES``) and sees the checks,
the request models, the API rules, the simulator, the language server and the
planner all obey the new figure."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import httpx
import pytest
from pydantic import ValidationError

sys.path.insert(0, str(Path(__file__).resolve().parent))
from runtime_support import ACCESS, API_KEY, SECRET, token  # noqa: E402

from klingscript.backends import requests as R  # noqa: E402
from klingscript.backends.rules import validate_request  # noqa: E402
from klingscript.compiler import check  # noqa: E402
from klingscript.lsp import analysis  # noqa: E402
from klingscript.model import profiles  # noqa: E402
from klingscript.resources import data_path  # noqa: E402
from klingscript.runtime.simulator import Simulator  # noqa: E402

ELEMENT = {"element_name": "Abcdefghijklm", "element_description": "a tall man in a grey coat",
           "reference_type": "image_refer",
           "element_image_list": {"frontal_image": "https://x/a.png",
                                  "refer_images": [{"image_url": "https://x/b.png"}]}}
T2V = {"model_name": "kling-v3", "prompt": "A dog runs.", "duration": "12", "mode": "std",
       "sound": "off", "aspect_ratio": "16:9"}
OMNI = {"model_name": "kling-v3-omni", "prompt": "<<<image_1>>> and <<<image_2>>> by a window.",
        "duration": "5", "mode": "std", "sound": "off", "aspect_ratio": "16:9",
        "image_list": [{"image_url": "https://x/a.png"}, {"image_url": "https://x/b.png"},
                       {"image_url": "https://x/c.png"}]}

NAME_SCRIPT = 'character Abcdefghijklm:\n    description: "a tall man"\n\nscene "S":\n    @Abcdefghijklm waits.\n'
JOB_SCRIPT = 'scene "S":\n    Shot 1 (6s): A door opens.\n    Shot 2 (6s): A dog runs in.\n'
SHOT_SCRIPT = 'scene "S":\n    Shot 1 (12s): A long look at the sea.\n'


@pytest.fixture
def changed(tmp_path, monkeypatch):
    """``changed(name, old, new)``: klingc reads profiles from a copy in which profile ``name``
    has the line ``old`` replaced with ``new``."""
    folder = tmp_path / "profiles"
    shutil.copytree(data_path("profiles"), folder)
    monkeypatch.setenv(profiles.ENV, str(folder))
    monkeypatch.setenv("KLINGSCRIPT_NO_CACHE", "1")

    def change(name: str, old: str, new: str) -> None:
        path = folder / f"{name}.toml"
        text = path.read_text(encoding="utf-8")
        assert text.count(old) == 1, f"{old!r} is not one line of {path.name}"
        path.write_text(text.replace(old, new), encoding="utf-8")
    return change


def run(tmp_path: Path, text: str):
    main = tmp_path / "main.kls"
    main.write_text(text, encoding="utf-8")
    return check(main)


def messages(program, code: str) -> list[str]:
    return [d.message for d in program.diagnostics if d.code == code]


def simulator_says(endpoint: str, body: dict):
    with Simulator(latency=0.05, access_key=ACCESS, secret_key=SECRET) as sim, \
            httpx.Client(base_url=sim.url, headers={"Authorization": f"Bearer {token()}"}, timeout=10) as http:
        r = http.post(endpoint, json=body)
        return r.status_code, r.json()


def model_refuses(model, body) -> bool:
    try:
        model.model_validate(body)
    except ValidationError:
        return True
    return False


# -- the built-in profiles accept what the tests below change ---------------------------------------

def test_the_unchanged_profiles_accept_these_inputs(tmp_path):
    assert messages(run(tmp_path, NAME_SCRIPT), "KLS307") == []
    assert validate_request("advanced-custom-elements", ELEMENT) == []
    assert not model_refuses(R.ElementRequest, ELEMENT)
    assert analysis.check_new_name(run(tmp_path, NAME_SCRIPT).program, "Abcdefghijklm", "Abcdefghijklmn") is None
    assert validate_request("text2video", T2V) == []
    assert not model_refuses(R.Text2VideoRequest, T2V)
    assert validate_request("omni-video", OMNI) == []
    assert not model_refuses(R.OmniVideoRequest, OMNI)
    assert validate_request("/text-to-video/kling-3.0", CURRENT_T2V) == []
    assert messages(run(tmp_path, SHOT_SCRIPT), "KLS301") == []
    assert len(run(tmp_path, JOB_SCRIPT).plan.jobs) == 1


# -- one limit changed, every consumer follows -------------------------------------------------------

def test_element_name_limit(tmp_path, changed):
    changed("kling-v3", "name_max_chars = 20", "name_max_chars = 12")
    checked = run(tmp_path, NAME_SCRIPT)
    assert messages(checked, "KLS307") == [
        "the name Abcdefghijklm is 13 characters; Kling element names are at most 12"]
    assert analysis.check_new_name(checked.program, "Abcdefghijklm", "Abcdefghijkl") is None
    assert analysis.check_new_name(checked.program, "Abcdefghijklm", "Abcdefghijklm") == \
        "`Abcdefghijklm` is longer than 12 characters (Kling's limit for element names)"
    assert validate_request("advanced-custom-elements", ELEMENT) == [
        "element_name: 13 characters, over the 12 allowed"]
    assert model_refuses(R.ElementRequest, ELEMENT)
    status, answer = simulator_says("/v1/general/advanced-custom-elements", ELEMENT)
    assert status == 400 and answer["code"] == 1201
    assert "element_name: 13 characters, over the 12 allowed" in answer["message"]


def test_element_description_limit(tmp_path, changed):
    changed("kling-v3", "description_max_chars = 100", "description_max_chars = 8")
    program = run(tmp_path, NAME_SCRIPT)
    assert messages(program, "KLS307") == [
        "the description of Abcdefghijklm is 10 characters; Kling takes at most 8"]
    assert validate_request("advanced-custom-elements", ELEMENT) == [
        "element_description: 25 characters, over the 8 allowed"]


def test_job_and_shot_durations(tmp_path, changed):
    for name in ("kling-v3", "kling-v3-omni"):
        changed(name, "job_max = 15", "job_max = 10")
        changed(name, "shot_max = 15", "shot_max = 10")
    assert messages(run(tmp_path, SHOT_SCRIPT), "KLS301") == [
        "Shot 1 is 12s long; Kling 3.0 takes shots of 1 to 10 seconds"]
    plan = run(tmp_path, JOB_SCRIPT).plan
    assert [job.duration for job in plan.jobs] == [6, 6]          # 12s no longer fits one job
    assert validate_request("text2video", T2V) == ["duration: 12 is outside 3-10 seconds"]
    assert model_refuses(R.Text2VideoRequest, T2V)
    status, answer = simulator_says("/v1/videos/text2video", T2V)
    assert status == 400 and "duration: 12 is outside 3-10 seconds" in answer["message"]


def test_reference_inputs(tmp_path, changed):
    changed("kling-v3-omni", "max_inputs = 7", "max_inputs = 2")
    expected = "image_list, element_list: 3 reference inputs, over the 2 allowed"
    assert validate_request("omni-video", OMNI) == [expected]
    assert model_refuses(R.OmniVideoRequest, OMNI)
    status, answer = simulator_says("/v1/videos/omni-video", OMNI)
    assert status == 400 and expected in answer["message"]
    assert profiles.load("kling-v3-omni").max_inputs == 2     # what the planner reads


CURRENT_T2V = {"prompt": "shot 1, 2, A dog runs; shot 2, 3, " + "It stops and looks up at the sky. " * 4 + ";",
               "settings": {"duration": 5, "multi_shot": True, "resolution": "720p"}}


def test_current_generation_limits_are_the_profiles(tmp_path, changed):
    """The current generation's prompt length, shots per job and words per shot are read from
    the profiles (``[generations.current]``, ``[shots]``, ``[prompt]``): the API rules, the
    request models and the simulator follow a change there (nothing restates them)."""
    changed("kling-v3", "prompt_max_chars = 3072", "prompt_max_chars = 100")
    changed("kling-v3", "shot_max_chars = 512", "shot_max_chars = 80")
    changed("kling-v3", "per_job = 6", "per_job = 1")
    changed("kling-v3-omni", "max_inputs = 7", "max_inputs = 1")
    expected = ["prompt: 171 characters, over the 100 allowed",
                "prompt: 2 shots, over the 1 allowed",
                "prompt: shot 2 has 135 characters, over the 80 allowed"]
    assert validate_request("/text-to-video/kling-3.0", CURRENT_T2V) == expected
    assert profiles.load("kling-v3", profiles.CURRENT).prompt_max == 100   # what the planner reads
    with Simulator(latency=0.05, api_key=API_KEY) as sim, \
            httpx.Client(base_url=sim.url, headers={"Authorization": f"Bearer {API_KEY}"}, timeout=10) as http:
        r = http.post("/text-to-video/kling-3.0", json=CURRENT_T2V)
    assert r.status_code == 400 and all(e in r.json()["message"] for e in expected)
    # the omni model's own profile for omni-video
    omni = {"contents": [{"type": "prompt", "text": "@A and @B by a window."},
                         {"type": "refer_image", "url": "https://x/a.png", "id": "A"},
                         {"type": "refer_image", "url": "https://x/b.png", "id": "B"}],
            "settings": {"aspect_ratio": "16:9"}}
    assert validate_request("/omni-video/kling-3.0-omni", omni) == [
        "contents: 2 reference images and elements, over the 1 allowed"]


def test_speech_languages(tmp_path, changed):
    changed("kling-v3", '"Korean", "Spanish"]', '"Korean"]')
    program = run(tmp_path, 'language: Spanish\n\nscene "S":\n    Shot 1 (3s): Rain.\n')
    assert messages(program, "KLS304") == [
        "Spanish is not a language Kling 3.0 speaks (it speaks Chinese, English, Japanese and Korean)"]


# -- a profile that does not give a limit is refused, naming it ------------------------------------

@pytest.mark.parametrize("old,new,message", [
    ("name_max_chars = 20\n", "", "[element] has no `name_max_chars`"),
    ("name_max_chars = 20", "name_max_chars = \"20\"", "[element] `name_max_chars` must be a whole number"),
    ("name_max_chars = 20", "name_max_char = 20", "[element] has an unknown key `name_max_char`"),
    ("job_max = 15", "job_max = 0", "[duration] needs 1 <= shot_min <= shot_max <= job_max"),
])
def test_a_broken_profile_is_named(changed, old, new, message):
    changed("kling-v3", old, new)
    with pytest.raises(profiles.ProfileError) as e:
        profiles.load("kling-v3")
    assert "kling-v3.toml" in str(e.value) and message in str(e.value)


def test_profiles_cite_a_source_for_every_table():
    for name in profiles.available():
        p = profiles.load(name)
        for table in ("endpoints", "duration", "shots", "prompt", "references", "frames", "images",
                      "output", "speech", "element"):
            assert getattr(p, table).source.strip(), f"{name}: [{table}] has no source"

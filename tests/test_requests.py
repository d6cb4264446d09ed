"""API requests: built through the pydantic models (the schema of what klingc sends), and
checked by the API's rules (``backends/rules.py``), which the models call too."""

from __future__ import annotations

import copy
import re

import pytest

from conftest import EXAMPLES
from klingscript.model import profiles
from klingscript.backends import requests as R
from klingscript.backends.emit import finish, plan_json
from klingscript.backends.prompts import Renderer
from klingscript.backends.rules import validate_request
from klingscript.backends import current as C
from klingscript.compiler import check, compile_script

EXAMPLE_FILES = sorted(EXAMPLES.glob("*.kls")) + sorted((EXAMPLES / "series").glob("*.kls"))
MODELS = {"/v1/videos/text2video": R.Text2VideoRequest, "/v1/videos/image2video": R.Image2VideoRequest,
          "/v1/videos/omni-video": R.OmniVideoRequest}


CURRENT_MODELS = {"/text-to-video/kling-3.0": C.TextToVideo, "/image-to-video/kling-3.0": C.ImageToVideo,
                  "/omni-video/kling-3.0-omni": C.OmniVideo}


def built(path, api=None):
    checked = check(path) if api is None else compile_script(path, api=api)
    if checked.plan is None:
        return checked.program, None
    plan = finish(checked.plan, Renderer())
    return checked.program, plan_json(plan)


@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=lambda p: p.relative_to(EXAMPLES).as_posix())
def test_every_example_request_follows_the_current_api_rules(path):
    program, out = built(path)
    if out is None:
        assert not program.main.doc.scenes if program else True
        return
    assert out.problems == [] and out.plan["api"] == "current"
    names = set(program.elements)
    for job in out.plan["jobs"]:
        request = job["request"]
        assert validate_request(job["endpoint"], request) == []
        CURRENT_MODELS[job["endpoint"]].model_validate(request, context={"endpoint": job["endpoint"]})
        assert request["options"]["external_task_id"] == job["id"]
        text = request.get("prompt") or request["contents"][0]["text"]
        ids = {c["id"] for c in request.get("contents", []) if "id" in c}
        # Every input is named @<id>, and every @Name left is an input (or an element without images).
        for m in re.findall(r"@(\w+)", text):
            assert m in ids or (m in names and not program.elements[m].images) or m not in names, m
        assert ids <= set(re.findall(r"@(\w+)", text))
        assert isinstance(request["settings"]["duration"], int)
        if len(job["shots"]) > 1:
            assert request["settings"]["multi_shot"] is True and text.startswith("shot 1, ")
            durations = [int(d) for d in re.findall(r"shot \d+, (\d+), ", text)]
            assert sum(durations) == job["duration"] and len(durations) == len(job["shots"])
        else:
            assert request["settings"]["multi_shot"] is (not job["shots"])


@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=lambda p: p.relative_to(EXAMPLES).as_posix())
def test_every_example_request_follows_the_legacy_api_rules(path):
    program, out = built(path, "legacy")
    if out is None:
        assert not program.main.doc.scenes if program else True
        return
    assert out.problems == []
    names = set(program.elements)
    for job in out.plan["jobs"]:
        request = job["request"]
        profile = profiles.load(request["model_name"])
        assert validate_request(job["endpoint"], request, profile) == []
        assert validate_request(job["endpoint"], request) == []          # profile found by model_name
        MODELS[job["endpoint"]].model_validate(request, context={"profile": profile})
        assert request["external_task_id"] == job["id"]
        texts = [request.get("prompt", "")] + [p["prompt"] for p in request.get("multi_prompt", [])]
        for text in texts:
            left = {m for m in re.findall(r"@(\w+)", text) if m in names}
            assert not left, f"declared @Name left in an API prompt: {left}"
        if request.get("shot_type") == "intelligence":   # Kling cuts a scene without shots itself
            assert not job["shots"] and request["prompt"]
        elif request.get("multi_shot"):
            assert request["shot_type"] == "customize"
            assert [p["index"] for p in request["multi_prompt"]] == list(range(1, len(request["multi_prompt"]) + 1))
            assert all(isinstance(p["duration"], str) for p in request["multi_prompt"])
            assert sum(int(p["duration"]) for p in request["multi_prompt"]) == int(request["duration"])
        assert isinstance(request["duration"], str)
    for el in out.plan["elements"]:
        assert validate_request(el["endpoint"], el["request"], profiles.load("kling-v3-omni")) == []
        R.ElementRequest.model_validate(el["request"])


# -- the rules checker finds what is wrong, and names the field -------------------------------

GOOD_T2V = {"model_name": "kling-v3", "prompt": "A cat on a roof.", "duration": "5", "mode": "std",
            "sound": "on", "aspect_ratio": "16:9"}
GOOD_MULTI = {"model_name": "kling-v3", "duration": "7", "mode": "pro", "sound": "off", "aspect_ratio": "9:16",
              "multi_shot": True, "shot_type": "customize",
              "multi_prompt": [{"index": 1, "prompt": "A door opens.", "duration": "3"},
                               {"index": 2, "prompt": "A dog runs in.", "duration": "4"}]}
GOOD_OMNI = {"model_name": "kling-v3-omni", "prompt": "<<<element_1>>> waves at <<<image_1>>>.",
             "duration": "5", "mode": "pro", "sound": "on", "aspect_ratio": "16:9",
             "element_list": [{"element_id": "element:Alex"}], "image_list": [{"image_url": "file:refs/a.png"}]}
GOOD_I2V = {"model_name": "kling-v3", "prompt": "She smiles.", "duration": "5", "mode": "std", "sound": "on",
            "image": "file:frames/a.png"}
GOOD_ELEMENT = {"element_name": "Alex", "element_description": "man in a green hoodie",
                "reference_type": "image_refer",
                "element_image_list": {"frontal_image": "file:refs/a.png",
                                       "refer_images": [{"image_url": "file:refs/b.png"}]},
                "tag_list": [{"tag_id": "o_102"}]}


@pytest.mark.parametrize("endpoint,body", [
    ("/v1/videos/text2video", GOOD_T2V), ("text2video", GOOD_MULTI), ("/v1/videos/omni-video", GOOD_OMNI),
    ("omni-video", GOOD_OMNI), ("/v1/videos/image2video", GOOD_I2V),
    ("/v1/general/advanced-custom-elements", GOOD_ELEMENT)])
def test_good_requests_pass(endpoint, body):
    assert validate_request(endpoint, body) == []


def _with(body, **changes):
    out = copy.deepcopy(body)
    for k, v in changes.items():
        if v is None:
            out.pop(k, None)
        else:
            out[k] = v
    return out


BAD = [
    ("text2video", _with(GOOD_T2V, duration=5), "duration"),
    ("text2video", _with(GOOD_T2V, duration="16"), "duration"),
    ("text2video", _with(GOOD_T2V, duration="2"), "duration"),
    ("text2video", _with(GOOD_T2V, mode="high"), "mode"),
    ("text2video", _with(GOOD_T2V, sound="yes"), "sound"),
    ("text2video", _with(GOOD_T2V, aspect_ratio="4:3"), "aspect_ratio"),
    ("text2video", _with(GOOD_T2V, prompt="x" * 2501), "prompt"),
    ("text2video", _with(GOOD_T2V, prompt=""), "prompt"),
    ("text2video", _with(GOOD_T2V, negative_prompt="x" * 2501), "negative_prompt"),
    ("text2video", _with(GOOD_T2V, colour="red"), "colour"),
    ("text2video", _with(GOOD_T2V, model_name="kling-v3-omni"), "model_name"),
    ("text2video", _with(GOOD_T2V, multi_prompt=[{"index": 1, "prompt": "x", "duration": "5"}]), "multi_prompt"),
    ("text2video", _with(GOOD_MULTI, shot_type=None), "shot_type"),
    ("text2video", _with(GOOD_MULTI, multi_prompt=None), "multi_prompt"),
    ("text2video", _with(GOOD_MULTI, duration="8"), "multi_prompt"),
    ("text2video", _with(GOOD_MULTI, multi_prompt=[{"index": 0, "prompt": "a", "duration": "3"},
                                                   {"index": 1, "prompt": "b", "duration": "4"}]), "index"),
    ("text2video", _with(GOOD_MULTI, multi_prompt=[{"index": 1, "prompt": "a", "duration": 3},
                                                   {"index": 2, "prompt": "b", "duration": "4"}]), "duration"),
    ("text2video", _with(GOOD_MULTI, multi_prompt=[{"index": 1, "prompt": "a" * 513, "duration": "3"},
                                                   {"index": 2, "prompt": "b", "duration": "4"}]), "prompt"),
    ("text2video", _with(GOOD_MULTI, duration="7", multi_prompt=[
        {"index": i, "prompt": "a", "duration": "1"} for i in range(1, 8)]), "multi_prompt"),
    ("text2video", _with(GOOD_MULTI, multi_prompt=[{"index": 1, "prompt": "a", "duration": "0"},
                                                   {"index": 2, "prompt": "b", "duration": "7"}]), "duration"),
    ("image2video", _with(GOOD_I2V, image=None), "image"),
    ("image2video", _with(GOOD_I2V, image_tail="file:b.png", multi_shot=True, shot_type="customize",
                          prompt=None, multi_prompt=[{"index": 1, "prompt": "a", "duration": "5"}]), "image_tail"),
    ("omni-video", _with(GOOD_OMNI, prompt="<<<element_2>>> waves."), "<<<element_2>>>"),
    ("omni-video", _with(GOOD_OMNI, prompt="<<<image_3>>> waves."), "<<<image_3>>>"),
    ("omni-video", _with(GOOD_OMNI, image_list=[{"image_url": f"file:{i}.png"} for i in range(7)]), "image_list"),
    ("omni-video", _with(GOOD_OMNI, image_list=[{"image_url": "file:a.png", "type": "end_frame"}]), "end_frame"),
    ("omni-video", _with(GOOD_OMNI, image_list=[{"image_url": "file:a.png", "type": "middle"}]), "type"),
    ("omni-video", _with(GOOD_OMNI, element_list=[{"element_id": "Alex"}]), "element_id"),
    ("omni-video", _with(GOOD_OMNI, aspect_ratio=None), "aspect_ratio"),
    ("omni-video", _with(GOOD_OMNI, model_name="kling-v3"), "model_name"),
    ("advanced-custom-elements", _with(GOOD_ELEMENT, element_name="A" * 21), "element_name"),
    ("advanced-custom-elements", _with(GOOD_ELEMENT, element_description="d" * 101), "element_description"),
    ("advanced-custom-elements", _with(GOOD_ELEMENT, element_description=None), "element_description"),
    ("advanced-custom-elements", _with(GOOD_ELEMENT, element_image_list={"frontal_image": "file:a.png",
                                                                         "refer_images": []}), "refer_images"),
    ("advanced-custom-elements", _with(GOOD_ELEMENT, element_image_list={
        "frontal_image": "file:a.png", "refer_images": [{"image_url": "file:b.png"}] * 4}), "refer_images"),
    ("advanced-custom-elements", _with(GOOD_ELEMENT, tag_list=[{"tag_id": "o_999"}]), "tag_id"),
    ("advanced-custom-elements", _with(GOOD_ELEMENT, reference_type="photo"), "reference_type"),
]


@pytest.mark.parametrize("endpoint,body,field", BAD, ids=[f"{e}-{f}-{i}" for i, (e, _, f) in enumerate(BAD)])
def test_rules_name_the_field(endpoint, body, field):
    problems = validate_request(endpoint, body)
    assert problems, "a bad request must have a problem"
    assert any(field in p for p in problems), problems


def test_frames_with_multishot_follow_the_profile():
    body = _with(GOOD_MULTI, image="file:a.png")
    assert any("image" in p for p in validate_request("image2video", body))
    omni = _with(GOOD_OMNI, prompt=None, multi_shot=True, shot_type="customize",
                 multi_prompt=[{"index": 1, "prompt": "a", "duration": "5"}],
                 image_list=[{"image_url": "file:a.png", "type": "first_frame"}])
    assert any("image_list" in p for p in validate_request("omni-video", omni))


def test_unknown_endpoint_and_body():
    assert validate_request("/v1/videos/lip-sync", GOOD_T2V)[0].startswith("endpoint")
    assert validate_request("text2video", ["not", "a", "dict"])[0].startswith("body")


# -- the models refuse what the API refuses -------------------------------------------------

@pytest.mark.parametrize("model,body", [
    (R.Text2VideoRequest, _with(GOOD_T2V, duration=5)),
    (R.Text2VideoRequest, _with(GOOD_T2V, colour="red")),
    (R.Text2VideoRequest, _with(GOOD_T2V, aspect_ratio=None)),
    (R.Text2VideoRequest, _with(GOOD_MULTI, duration="8")),
    (R.Text2VideoRequest, _with(GOOD_MULTI, prompt="also a prompt")),
    (R.Image2VideoRequest, _with(GOOD_I2V, image=None)),
    (R.OmniVideoRequest, _with(GOOD_OMNI, prompt="<<<element_2>>>")),
    (R.OmniVideoRequest, _with(GOOD_OMNI, aspect_ratio=None)),
    (R.ElementRequest, _with(GOOD_ELEMENT, element_image_list={"frontal_image": "x", "refer_images": []})),
])
def test_models_reject(model, body):
    from pydantic import ValidationError

    with pytest.raises(ValidationError):
        model.model_validate(body, context={"profile": profiles.load(body.get("model_name", "kling-v3-omni"))})


def test_models_take_limits_from_the_profile():
    from pydantic import ValidationError

    profile = profiles.load("kling-v3")
    R.Text2VideoRequest.model_validate(GOOD_T2V, context={"profile": profile})
    with pytest.raises(ValidationError):
        R.Text2VideoRequest.model_validate(_with(GOOD_T2V, prompt="x" * (profile.prompt_max + 1)),
                                           context={"profile": profile})
    with pytest.raises(ValidationError):
        R.Text2VideoRequest.model_validate(_with(GOOD_T2V, duration=str(profile.job_max + 1)),
                                           context={"profile": profile})

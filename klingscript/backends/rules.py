"""The rules of the Kling API (spec section 7): the one rule set klingc has.

``validate_request(endpoint, body, profile=None)`` returns every problem with
a request body as a sentence naming the field (an empty list for a good
request). It reads plain dictionaries, so the local simulator (``klingc
simulate``) can answer a bad request the way Kling does (HTTP 400, code 1201),
and the planner checks each request it writes with it. The pydantic request
models (``requests.py``) are the schema of what klingc sends; they validate by
calling the same rules (``video_problems``, ``element_problems``), not by
restating them.

Every limit is the model profile's (``model/profiles.py``): the one given,
else the one whose ``model_name`` the body names, else Kling 3.0's. Each rule
is one function below; ``video_problems`` and ``element_problems`` apply the
rules of an endpoint to a body whose fields have the right shape or are
reported by the shape checks next to them.

``endpoint`` is a path (``/v1/videos/omni-video``) or its last part
(``omni-video``, ``text2video``, ``image2video``,
``advanced-custom-elements``). Build output writes images as ``file:<path>``
and elements as ``element:<Name>``; both are accepted where an image or an
element id goes.
"""

from __future__ import annotations

import re
from typing import Any, Optional

from ..model import profiles

VIDEO_FIELDS = {"model_name", "prompt", "negative_prompt", "duration", "mode", "sound", "multi_shot",
                "shot_type", "multi_prompt", "callback_url", "external_task_id", "cfg_scale"}
FIELDS = {
    "text2video": VIDEO_FIELDS | {"aspect_ratio"},
    "image2video": VIDEO_FIELDS | {"image", "image_tail", "aspect_ratio", "element_list"},
    # omni-video has no negative_prompt (kling-api-2026.md: "text2video and image2video only")
    "omni-video": (VIDEO_FIELDS - {"negative_prompt"}) | {"aspect_ratio", "image_list", "element_list"},
    "advanced-custom-elements": {"element_name", "element_description", "reference_type",
                                 "element_image_list", "element_video_list", "element_voice_id",
                                 "tag_list", "callback_url", "external_task_id"},
}
ALIASES = {"omni": "omni-video", "element": "advanced-custom-elements",
           "elements": "advanced-custom-elements"}
# The profile's [endpoints] key of each endpoint.
ENDPOINT_KEYS = {"text2video": "text2video", "image2video": "image2video", "omni-video": "omni",
                 "advanced-custom-elements": "element"}
TAGS = {f"o_{n}" for n in range(101, 109)}
_TOKEN = re.compile(r"<<<(element|image|video)_(\d+)>>>")


def endpoint_name(endpoint: str) -> str:
    name = endpoint.rstrip("/").rsplit("/", 1)[-1]
    return ALIASES.get(name, name)


def profile_for(body: Any, profile=None) -> profiles.Profile:
    """The profile whose limits apply to ``body``: ``profile``, else the one its ``model_name``
    names, else Kling 3.0's."""
    if profile is not None:
        return profile
    name = body.get("model_name") if isinstance(body, dict) else None
    if isinstance(name, str):
        p = profiles.by_model_name(name)
        if p is not None:
            return p
    return profiles.load("kling-v3")


def _is_text(v) -> bool:
    return isinstance(v, str)


def _image_value(v) -> bool:
    """An image: a URL, Base64 data, or ``file:<path>`` in build output."""
    return isinstance(v, str) and v.strip() != ""


def validate_request(endpoint: str, body: dict, profile=None) -> list[str]:
    """Every problem with ``body`` as a request to ``endpoint``; empty when Kling would accept it."""
    if is_current(endpoint):
        return current_problems(endpoint, body)
    name = endpoint_name(endpoint)
    if name not in FIELDS:
        return [f"endpoint: {endpoint} is not a Kling endpoint klingc knows "
                f"(text2video, image2video, omni-video, advanced-custom-elements)"]
    if not isinstance(body, dict):
        return ["body: a request body is a JSON object"]
    problems: list[str] = []
    for key in sorted(set(body) - FIELDS[name]):
        problems.append(f"{key}: not a field of {name}")
    p = profile_for(body, profile)
    if name == "advanced-custom-elements":
        problems += element_problems(body, p)
    else:
        problems += video_problems(name, body, p)
    return problems


# -- video ------------------------------------------------------------------------

def video_problems(name: str, body: dict, p: profiles.Profile) -> list[str]:
    """The problems of a video request to endpoint ``name`` (``text2video``, ``image2video``,
    ``omni-video``) under the limits of profile ``p``."""
    problems: list[str] = []
    model_name(name, body.get("model_name"), p, problems)
    seconds = duration(body, p, problems)
    choices(body, p, problems)
    multi = body.get("multi_shot")
    if "multi_shot" in body and not isinstance(multi, bool):
        problems.append("multi_shot: must be true or false")
    prompts(body, p, problems)
    prompt = body.get("prompt")
    if not _is_text(prompt):
        prompt = None
    texts: list[tuple[str, str]] = []
    if multi is True:
        shot_type = body.get("shot_type")
        if shot_type is None:
            problems.append("shot_type: required when multi_shot is true")
        elif shot_type not in ("customize", "intelligence"):
            problems.append(f"shot_type: {shot_type!r} is not \"customize\" or \"intelligence\"")
        if shot_type == "intelligence":
            if not (prompt and prompt.strip()):
                problems.append("prompt: required when shot_type is \"intelligence\"")
            if prompt:
                texts.append(("prompt", prompt))
        else:
            texts += multi_prompt(body.get("multi_prompt"), seconds, p, problems)
    else:
        if not (prompt and prompt.strip()):
            problems.append("prompt: required (not empty) unless multi_shot is true")
        else:
            texts.append(("prompt", prompt))
        for key in ("shot_type", "multi_prompt"):
            if key in body:
                problems.append(f"{key}: only with multi_shot: true")

    if name == "text2video":
        pass            # aspect_ratio is optional: Kling's default is 16:9
    elif name == "image2video":
        image2video_frames(body, multi is True, p, problems)
        elements = element_list(body.get("element_list", []), problems)
        most = p.references.image2video_elements_max
        if elements > most:
            problems.append(f"element_list: {elements} elements, over the {most} image2video takes")
        if elements and body.get("image") is None:
            problems.append("element_list: image2video takes elements with a first frame (image)")
        tokens(texts, 0, elements, problems)
    else:
        images, elements = omni_inputs(body, multi is True, p, problems)
        tokens(texts, images, elements, problems)
    return problems


def model_name(name: str, model, p: profiles.Profile, problems: list[str]) -> None:
    """``model_name`` is the profile's, and the profile's model is served at endpoint ``name``."""
    if not _is_text(model) or not model:
        problems.append("model_name: required (a Kling model name such as kling-v3)")
        return
    if model != p.model_name:
        problems.append(f"model_name: {model!r} is not {p.model_name}")
    if not getattr(p.endpoints, ENDPOINT_KEYS[name]):
        problems.append(f"model_name: {model} is not used with {name}")


def duration(body: dict, p: profiles.Profile, problems: list[str]) -> Optional[int]:
    """``duration``: a string of whole seconds within the model's range of a job. Returns the
    seconds, when they are whole seconds."""
    value = body.get("duration")
    if value is None:
        return 5 if p.job_min <= 5 <= p.job_max else None   # Kling's default duration is "5"
    elif not isinstance(value, str):
        problems.append(f"duration: must be a string such as \"5\", not {type(value).__name__}")
    elif not value.isdigit():
        problems.append(f"duration: {value!r} is not whole seconds")
    else:
        seconds = int(value)
        lo, hi = p.job_min, p.job_max
        if not lo <= seconds <= hi:
            problems.append(f"duration: {seconds} is outside {lo}-{hi} seconds")
        return seconds
    return None


def choices(body: dict, p: profiles.Profile, problems: list[str]) -> None:
    """``mode`` and ``aspect_ratio`` among the profile's, ``sound``, options and ``cfg_scale``."""
    modes = p.modes
    if "mode" in body and body["mode"] not in modes:
        problems.append(f"mode: {body['mode']!r} is not one of {', '.join(modes)}")
    if "sound" in body and body["sound"] not in ("on", "off"):
        problems.append(f"sound: {body['sound']!r} is not \"on\" or \"off\"")
    aspects = p.aspect_ratios
    if "aspect_ratio" in body and body["aspect_ratio"] not in aspects:
        problems.append(f"aspect_ratio: {body['aspect_ratio']!r} is not one of {', '.join(aspects)}")
    for key in ("callback_url", "external_task_id"):
        if key in body and not _is_text(body[key]):
            problems.append(f"{key}: must be a string")
    if "cfg_scale" in body:
        v = body["cfg_scale"]
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 <= v <= 1:
            problems.append("cfg_scale: must be a number from 0 to 1")


def prompts(body: dict, p: profiles.Profile, problems: list[str]) -> None:
    """``prompt`` and ``negative_prompt``: strings within the profile's lengths."""
    prompt = body.get("prompt")
    if "prompt" in body and not _is_text(prompt):
        problems.append("prompt: must be a string")
    elif _is_text(prompt) and len(prompt) > p.prompt_max:
        problems.append(f"prompt: {len(prompt)} characters, over the {p.prompt_max} allowed")
    negative = body.get("negative_prompt")
    if "negative_prompt" in body:
        if not _is_text(negative):
            problems.append("negative_prompt: must be a string")
        elif len(negative) > p.negative_max:
            problems.append(f"negative_prompt: {len(negative)} characters, over the {p.negative_max} allowed")


def multi_prompt(items, seconds: Optional[int], p: profiles.Profile,
                 problems: list[str]) -> list[tuple[str, str]]:
    """Structured shots: 1 to ``shots.per_job`` of them, indices 1, 2, 3..., each prompt within
    ``prompt.shot_max_chars``, each at least ``duration.shot_min`` seconds, adding up to the job's
    duration. Returns the shots' prompts (field, text)."""
    per_job = p.shots_per_job
    shot_min = p.shot_min
    shot_max = p.shot_prompt_max
    texts: list[tuple[str, str]] = []
    if not isinstance(items, list) or not items:
        problems.append("multi_prompt: required (1 to "
                        f"{per_job} shots) when multi_shot is true and shot_type is \"customize\"")
        return texts
    if len(items) > per_job:
        problems.append(f"multi_prompt: {len(items)} shots, over the {per_job} allowed")
    total = 0
    ok_total = True
    for n, item in enumerate(items, 1):
        where = f"multi_prompt[{n - 1}]"
        if not isinstance(item, dict):
            problems.append(f"{where}: must be an object with index, prompt and duration")
            ok_total = False
            continue
        for key in sorted(set(item) - {"index", "prompt", "duration"}):
            problems.append(f"{where}.{key}: not a field of multi_prompt")
        index = item.get("index")
        if isinstance(index, bool) or not isinstance(index, int):
            problems.append(f"{where}.index: must be a whole number")
        elif index != n:
            problems.append(f"{where}.index: is {index}; indices run 1, 2, 3... in order (expected {n})")
        text = item.get("prompt")
        if not _is_text(text) or not text.strip():
            problems.append(f"{where}.prompt: required (not empty)")
        else:
            if len(text) > shot_max:
                problems.append(f"{where}.prompt: {len(text)} characters, over the {shot_max} allowed")
            texts.append((f"{where}.prompt", text))
        d = item.get("duration")
        if not isinstance(d, str) or not d.isdigit():
            problems.append(f"{where}.duration: must be a string of whole seconds such as \"3\"")
            ok_total = False
        else:
            if int(d) < shot_min:
                problems.append(f"{where}.duration: {d} is under the {shot_min}s minimum of a shot")
            if seconds is not None and int(d) > seconds:
                problems.append(f"{where}.duration: {d} is longer than the whole job ({seconds})")
            total += int(d)
    if ok_total and seconds is not None and total != seconds:
        problems.append(f"multi_prompt: shot durations add up to {total}, not the job's duration {seconds}")
    return texts


def image2video_frames(body: dict, multi: bool, p: profiles.Profile, problems: list[str]) -> None:
    """``image`` (first frame) and ``image_tail`` (last frame): which the profile takes, alone and
    with structured multi-shot."""
    frames = p.frames
    image, tail = body.get("image"), body.get("image_tail")
    if image is None and tail is None:
        problems.append("image: image2video needs image (first frame) or image_tail (last frame)")
    elif image is None and not frames.last_alone:
        problems.append(f"image_tail: {p.label} does not take a last frame without a first frame")
    for key in ("image", "image_tail"):
        if key in body and not _image_value(body[key]):
            problems.append(f"{key}: must be an image (URL, Base64 or file:<path>)")
    if multi and tail is not None and not frames.last_frame_with_multishot:
        problems.append("image_tail: does not go with multi_shot")
    if multi and image is not None and not frames.with_multishot:
        problems.append(f"image: {p.label} does not take a frame "
                        f"with multi_shot (the profile says so)")


def omni_inputs(body: dict, multi: bool, p: profiles.Profile, problems: list[str]) -> tuple[int, int]:
    """``image_list`` (reference images and frames) and ``element_list``: their shape, the frames
    the profile takes, and at most ``references.max_inputs`` of them together. Returns how many
    images and elements the request has."""
    images = body.get("image_list", [])
    elements = body.get("element_list", [])
    if not isinstance(images, list):
        problems.append("image_list: must be a list")
        images = []
    if not isinstance(elements, list):
        problems.append("element_list: must be a list")
        elements = []
    types: list[str] = []
    for n, item in enumerate(images):
        where = f"image_list[{n}]"
        if not isinstance(item, dict):
            problems.append(f"{where}: must be an object with image_url")
            continue
        for key in sorted(set(item) - {"image_url", "type"}):
            problems.append(f"{where}.{key}: not a field of image_list")
        if not _image_value(item.get("image_url")):
            problems.append(f"{where}.image_url: required (URL, Base64 or file:<path>)")
        if "type" in item:
            if item["type"] not in ("first_frame", "end_frame"):
                problems.append(f"{where}.type: {item['type']!r} is not \"first_frame\" or \"end_frame\"")
            else:
                types.append(item["type"])
    for kind in ("first_frame", "end_frame"):
        if types.count(kind) > 1:
            problems.append(f"image_list: more than one {kind}")
    if "end_frame" in types and "first_frame" not in types and not p.frames.last_alone:
        problems.append("image_list: an end_frame needs a first_frame")
    if multi and types and not p.frames.with_multishot:
        problems.append("image_list: frames do not go with multi_shot")
    if "first_frame" not in types and "aspect_ratio" not in body:
        problems.append("aspect_ratio: required on omni-video without a first frame")
    element_list(elements, problems)
    frames = [t for t in types if t in ("first_frame", "end_frame")]
    most = p.references.elements_with_frame_max
    if frames and len(elements) > most:
        problems.append(f"element_list: {len(elements)} elements with a frame, over the {most} allowed")
    most = p.api.end_frame_images_max
    if "end_frame" in types and len(images) > most:
        problems.append(f"image_list: an end_frame with {len(images)} images, over the {most} allowed")
    most = p.max_inputs
    total = len(images) + len(elements)
    if total > most:
        problems.append(f"image_list, element_list: {total} reference inputs, over the {most} allowed")
    return len(images), len(elements)


def element_list(elements, problems: list[str]) -> int:
    """The shape of ``element_list`` (a list of ``{element_id}``); returns its length."""
    if not isinstance(elements, list):
        problems.append("element_list: must be a list")
        return 0
    for n, item in enumerate(elements):
        where = f"element_list[{n}]"
        if not isinstance(item, dict):
            problems.append(f"{where}: must be an object with element_id")
            continue
        for key in sorted(set(item) - {"element_id"}):
            problems.append(f"{where}.{key}: not a field of element_list")
        eid = item.get("element_id")
        good = (isinstance(eid, int) and not isinstance(eid, bool) and eid > 0) or (
            isinstance(eid, str) and (eid.isdigit() or (eid.startswith("element:") and len(eid) > 8)))
        if not good:
            problems.append(f"{where}.element_id: must be an element id (or element:<Name> in build output)")
    return len(elements)


def tokens(texts: list[tuple[str, str]], images: int, elements: int, problems: list[str]) -> None:
    """Each ``<<<element_k>>>``, ``<<<image_k>>>`` of a prompt names an input of the request."""
    for where, text in texts:
        for kind, k in _TOKEN.findall(text):
            k = int(k)
            have = {"element": elements, "image": images, "video": 0}[kind]
            if not 1 <= k <= have:
                problems.append(f"{where}: <<<{kind}_{k}>>> refers to no {kind} "
                                f"(the request has {have})")


# -- elements -----------------------------------------------------------------------

def element_problems(body: dict, p: profiles.Profile) -> list[str]:
    """The problems of an element request (``advanced-custom-elements``) under profile ``p``."""
    problems: list[str] = []
    element_texts(body, p, problems)
    kind = body.get("reference_type")
    if kind not in ("image_refer", "video_refer"):
        problems.append(f"reference_type: {kind!r} is not \"image_refer\" or \"video_refer\"")
    if kind == "image_refer":
        element_images(body.get("element_image_list"), p, problems)
    elif kind == "video_refer":
        if not isinstance(body.get("element_video_list"), dict):
            problems.append("element_video_list: required when reference_type is \"video_refer\"")
    tags = body.get("tag_list")
    if tags is not None:
        if not isinstance(tags, list):
            problems.append("tag_list: must be a list of {tag_id}")
        else:
            for n, t in enumerate(tags):
                if not isinstance(t, dict) or t.get("tag_id") not in TAGS:
                    problems.append(f"tag_list[{n}].tag_id: not one of o_101 to o_108")
    for key in ("callback_url", "external_task_id", "element_voice_id"):
        if key in body and not _is_text(body[key]):
            problems.append(f"{key}: must be a string")
    return problems


def element_texts(body: dict, p: profiles.Profile, problems: list[str]) -> None:
    """``element_name`` and ``element_description``: given, within the profile's lengths."""
    limits = p.element
    name = body.get("element_name")
    if not _is_text(name) or not name.strip():
        problems.append("element_name: required")
    elif len(name) > limits.name_max_chars:
        problems.append(f"element_name: {len(name)} characters, over the {limits.name_max_chars} allowed")
    desc = body.get("element_description")
    most = limits.description_max_chars
    if not _is_text(desc) or not desc.strip():
        problems.append("element_description: required")
    elif len(desc) > most:
        problems.append(f"element_description: {len(desc)} characters, over the {most} allowed")


def element_images(images, p: profiles.Profile, problems: list[str]) -> None:
    """``element_image_list``: a frontal image and ``refer_images_min`` to ``refer_images_max``
    more."""
    refer_min, refer_max = p.element.refer_images_min, p.element.refer_images_max
    if not isinstance(images, dict):
        problems.append("element_image_list: required when reference_type is \"image_refer\"")
        return
    for key in sorted(set(images) - {"frontal_image", "refer_images"}):
        problems.append(f"element_image_list.{key}: not a field of element_image_list")
    if not _image_value(images.get("frontal_image")):
        problems.append("element_image_list.frontal_image: required (the frontal view)")
    refer = images.get("refer_images")
    if not isinstance(refer, list):
        problems.append(f"element_image_list.refer_images: required ({refer_min} to "
                        f"{refer_max} more images)")
        return
    if not refer_min <= len(refer) <= refer_max:
        problems.append(f"element_image_list.refer_images: {len(refer)} images; "
                        f"an element takes {refer_min} to {refer_max} besides the frontal one")
    for n, item in enumerate(refer):
        if not isinstance(item, dict) or not _image_value(item.get("image_url")):
            problems.append(f"element_image_list.refer_images[{n}].image_url: required")


# -- the current generation ---------------------------------------------------------------------
# Kling's current API (``/text-to-video/kling-3.0``, ``/image-to-video/kling-3.0``,
# ``/omni-video/kling-3.0-omni``): ``prompt`` or ``contents[]``, ``settings{}``, ``options{}``,
# every setting optional with Kling's defaults. The limits are the model profile's for the
# current generation (``model/profiles.py``: the model whose create path the endpoint is, from
# ``data/kling_api.toml`` [generations.current] endpoints); the API's own shapes (which
# ``contents`` types and ``audio`` values each path takes) are ``data/kling_api.toml`` [current].

CURRENT_KINDS = ("text-to-video", "image-to-video", "omni-video")
_SETTINGS = {"text-to-video": {"multi_shot", "audio", "resolution", "aspect_ratio", "duration"},
             "image-to-video": {"multi_shot", "audio", "resolution", "duration"},
             "omni-video": {"multi_shot", "audio", "resolution", "aspect_ratio", "duration"}}
_SHOT = re.compile(r"shot\s+(\d+)\s*,\s*(\d+)\s*,\s*([^;]*);", re.IGNORECASE)


def is_current(endpoint: str) -> bool:
    parts = endpoint.strip("/").split("/")
    return len(parts) == 2 and parts[0] in CURRENT_KINDS


def _current_shapes() -> dict:
    from ..resources import data_toml

    return data_toml("kling_api.toml")["current"]


def current_profile(endpoint: str) -> profiles.Profile:
    """The profile (for the current generation) of the model a current create path makes: the
    model whose endpoint it is in ``kling_api.toml``, else Kling 3.0's (text and image to video)
    or Kling 3.0 Omni's (omni-video)."""
    from ..resources import data_toml

    path = "/" + endpoint.strip("/")
    kind = path.split("/")[1]
    endpoints = data_toml("kling_api.toml")["generations"]["current"]["endpoints"]
    model = next((m for m, paths in endpoints.items() if path in paths.values()), None)
    if model is None:
        model = next((m for m, paths in endpoints.items()
                      if any(p.split("/")[1] == kind for p in paths.values())), "kling-v3")
    return profiles.by_model_name(model, profiles.CURRENT) or profiles.load("kling-v3", profiles.CURRENT)


def current_problems(endpoint: str, body, profile: Optional[profiles.Profile] = None) -> list[str]:
    """Every problem with ``body`` as a current-generation request to ``endpoint``, under the
    limits of ``profile`` (by default the profile of the model the endpoint makes)."""
    kind = endpoint.strip("/").split("/")[0]
    if not isinstance(body, dict):
        return ["body: a request body is a JSON object"]
    p = profile if profile is not None and profile.generation == profiles.CURRENT else \
        current_profile(endpoint)
    problems: list[str] = []
    top = {"prompt", "settings", "options"} if kind == "text-to-video" else {"contents", "settings", "options"}
    for key in sorted(set(body) - top):
        problems.append(f"{key}: not a field of {kind}")
    settings = body.get("settings", {})
    if not isinstance(settings, dict):
        problems.append("settings: must be an object")
        settings = {}
    for key in sorted(set(settings) - _SETTINGS[kind]):
        problems.append(f"settings.{key}: not a setting of {kind}")
    seconds = settings.get("duration", 5)
    if isinstance(seconds, bool) or not isinstance(seconds, int):
        problems.append(f"settings.duration: must be a whole number of seconds, not {seconds!r}")
        seconds = None
    elif not p.job_min <= seconds <= p.job_max:
        problems.append(f"settings.duration: {seconds} is outside {p.job_min}-{p.job_max} seconds")
    for key, allowed in (("resolution", p.resolutions), ("aspect_ratio", p.aspect_ratios),
                         ("audio", _current_shapes()["audio"][kind])):
        if key in settings and settings[key] not in allowed:
            problems.append(f"settings.{key}: {settings[key]!r} is not one of {', '.join(allowed)}")
    if "multi_shot" in settings and not isinstance(settings["multi_shot"], bool):
        problems.append("settings.multi_shot: must be true or false")
    options = body.get("options", {})
    if not isinstance(options, dict):
        problems.append("options: must be an object")
        options = {}
    for key in sorted(set(options) - {"external_task_id", "callback_url", "watermark_info"}):
        problems.append(f"options.{key}: not an option")
    for key in ("external_task_id", "callback_url"):
        if key in options and not _is_text(options[key]):
            problems.append(f"options.{key}: must be a string")
    texts: list[tuple[str, str]] = []
    if kind == "text-to-video":
        prompt = body.get("prompt")
        if not _is_text(prompt) or not prompt.strip():
            problems.append("prompt: required (not empty)")
        else:
            texts.append(("prompt", prompt))
    else:
        texts += _current_contents(kind, body.get("contents"), settings, p, problems)
    for where, text in texts:
        if len(text) > p.prompt_max:
            problems.append(f"{where}: {len(text)} characters, over the {p.prompt_max} allowed")
        _current_shots(where, text, seconds, p, problems)
    return problems


def _current_contents(kind: str, contents, settings: dict, p: profiles.Profile,
                      problems: list[str]) -> list:
    if not isinstance(contents, list) or not contents:
        problems.append("contents: required (a list with a prompt and the inputs)")
        return []
    texts, types, ids = [], [], []
    allowed = _current_shapes()["contents"][kind]
    for n, item in enumerate(contents):
        where = f"contents[{n}]"
        if not isinstance(item, dict):
            problems.append(f"{where}: must be an object with a type")
            continue
        t = item.get("type")
        if t not in allowed:
            problems.append(f"{where}.type: {t!r} is not one of {', '.join(allowed)}")
            continue
        types.append(t)
        if t == "prompt":
            if not _is_text(item.get("text")) or not item["text"].strip():
                problems.append(f"{where}.text: required (not empty)")
            else:
                texts.append((f"{where}.text", item["text"]))
        elif t == "element":
            eid = item.get("element_id")
            if not ((isinstance(eid, str) and eid) or (isinstance(eid, int) and not isinstance(eid, bool))):
                problems.append(f"{where}.element_id: required (an element id)")
            if not _is_text(item.get("id")) or not item["id"]:
                problems.append(f"{where}.id: required (the name the prompt gives it as @id)")
        elif not _image_value(item.get("url")):
            problems.append(f"{where}.url: required (URL or Base64)")
        if _is_text(item.get("id")) and item["id"]:
            if item["id"] in ids:
                problems.append(f"{where}.id: {item['id']!r} is used twice")
            ids.append(item["id"])
    if "prompt" not in types:
        problems.append("contents: needs a {type: prompt, text} entry")
    first, last = "first_frame" in types, "last_frame" in types
    if last and not first:
        problems.append("contents: a last_frame needs a first_frame (last frame alone is not supported)")
    for t in ("first_frame", "last_frame"):
        if types.count(t) > 1:
            problems.append(f"contents: more than one {t}")
    elements = types.count("element")
    if kind == "image-to-video":
        if not first:
            problems.append("contents: image-to-video needs a first_frame")
        most = p.references.image2video_elements_max
        if elements > most:
            problems.append(f"contents: {elements} elements, over the {most} image-to-video takes")
    else:
        most = p.references.elements_with_frame_max
        if first and elements > most:
            problems.append(f"contents: a first frame and {elements} elements; omni-video takes at most "
                            f"{most} elements with a first frame")
        refs = types.count("refer_image") + elements
        if refs > p.max_inputs:
            problems.append(f"contents: {refs} reference images and elements, over the "
                            f"{p.max_inputs} allowed")
        videos = "feature_video" in types or "base_video" in types
        if not first and not videos and "aspect_ratio" not in settings:
            problems.append("settings.aspect_ratio: required on omni-video without a first frame")
    return texts


def _current_shots(where: str, text: str, seconds, p: profiles.Profile, problems: list[str]) -> None:
    """Structured shots written in the prompt as ``shot n, m, words;``."""
    shots = _SHOT.findall(text)
    if not shots or not text.lstrip().lower().startswith("shot"):
        return
    if len(shots) > p.shots_per_job:
        problems.append(f"{where}: {len(shots)} shots, over the {p.shots_per_job} allowed")
    total = 0
    for k, (n, m, words) in enumerate(shots, 1):
        if int(n) != k:
            problems.append(f"{where}: shot {n} is numbered out of order (expected {k})")
        if int(m) < p.shot_min:
            problems.append(f"{where}: shot {n} lasts {m}s, under the {p.shot_min}s minimum of a shot")
        if len(words.strip()) > p.shot_prompt_max:
            problems.append(f"{where}: shot {n} has {len(words.strip())} characters, over the "
                            f"{p.shot_prompt_max} allowed")
        total += int(m)
    if seconds is not None and total != seconds:
        problems.append(f"{where}: shot durations add up to {total}, not the job's duration {seconds}")

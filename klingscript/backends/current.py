"""The request bodies of Kling's current API generation, as pydantic models.

``POST /text-to-video/kling-3.0`` takes ``prompt``; ``/image-to-video/kling-3.0``
and ``/omni-video/kling-3.0-omni`` take ``contents[]`` (the prompt and the
inputs: ``first_frame``, ``last_frame``, ``refer_image``, ``element``); all
three take ``settings{}`` and ``options{}`` (Kling's pages, archived in
aself101/kling-api: docs/api/kling-omni-3.0-t2v.md, -i2v.md, -ovg.md).

What klingc writes:

- an input is named in the prompt as ``@<id>``, its ``contents[].id`` being
  the element's name (the planner's API tokens are ``@Name`` on this
  generation);
- structured shots (``multishot: api``, and ``multishot: text``, which is
  the same thing here) are written in the prompt in Kling's documented form
  ``shot n, m, words; shot n, m, words;``. A shot's words are on one line and
  a ``;`` in them becomes ``,`` (the semicolon ends a shot in that form);
- ``settings.multi_shot`` is always written (Kling's default is true): true
  for structured shots and for a scene without shot headers (Kling cuts its
  prose into shots), false for a job of one shot;
- ``negative:`` goes into the prompt as a marked line (no field takes it);
- ``options.external_task_id`` is the job's id (``klingc render`` sets it
  again, and ``options.callback_url`` with ``--callback-url``); ``build
  --callback-url`` writes ``options.callback_url``.

Images are ``file:<path>`` and element ids ``element:<Name>`` in build output,
as in legacy requests. The models are the schema; Kling's rules are
``rules.current_problems``, run once per request through the same collecting
context as the legacy models (``requests._validated``).
"""

from __future__ import annotations

from typing import ClassVar, Literal, Optional

from pydantic import ValidationInfo, field_validator, model_validator

from . import api as A
from . import rules
from .requests import _Body, _dump, _obey, _validated, element_ref, file_ref, frame_ref


class Settings(_Body):
    multi_shot: bool
    audio: Literal["native", "off"]
    resolution: str
    aspect_ratio: Optional[str] = None
    duration: int


class Options(_Body):
    external_task_id: Optional[str] = None
    callback_url: Optional[str] = None


class Content(_Body):
    type: Literal["prompt", "first_frame", "last_frame", "refer_image", "element"]
    text: Optional[str] = None
    url: Optional[str] = None
    element_id: Optional[str] = None
    id: Optional[str] = None

    @field_validator("element_id")
    @classmethod
    def _element(cls, v):
        if v is not None and not (v.isdigit() or (v.startswith("element:") and len(v) > len("element:"))):
            raise ValueError("an element id is Kling's id, or element:<Name> in build output")
        return v


class _Video(_Body):
    KIND: ClassVar[str]
    settings: Settings
    options: Optional[Options] = None

    @model_validator(mode="after")
    def _rules(self, info: ValidationInfo):
        context = info.context or {}
        endpoint = context.get("endpoint") or self.KIND
        _obey(info, rules.current_problems(endpoint, _dump(self, info), context.get("profile")))
        return self


class TextToVideo(_Video):
    """``POST /text-to-video/kling-3.0``."""
    KIND = "/text-to-video/kling-3.0"
    prompt: str


class ImageToVideo(_Video):
    """``POST /image-to-video/kling-3.0``: the prompt, a first frame (and a last one), elements."""
    KIND = "/image-to-video/kling-3.0"
    contents: list[Content]


class OmniVideo(_Video):
    """``POST /omni-video/kling-3.0-omni``: the prompt, frames, reference images, elements."""
    KIND = "/omni-video/kling-3.0-omni"
    contents: list[Content]


MODELS = {"text2video": TextToVideo, "image2video": ImageToVideo, "omni": OmniVideo}


def prompt_of(job) -> str:
    """The prompt of ``job``: structured shots in Kling's shot form, else the job's prompt;
    ``negative:`` as its marked line (in the first shot's words)."""
    return A.sent(A.CURRENT, job.kind, job.prompt, job.multi_prompt if job.structured else (),
                  job.settings.negative).prompt


def video_request(job, callback_url: Optional[str] = None) -> tuple[dict, list[str]]:
    """The current-generation request body of a planned job, validated by its model, and the
    API rules it breaks."""
    s = job.settings
    endpoint = A.endpoint(A.CURRENT, job)
    settings: dict = {"multi_shot": bool(job.structured or not job.shots),
                      "audio": "native" if s.audio == "on" else "off",
                      "resolution": s.resolution, "duration": job.duration}
    prompt = prompt_of(job)
    body: dict = {}
    if job.kind == "text2video":
        body["prompt"] = prompt
        settings["aspect_ratio"] = s.aspect
    else:
        contents = [{"type": "prompt", "text": prompt}]
        if job.first_frame is not None:
            contents.append({"type": "first_frame", "url": frame_ref(job.first_frame)})
        if job.last_frame is not None:
            contents.append({"type": "last_frame", "url": frame_ref(job.last_frame)})
        for name, path in zip(job.ref_images, job.ref_image_paths):
            contents.append({"type": "refer_image", "url": file_ref(path), "id": name})
        for name in job.kling_elements:
            contents.append({"type": "element", "element_id": element_ref(name), "id": name})
        body["contents"] = contents
        if job.kind == "omni" and job.first_frame is None:
            settings["aspect_ratio"] = s.aspect
    body["settings"] = settings
    if callback_url:
        body["options"] = {"callback_url": callback_url}
    request, problems = _validated(MODELS[job.kind], body, job.profile, endpoint=endpoint)
    return {k: request[k] for k in _ORDER if k in request}, problems


_ORDER = ("prompt", "contents", "settings", "options")    # as Kling's pages write a body

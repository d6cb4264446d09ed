"""The request bodies of Kling's legacy API generation (``/v1/...``), as pydantic models (spec
section 7); ``current.py`` has the current generation's, and ``element_request`` here serves
both (elements are made at the same path for either).

Every request klingc writes is built through these models: ``video_request``
and ``element_request`` assemble the fields, the model validates them, and
the body is the model's dump without unset fields. A model is the schema of
what klingc sends (its fields, their types, and klingc's own choices such as
``shot_type: customize``); Kling's rules and the model profile's limits are
not restated here: each model, once its fields are valid, applies the API
rules of its endpoint (``rules.video_problems`` / ``rules.element_problems``)
with the profile passed in the validation context (``{"profile": ...}``), else
the one its ``model_name`` names. Validated on its own, a model refuses a body
that breaks a rule; ``video_request`` and ``element_request`` instead collect
the problems (a ``"problems"`` list in the context) and return them with the
body, which the build reports as KLS308: each rule runs once per request, and
the body is dumped once.

In ``klingc build`` output an image is the string ``file:<path relative to the
script>`` and an element id is ``element:<Name>``; ``klingc render`` replaces
them with the Base64 image and the id of the element it created.
"""

from typing import ClassVar, Literal, Optional, Union

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from .. import lower as L
from . import rules

def _obey(info: ValidationInfo, problems) -> None:
    """Refuse a body that breaks one of Kling's rules (with the rules' own words), unless the
    context collects them (``"problems"``); then the body's dump goes there too (``"dump"``)."""
    context = info.context
    if isinstance(context, dict) and isinstance(context.get("problems"), list):
        context["problems"].extend(problems)
        return
    if problems:
        raise ValueError("; ".join(problems))


def _dump(model: BaseModel, info: ValidationInfo) -> dict:
    """The body as sent (without unset fields), kept in a collecting context for the caller."""
    body = model.model_dump(mode="json", exclude_none=True)
    if isinstance(info.context, dict) and "problems" in info.context:
        info.context["dump"] = body
    return body


def _validated(model, body: dict, profile, **extra) -> tuple[dict, list[str]]:
    """``body`` through ``model``: the request as sent, and the API rules it breaks (``extra``:
    more of the validation context)."""
    context = {"profile": profile, "problems": [], **extra}
    model.model_validate(body, context=context)
    return context["dump"], context["problems"]


def _profile(model: BaseModel, info: ValidationInfo):
    return rules.profile_for({"model_name": getattr(model, "model_name", None)},
                             (info.context or {}).get("profile"))


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)


class MultiPrompt(_Body):
    index: int
    prompt: str
    duration: str = Field(pattern=r"^[0-9]+$")


class _Video(_Body):
    ENDPOINT: ClassVar[str]
    model_name: str
    prompt: Optional[str] = None
    negative_prompt: Optional[str] = None
    duration: str = Field(pattern=r"^[0-9]+$")
    mode: str
    sound: Literal["on", "off"]
    multi_shot: Optional[bool] = None
    shot_type: Optional[Literal["customize", "intelligence"]] = None
    multi_prompt: Optional[list[MultiPrompt]] = None
    callback_url: Optional[str] = None
    external_task_id: Optional[str] = None

    @model_validator(mode="after")
    def _rules(self, info: ValidationInfo):
        if self.shot_type == "customize" and self.prompt is not None:
            raise ValueError("prompt is not sent with structured shots (Kling ignores it)")
        _obey(info, rules.video_problems(self.ENDPOINT, _dump(self, info), _profile(self, info)))
        return self


class Text2VideoRequest(_Video):
    """``POST /v1/videos/text2video``."""
    ENDPOINT = "text2video"
    aspect_ratio: str


class _NoNegative(_Video):
    negative_prompt: None = None      # omni-video has no negative_prompt field


class ImageInput(_Body):
    image_url: str
    type: Optional[Literal["first_frame", "end_frame"]] = None


class ElementInput(_Body):
    element_id: Union[int, str]

    @field_validator("element_id")
    @classmethod
    def _id(cls, v):
        if isinstance(v, str) and not (v.startswith("element:") and len(v) > len("element:")):
            raise ValueError("an element id is a number, or element:<Name> in build output")
        return v


class Image2VideoRequest(_Video):
    """``POST /v1/videos/image2video``: a first frame (``image``) and/or a last frame
    (``image_tail``), and up to 3 elements (``<<<element_k>>>``) with a first frame."""
    ENDPOINT = "image2video"
    image: Optional[str] = None
    image_tail: Optional[str] = None
    element_list: Optional[list[ElementInput]] = None


class OmniVideoRequest(_NoNegative):
    """``POST /v1/videos/omni-video``: elements, reference images and frames, ``<<<element_k>>>``."""
    ENDPOINT = "omni-video"
    aspect_ratio: Optional[str] = None
    image_list: Optional[list[ImageInput]] = None
    element_list: Optional[list[ElementInput]] = None


class ReferImage(_Body):
    image_url: str


class ElementImages(_Body):
    frontal_image: str
    refer_images: list[ReferImage]


class Tag(_Body):
    tag_id: str


class ElementRequest(_Body):
    """``POST /v1/general/advanced-custom-elements``: a multi-image element."""
    element_name: str
    element_description: str
    reference_type: Literal["image_refer"] = "image_refer"
    element_image_list: ElementImages
    tag_list: Optional[list[Tag]] = None
    callback_url: Optional[str] = None
    external_task_id: Optional[str] = None

    @model_validator(mode="after")
    def _rules(self, info: ValidationInfo):
        _obey(info, rules.element_problems(_dump(self, info), _profile(self, info)))
        return self


MODELS = {"text2video": Text2VideoRequest, "image2video": Image2VideoRequest, "omni": OmniVideoRequest}


def file_ref(path: str) -> str:
    return "file:" + path


def frame_ref(frame) -> str:
    """A frame in a request: ``file:<path>``, or a chained frame's ``previous:`` placeholder
    (``lower.previous_frame``), which `klingc render` fills with a take's last frame."""
    return frame.path if frame.chained else file_ref(frame.path)


def element_ref(name: str) -> str:
    return "element:" + name


def _kling_cuts(job) -> bool:
    """Whether Kling cuts the job's prose into shots itself (``shot_type: intelligence``): a
    scene without shot headers, or shots written into one prompt (``multishot: text``); not
    with a frame unless the profile takes frames with multi-shot."""
    if job.structured or len(job.shots) == 1:
        return False
    return (job.first_frame is None and job.last_frame is None) or job.profile.frames.with_multishot


def video_request(job, callback_url: Optional[str] = None) -> tuple[dict, list[str]]:
    """The request body of a planned job (``plan.Job``), validated by its model, and the
    API rules it breaks. ``negative:`` is ``negative_prompt`` where the endpoint has it, else a
    marked line of the prompt (of the first shot's, for structured shots)."""
    from . import api as A

    s = job.settings
    profile = job.profile
    negative = s.negative
    field = bool(negative) and A.has_negative_field(A.LEGACY, job.kind)
    sent = A.sent(A.LEGACY, job.kind, job.prompt, job.multi_prompt if job.structured else (), negative)
    body: dict = {"model_name": profile.model_name}
    if job.structured:
        shots = [{"index": i, "prompt": p, "duration": str(d)} for i, p, d in sent.shots]
        body.update(multi_shot=True, shot_type="customize", multi_prompt=shots)
    else:
        if _kling_cuts(job):
            body.update(multi_shot=True, shot_type="intelligence")
        body["prompt"] = sent.prompt
    if field:
        body["negative_prompt"] = negative
    body.update(duration=str(job.duration), mode=profile.mode(s.resolution),
                sound="on" if s.audio == "on" else "off")
    if callback_url:
        body["callback_url"] = callback_url
    if job.kind == "text2video":
        body["aspect_ratio"] = s.aspect
    elif job.kind == "image2video":
        if job.first_frame is not None:
            body["image"] = frame_ref(job.first_frame)
        if job.last_frame is not None:
            body["image_tail"] = frame_ref(job.last_frame)
        if job.kling_elements:
            body["element_list"] = [{"element_id": element_ref(n)} for n in job.kling_elements]
    else:
        images = [{"image_url": file_ref(path)} for path in job.ref_image_paths]
        if job.first_frame is not None:
            images.append({"image_url": frame_ref(job.first_frame), "type": "first_frame"})
        if job.last_frame is not None:
            images.append({"image_url": frame_ref(job.last_frame), "type": "end_frame"})
        if job.first_frame is None:
            body["aspect_ratio"] = s.aspect
        if images:
            body["image_list"] = images
        if job.kling_elements:
            body["element_list"] = [{"element_id": element_ref(n)} for n in job.kling_elements]
    return _validated(MODELS[job.kind], body, profile)


def element_request(el: L.Element, profile) -> tuple[dict, list[str]]:
    """The creation request of an element with a frontal image and 1-3 more, and the API
    rules it breaks."""
    body = {
        "element_name": el.name,
        "element_description": el.description or el.name,
        "reference_type": "image_refer",
        "element_image_list": {
            "frontal_image": file_ref(el.images[0]),
            "refer_images": [{"image_url": file_ref(p)} for p in el.images[1:]],
        },
    }
    tag = profile.element.tag(el.kind)   # the kind's tag_id, from the profile
    if tag:
        body["tag_list"] = [{"tag_id": tag}]
    return _validated(ElementRequest, body, profile)

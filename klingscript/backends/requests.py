"""The request bodies of the Kling API, as pydantic models (spec section 7).

Every request klingc writes is built through these models: ``video_request``
and ``element_request`` assemble the fields, the model validates them (shape,
enums, the multi-shot rules, and the model profile's limits passed in the
validation context), and the body is the model's dump without unset fields.

In ``klingc build`` output an image is the string ``file:<path relative to the
script>`` and an element id is ``element:<Name>``; ``klingc render`` replaces
them with the Base64 image and the id of the element it created.
"""



import re
from typing import Literal, Optional, Union

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from .. import lower as L

# Kling's element tags (advanced-custom-elements `tag_list`).
ELEMENT_TAGS = {"character": "o_102", "location": "o_106", "prop": "o_104"}


def _limits(info: ValidationInfo):
    ctx = info.context or {}
    return ctx.get("profile")


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)


class MultiPrompt(_Body):
    index: int = Field(ge=1)
    prompt: str = Field(min_length=1)
    duration: str = Field(pattern=r"^[0-9]+$")

    @field_validator("prompt")
    @classmethod
    def _prompt_length(cls, v: str, info: ValidationInfo) -> str:
        profile = _limits(info)
        if profile is not None and len(v) > profile.shot_prompt_max:
            raise ValueError(f"at most {profile.shot_prompt_max} characters, not {len(v)}")
        return v


class _Video(_Body):
    model_name: str
    prompt: Optional[str] = None
    negative_prompt: Optional[str] = None
    duration: str = Field(pattern=r"^[0-9]+$")
    mode: Literal["std", "pro"]
    sound: Literal["on", "off"]
    multi_shot: Optional[bool] = None
    shot_type: Optional[Literal["customize"]] = None
    multi_prompt: Optional[list[MultiPrompt]] = None
    callback_url: Optional[str] = None
    external_task_id: Optional[str] = None

    @model_validator(mode="after")
    def _rules(self, info: ValidationInfo):
        profile = _limits(info)
        seconds = int(self.duration)
        if profile is not None:
            if not profile.job_min <= seconds <= profile.job_max:
                raise ValueError(f"duration must be {profile.job_min} to {profile.job_max}, not {seconds}")
            if self.prompt is not None and len(self.prompt) > profile.prompt_max:
                raise ValueError(f"prompt is over {profile.prompt_max} characters")
            if self.negative_prompt is not None and len(self.negative_prompt) > profile.negative_max:
                raise ValueError(f"negative_prompt is over {profile.negative_max} characters")
            if self.model_name != profile.model_name:
                raise ValueError(f"model_name must be {profile.model_name}")
        if self.multi_shot:
            if self.shot_type != "customize" or not self.multi_prompt:
                raise ValueError("multi_shot needs shot_type \"customize\" and multi_prompt")
            if self.prompt is not None:
                raise ValueError("prompt is not sent with multi_shot (Kling ignores it)")
            if [p.index for p in self.multi_prompt] != list(range(1, len(self.multi_prompt) + 1)):
                raise ValueError("multi_prompt indices must be 1, 2, 3... in order")
            if sum(int(p.duration) for p in self.multi_prompt) != seconds:
                raise ValueError("multi_prompt durations must add up to duration")
            if profile is not None:
                if len(self.multi_prompt) > profile.shots_per_job:
                    raise ValueError(f"at most {profile.shots_per_job} shots in multi_prompt")
                if any(int(p.duration) < profile.shot_min for p in self.multi_prompt):
                    raise ValueError(f"each shot lasts at least {profile.shot_min}s")
        else:
            if self.shot_type is not None or self.multi_prompt is not None:
                raise ValueError("shot_type and multi_prompt go with multi_shot: true")
            if not self.prompt:
                raise ValueError("prompt is required without multi_shot")
        return self


class Text2VideoRequest(_Video):
    """``POST /v1/videos/text2video``."""
    aspect_ratio: Literal["16:9", "9:16", "1:1"]


class Image2VideoRequest(_Video):
    """``POST /v1/videos/image2video``: a first frame (``image``) and/or a last frame (``image_tail``)."""
    image: Optional[str] = Field(default=None, min_length=1)
    image_tail: Optional[str] = Field(default=None, min_length=1)

    @model_validator(mode="after")
    def _frames(self):
        if not self.image and not self.image_tail:
            raise ValueError("image2video needs image or image_tail")
        if self.multi_shot and self.image_tail:
            raise ValueError("image_tail does not go with multi_shot")
        return self


class ImageInput(_Body):
    image_url: str = Field(min_length=1)
    type: Optional[Literal["first_frame", "end_frame"]] = None


class ElementInput(_Body):
    element_id: Union[int, str]

    @field_validator("element_id")
    @classmethod
    def _id(cls, v):
        if isinstance(v, str) and not (v.startswith("element:") and len(v) > len("element:")):
            raise ValueError("an element id is a number, or element:<Name> in build output")
        return v


class OmniVideoRequest(_Video):
    """``POST /v1/videos/omni-video``: elements, reference images and frames, ``<<<element_k>>>``."""
    aspect_ratio: Optional[Literal["16:9", "9:16", "1:1"]] = None
    image_list: Optional[list[ImageInput]] = None
    element_list: Optional[list[ElementInput]] = None

    @model_validator(mode="after")
    def _inputs(self, info: ValidationInfo):
        images = self.image_list or []
        types = [i.type for i in images if i.type]
        if types.count("first_frame") > 1 or types.count("end_frame") > 1:
            raise ValueError("at most one first_frame and one end_frame")
        if "end_frame" in types and "first_frame" not in types:
            raise ValueError("an end_frame needs a first_frame")
        if self.multi_shot and types:
            raise ValueError("frames do not go with multi_shot")
        if "first_frame" not in types and self.aspect_ratio is None:
            raise ValueError("aspect_ratio is required without a first frame")
        profile = _limits(info)
        total = len(images) + len(self.element_list or [])
        if profile is not None and total > profile.max_inputs:
            raise ValueError(f"at most {profile.max_inputs} reference inputs, not {total}")
        texts = [self.prompt or ""] + [p.prompt for p in self.multi_prompt or []]
        for text in texts:
            for kind, k in re.findall(r"<<<(element|image)_(\d+)>>>", text):
                have = len(self.element_list or []) if kind == "element" else len(images)
                if not 1 <= int(k) <= have:
                    raise ValueError(f"<<<{kind}_{k}>>> refers to no {kind} in the request")
        return self


class ReferImage(_Body):
    image_url: str = Field(min_length=1)


class ElementImages(_Body):
    frontal_image: str = Field(min_length=1)
    refer_images: list[ReferImage] = Field(min_length=1)


class Tag(_Body):
    tag_id: str


class ElementRequest(_Body):
    """``POST /v1/general/advanced-custom-elements``: a multi-image element."""
    element_name: str = Field(min_length=1)
    element_description: str = Field(min_length=1)
    reference_type: Literal["image_refer"] = "image_refer"
    element_image_list: ElementImages
    tag_list: Optional[list[Tag]] = None
    callback_url: Optional[str] = None
    external_task_id: Optional[str] = None

    @model_validator(mode="after")
    def _sizes(self, info: ValidationInfo):
        profile = _limits(info)
        if profile is not None:
            limits = profile.element
            if len(self.element_name) > limits.get("name_max_chars", 20):
                raise ValueError("element_name is too long")
            if len(self.element_description) > limits.get("description_max_chars", 100):
                raise ValueError("element_description is too long")
            most = limits.get("refer_images_max", 3)
            if len(self.element_image_list.refer_images) > most:
                raise ValueError(f"at most {most} refer_images")
        return self


MODELS = {"text2video": Text2VideoRequest, "image2video": Image2VideoRequest, "omni": OmniVideoRequest}


def file_ref(path: str) -> str:
    return "file:" + path


def element_ref(name: str) -> str:
    return "element:" + name


def video_request(job) -> dict:
    """The request body of a planned job (``plan.Job``), validated by its model."""
    s = job.settings
    profile = job.profile
    body: dict = {"model_name": profile.model_name}
    if job.structured:
        body.update(multi_shot=True, shot_type="customize",
                    multi_prompt=[{"index": i, "prompt": p, "duration": str(d)}
                                  for i, p, d in job.multi_prompt])
    else:
        body["prompt"] = job.prompt
    if s.negative:
        body["negative_prompt"] = s.negative
    body.update(duration=str(job.duration), mode=profile.mode(s.resolution),
                sound="on" if s.audio == "on" else "off")
    if job.kind == "text2video":
        body["aspect_ratio"] = s.aspect
    elif job.kind == "image2video":
        if job.first_frame is not None:
            body["image"] = file_ref(job.first_frame.path)
        if job.last_frame is not None:
            body["image_tail"] = file_ref(job.last_frame.path)
    else:
        images = [{"image_url": file_ref(path)} for path in job.ref_image_paths]
        if job.first_frame is not None:
            images.append({"image_url": file_ref(job.first_frame.path), "type": "first_frame"})
        if job.last_frame is not None:
            images.append({"image_url": file_ref(job.last_frame.path), "type": "end_frame"})
        if job.first_frame is None:
            body["aspect_ratio"] = s.aspect
        if images:
            body["image_list"] = images
        if job.kling_elements:
            body["element_list"] = [{"element_id": element_ref(n)} for n in job.kling_elements]
    model = MODELS[job.kind].model_validate(body, context={"profile": profile})
    return model.model_dump(mode="json", exclude_none=True)


def element_request(el: L.Element, profile) -> dict:
    """The creation request of an element with a frontal image and 1-3 more."""
    body = {
        "element_name": el.name,
        "element_description": el.description or el.name,
        "reference_type": "image_refer",
        "element_image_list": {
            "frontal_image": file_ref(el.images[0]),
            "refer_images": [{"image_url": file_ref(p)} for p in el.images[1:]],
        },
    }
    tag = ELEMENT_TAGS.get(el.kind)
    if tag:
        body["tag_list"] = [{"tag_id": tag}]
    model = ElementRequest.model_validate(body, context={"profile": profile})
    return model.model_dump(mode="json", exclude_none=True)

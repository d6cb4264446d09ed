"""What the planner makes: ``Job`` (one Kling generation) and ``Plan`` (every job of a production)."""

from typing import NamedTuple, Sequence

from .. import lower as L
from ..diagnostics.model import Diagnostic


class Job(NamedTuple):
    scene: L.Scene
    part: int
    parts: int
    shots: tuple[L.Shot, ...]
    duration: int
    endpoint: str                # API path
    kind: str                    # "text2video", "image2video" or "omni"
    structured: bool             # multi_shot with multi_prompt
    names: tuple[str, ...]       # every declared element the job mentions, first mention first
    kling_elements: tuple[str, ...]   # element_list, in order (<<<element_k>>>)
    ref_images: tuple[str, ...]       # elements sent as one reference image, in order (<<<image_k>>>)
    ref_image_paths: tuple[str, ...]  # their images (the frontal one), in the same order
    first_frame: L.Frame | None
    last_frame: L.Frame | None
    prompt: str | None
    multi_prompt: tuple[tuple[int, str, int], ...]   # (index, prompt, seconds)
    web: str | None              # the paste-ready page for the web app (set by `finish`)
    credits: float
    # (request, job id, API-rule problems, JSON text or None), when `finish` built it too
    built: tuple | None = None

    @property
    def settings(self) -> L.Settings:
        return self.scene.settings

    @property
    def profile(self):
        return self.scene.profile

    @property
    def shot_numbers(self) -> list[int]:
        return [s.number for s in self.shots]

    @property
    def inputs(self) -> int:
        frames = (self.first_frame is not None) + (self.last_frame is not None)
        return len(self.kling_elements) + len(self.ref_images) + (frames if self.kind == "omni" else 0)


class Plan(NamedTuple):
    production: L.Production
    jobs: tuple[Job, ...]
    diagnostics: tuple[Diagnostic, ...]
    pricing: dict
    # (request, element id, endpoint, API-rule problems) of each of `elements`, when `finish` built them
    built_elements: tuple | None = None
    api: str = "current"         # the API generation the requests are written for (current | legacy)
    callback_url: str | None = None   # Kling's callback option written into every job (build --callback-url)

    @property
    def elements(self) -> list[L.Element]:
        """The elements that become Kling elements, in order of first use."""
        seen: list[str] = []
        for job in self.jobs:
            for name in job.kling_elements:
                if name not in seen:
                    seen.append(name)
        return [self.production.elements[n] for n in seen]


def shots_label(shots: Sequence[L.Shot]) -> str:
    if len(shots) == 1:
        return f"Shot {shots[0].number}"
    return f"Shots {shots[0].number}–{shots[-1].number}"

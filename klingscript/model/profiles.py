"""Model profiles: the limits of each Kling model, read from data files."""

from __future__ import annotations

from functools import lru_cache
from typing import NamedTuple, Optional

from ..resources import data_path, data_toml


class Profile(NamedTuple):   # (not a dataclass: that module costs `klingc check` ~10 ms to import)
    name: str
    data: dict

    @property
    def label(self) -> str:
        """How the model is named to a writer: ``Kling 3.0``."""
        return self.data.get("display_name") or self.name

    @property
    def model_name(self) -> str: return self.data["model_name"]
    @property
    def job_min(self) -> int: return self.data["duration"]["job_min"]
    @property
    def job_max(self) -> int: return self.data["duration"]["job_max"]
    @property
    def shot_min(self) -> int: return self.data["duration"]["shot_min"]
    @property
    def shot_max(self) -> int: return self.data["duration"]["shot_max"]
    @property
    def shots_per_job(self) -> int: return self.data["shots"]["per_job"]
    @property
    def prompt_max(self) -> int: return self.data["prompt"]["max_chars"]
    @property
    def shot_prompt_max(self) -> int: return self.data["prompt"]["shot_max_chars"]
    @property
    def negative_max(self) -> int: return self.data["prompt"]["negative_max_chars"]
    @property
    def max_inputs(self) -> int: return self.data["references"]["max_inputs"]
    @property
    def languages(self) -> tuple[str, ...]: return tuple(self.data["speech"]["languages"])
    @property
    def aspect_ratios(self) -> tuple[str, ...]: return tuple(self.data["output"]["aspect_ratios"])
    @property
    def resolutions(self) -> tuple[str, ...]: return tuple(self.data["output"]["resolutions"])
    @property
    def images(self) -> dict: return self.data["images"]
    @property
    def element(self) -> dict: return self.data["element"]
    @property
    def endpoints(self) -> dict: return self.data["endpoints"]
    @property
    def frames(self) -> dict: return self.data["frames"]

    def mode(self, resolution: str) -> str:
        return self.data["output"]["modes"][resolution]


def available() -> list[str]:
    return sorted(p.stem for p in data_path("profiles").glob("*.toml"))


@lru_cache(maxsize=None)
def load(name: str) -> Optional[Profile]:
    if name not in available():
        return None
    return Profile(name, data_toml("profiles", f"{name}.toml"))

"""Model profiles: every limit of each Kling model, written once and read typed.

A model's limits -- durations, shots per job, prompt lengths, reference inputs
and how they combine, frames, image bounds, element fields, speech languages,
output choices, endpoints -- are written once, in
``klingscript/data/profiles/<name>.toml``, each table with the ``source`` of
its figures. This module is the only reader of those files: the checks
(``passes/check.py``), the planner, the API rules and request models
(``backends/rules.py``, ``backends/requests.py``), the simulator and the
language server all ask a ``Profile`` for a limit, by attribute
(``profile.element.name_max_chars``, ``profile.job_max``). There are no
defaults: a profile that lacks a limit, misspells one, or gives one of the
wrong type is refused with a ``ProfileError`` naming the file, the table and
the key.

Where profiles are read from: the package's own folder, or the folder named by
the environment variable ``KLINGSCRIPT_PROFILES`` (it replaces the built-in
folder; tests use it to change one limit in a copy of a profile and see every
consumer follow). ``folder()`` says which; ``fingerprint()`` identifies its
contents for caches.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Optional

from ..resources import data_path, data_toml
from .profile_source import ENV, fingerprint  # noqa: F401  (fingerprint: for cache keys)

_BUILT_IN = str(data_path("profiles"))


class ProfileError(ValueError):
    """A profile file that does not give every limit, or gives one of the wrong type."""


# -- the tables of a profile -------------------------------------------------------
#
# Each table class lists its limits as annotations; the attribute names are the
# TOML keys. The types accepted: int, float, bool, str, tuple[str, ...] (a TOML
# array of strings) and dict[str, str] (an inline table of strings).

def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


_TYPES = {
    "int": (_is_int, "a whole number", lambda v: v),
    "float": (lambda v: isinstance(v, (int, float)) and not isinstance(v, bool), "a number", float),
    "bool": (lambda v: isinstance(v, bool), "true or false", lambda v: v),
    "str": (lambda v: isinstance(v, str), "a string", lambda v: v),
    "tuple[str, ...]": (lambda v: isinstance(v, list) and all(isinstance(x, str) for x in v),
                        "a list of strings", tuple),
    "dict[str, str]": (lambda v: isinstance(v, dict) and all(isinstance(x, str) for x in v.values()),
                       "a table of strings", dict),
}


class _Table:
    """One table of a profile: its limits as read-only attributes, and its ``source``."""
    TABLE = ""
    source: str

    _FIELDS: dict[str, str] = {}

    def __init_subclass__(cls) -> None:
        fields: dict[str, str] = {}
        for klass in reversed(cls.__mro__):
            fields.update(klass.__dict__.get("__annotations__", {}))
        fields.pop("_FIELDS", None)
        cls._FIELDS = fields

    def __init__(self, where: str, values) -> None:
        if not isinstance(values, dict):
            raise ProfileError(f"{where}: [{self.TABLE}] is missing (or is not a table)")
        fields = self._FIELDS
        for key in values:
            if key not in fields:
                raise ProfileError(f"{where}: [{self.TABLE}] has an unknown key `{key}` "
                                   f"(the keys are {', '.join(fields)})")
        for key, kind in fields.items():
            if key not in values:
                raise ProfileError(f"{where}: [{self.TABLE}] has no `{key}`")
            test, what, convert = _TYPES[kind]
            if not test(values[key]):
                raise ProfileError(f"{where}: [{self.TABLE}] `{key}` must be {what}, not {values[key]!r}")
            object.__setattr__(self, key, convert(values[key]))

    @classmethod
    def fields(cls) -> dict[str, str]:
        """The table's keys and their types (``source`` included)."""
        return cls._FIELDS

    def __setattr__(self, key, value):
        raise AttributeError(f"a profile's [{self.TABLE}] is read-only")

    def __repr__(self) -> str:
        shown = ", ".join(f"{k}={getattr(self, k)!r}" for k in self.fields() if k != "source")
        return f"{type(self).__name__}({shown})"


class Endpoints(_Table):
    """The paths a model is served at; an empty string: not served there."""
    TABLE = "endpoints"
    text2video: str
    image2video: str
    omni: str
    element: str


class Duration(_Table):
    """Seconds: of a whole job (one request) and of one shot in it."""
    TABLE = "duration"
    job_min: int
    job_max: int
    shot_min: int
    shot_max: int


class Shots(_Table):
    """Structured multi-shot: how many shots one request takes."""
    TABLE = "shots"
    per_job: int


class Prompt(_Table):
    """Characters: of each structured shot's prompt, of the negative prompt (the prompt's own
    length depends on the API generation: ``[generations]``)."""
    TABLE = "prompt"
    shot_max_chars: int
    negative_max_chars: int


class References(_Table):
    """Reference inputs of one request: element and image inputs share ``max_inputs``; with a
    frame, at most ``elements_with_frame_max`` elements (omni); image to video takes at most
    ``image2video_elements_max`` elements."""
    TABLE = "references"
    max_inputs: int
    elements_with_frame_max: int
    image2video_elements_max: int


class Frames(_Table):
    """Which frames a model takes, and with what."""
    TABLE = "frames"
    first_frame: bool
    last_frame: bool
    with_multishot: bool                # any frame with structured multi-shot (klingc's stricter rule)
    first_frame_with_multishot: bool
    last_frame_with_multishot: bool
    last_alone: bool                    # a last frame without a first frame


class Images(_Table):
    """The bounds of an image input (frames, reference images, element images); ``max_bytes``
    is an element image's (the bytes of a frame or a reference image depend on the API
    generation: ``Profile.image_max_bytes``)."""
    TABLE = "images"
    formats: tuple[str, ...]
    min_side_px: int
    max_bytes: int
    min_aspect: float                   # width / height
    max_aspect: float


class Output(_Table):
    """What a model makes: aspect ratios, resolutions and the API ``mode`` of each."""
    TABLE = "output"
    aspect_ratios: tuple[str, ...]
    resolutions: tuple[str, ...]
    modes: dict[str, str]


class Speech(_Table):
    """The languages a model's native audio speaks."""
    TABLE = "speech"
    languages: tuple[str, ...]


class Element(_Table):
    """An element (``advanced-custom-elements``): its name, description, images, and the tag
    (``tag_list``) of each element kind."""
    TABLE = "element"
    name_max_chars: int
    description_max_chars: int
    refer_images_min: int               # images besides the frontal one
    refer_images_max: int
    tags: dict[str, str]                # element kind (character, animal...) -> tag id

    def tag(self, kind: str) -> Optional[str]:
        """The ``tag_id`` of an element of ``kind``, or None."""
        return self.tags.get(kind)

    @property
    def images_max(self) -> int:
        """The images an element may list: the frontal one and ``refer_images_max`` more."""
        return 1 + self.refer_images_max

    @property
    def images_min(self) -> int:
        """The images of an element that has ``images:``: a frontal one."""
        return 1

    @property
    def kling_images_min(self) -> int:
        """The images an element needs to be created as a Kling element (fewer: it is sent as
        reference images)."""
        return 1 + self.refer_images_min


class Voice(_Table):
    """A voice bound to an element: which kinds carry one, and the sample a custom voice is
    made from (``custom-voices`` ``voice_url``)."""
    TABLE = "voice"
    kinds: tuple[str, ...]              # element kinds a voice binds to
    voice_name_most_chars: int
    sample_formats: tuple[str, ...]     # file extensions, lower case, without the dot
    sample_min_seconds: float
    sample_max_seconds: float


class Generation(_Table):
    """The limits that differ between Kling's two API generations (``legacy``: flat fields,
    ``/v1/videos/...``; ``current``: ``contents``/``settings``, ``/.../kling-3.0``)."""
    TABLE = "generations.*"
    prompt_max_chars: int
    frame_max_bytes: int                # first and last frames
    refer_image_max_bytes: int          # reference images (an element of one image)
    end_frame_images_max: int           # omni: the images an end frame goes with, at most


# The API generations, and the one everything is made for until the `api:` setting chooses.
LEGACY, CURRENT = "legacy", "current"
GENERATIONS = (LEGACY, CURRENT)
DEFAULT_GENERATION = LEGACY

_TABLES = (Endpoints, Duration, Shots, Prompt, References, Frames, Images, Output, Speech, Element, Voice)
_TOP = {"name": "str", "display_name": "str", "model_name": "str", "description": "str"}


class Profile:
    """A model profile: ``name`` (its file's name), ``data`` (the file as read), and one typed
    attribute per table (``duration``, ``shots``, ``prompt``, ``references``, ``frames``,
    ``images``, ``output``, ``speech``, ``element``, ``voice``, ``endpoints``), with shorthands
    for the limits read most (``job_max``, ``shot_prompt_max``, ``max_inputs``, ``languages``...).

    A profile is read for one API ``generation`` (``legacy`` or ``current``): ``api`` is that
    generation's table of ``[generations]`` (prompt length, image bytes per use...), and
    ``prompt_max`` is its prompt length. ``load(name, generation)`` chooses it."""

    __slots__ = ("name", "data", "label", "model_name", "description", "generation", "api") + \
        tuple(t.TABLE for t in _TABLES)

    def __init__(self, name: str, data: dict, where: Optional[str] = None,
                 generation: str = DEFAULT_GENERATION) -> None:
        where = where or f"profile {name}"
        if not isinstance(data, dict):
            raise ProfileError(f"{where}: not a table")
        if generation not in GENERATIONS:
            raise ProfileError(f"{where}: `{generation}` is not an API generation "
                               f"({', '.join(GENERATIONS)})")
        set_ = object.__setattr__
        set_(self, "name", name)
        set_(self, "data", data)
        set_(self, "generation", generation)
        for key, kind in _TOP.items():
            test, what, _ = _TYPES[kind]
            if key not in data:
                raise ProfileError(f"{where}: no `{key}`")
            if not test(data[key]):
                raise ProfileError(f"{where}: `{key}` must be {what}")
        unknown = sorted(set(data) - set(_TOP) - {t.TABLE for t in _TABLES} - {"generations"})
        if unknown:
            raise ProfileError(f"{where}: unknown table or key `{unknown[0]}`")
        generations = data.get("generations")
        if not isinstance(generations, dict):
            raise ProfileError(f"{where}: [generations] is missing (or is not a table)")
        for g in sorted(set(generations) - set(GENERATIONS)):
            raise ProfileError(f"{where}: [generations.{g}] is not an API generation "
                               f"({', '.join(GENERATIONS)})")
        for g in GENERATIONS:
            table = Generation(where, generations.get(g)) if g == generation else None
            if g != generation and not isinstance(generations.get(g), dict):
                raise ProfileError(f"{where}: [generations.{g}] is missing (or is not a table)")
            if table is not None:
                set_(self, "api", table)
        set_(self, "label", data["display_name"] or name)
        set_(self, "model_name", data["model_name"])
        set_(self, "description", data["description"])
        for table in _TABLES:
            set_(self, table.TABLE, table(where, data.get(table.TABLE)))
        self._check_relations(where)

    def _check_relations(self, where: str) -> None:
        d = self.duration
        if not (1 <= d.shot_min <= d.shot_max <= d.job_max and 1 <= d.job_min <= d.job_max):
            raise ProfileError(f"{where}: [duration] needs 1 <= shot_min <= shot_max <= job_max "
                               f"and 1 <= job_min <= job_max")
        if set(self.output.modes) != set(self.output.resolutions):
            raise ProfileError(f"{where}: [output] `modes` must give a mode for each resolution, "
                               f"and only those")
        if not 0 < self.images.min_aspect <= self.images.max_aspect:
            raise ProfileError(f"{where}: [images] needs 0 < min_aspect <= max_aspect")

    def __setattr__(self, key, value):
        raise AttributeError("a profile is read-only")

    def __eq__(self, other) -> bool:
        return isinstance(other, Profile) and (self.name, self.generation, self.data) == \
            (other.name, other.generation, other.data)

    def __hash__(self) -> int:
        return hash((self.name, self.generation))

    def __reduce__(self):
        return (Profile, (self.name, self.data, None, self.generation))

    def __repr__(self) -> str:
        return f"Profile({self.name!r}, {self.generation!r})"

    def for_generation(self, generation: str) -> "Profile":
        """The same model's profile for API generation ``generation``."""
        if generation == self.generation:
            return self
        return Profile(self.name, self.data, None, generation)

    # -- the limits read most, by their usual names --
    @property
    def job_min(self) -> int: return self.duration.job_min
    @property
    def job_max(self) -> int: return self.duration.job_max
    @property
    def shot_min(self) -> int: return self.duration.shot_min
    @property
    def shot_max(self) -> int: return self.duration.shot_max
    @property
    def shots_per_job(self) -> int: return self.shots.per_job
    @property
    def prompt_max(self) -> int: return self.api.prompt_max_chars
    @property
    def shot_prompt_max(self) -> int: return self.prompt.shot_max_chars
    @property
    def negative_max(self) -> int: return self.prompt.negative_max_chars
    @property
    def max_inputs(self) -> int: return self.references.max_inputs
    @property
    def languages(self) -> tuple[str, ...]: return self.speech.languages
    @property
    def aspect_ratios(self) -> tuple[str, ...]: return self.output.aspect_ratios
    @property
    def resolutions(self) -> tuple[str, ...]: return self.output.resolutions

    IMAGE_USES = ("frame", "refer", "element")

    def image_max_bytes(self, use: str) -> int:
        """The bytes an image may have as a ``frame`` (first or last), a ``refer`` image (an
        element of one image) or an ``element`` image."""
        if use == "frame":
            return self.api.frame_max_bytes
        if use == "refer":
            return self.api.refer_image_max_bytes
        return self.images.max_bytes

    def mode(self, resolution: str) -> str:
        """The API ``mode`` that makes ``resolution``."""
        return self.output.modes[resolution]

    @property
    def modes(self) -> tuple[str, ...]:
        """The API ``mode`` values, sorted."""
        return tuple(sorted(set(self.output.modes.values())))


# -- loading -----------------------------------------------------------------------

def folder() -> Path:
    """Where profiles are read from: ``$KLINGSCRIPT_PROFILES``, else the package's own."""
    return Path(_where())


def _where() -> str:
    return os.environ.get(ENV) or _BUILT_IN


def available() -> list[str]:
    return list(_available(_where()))


def load(name: str, generation: str = DEFAULT_GENERATION) -> Optional[Profile]:
    """The profile called ``name`` for API generation ``generation``, or None when there is
    none; ``ProfileError`` when its file does not give every limit."""
    return _load(_where(), name, generation)


def by_model_name(model_name: str, generation: str = DEFAULT_GENERATION) -> Optional[Profile]:
    """The profile whose ``model_name`` (what a request names) is ``model_name``."""
    for candidate in available():
        p = load(candidate, generation)
        if p is not None and p.model_name == model_name:
            return p
    return None


@lru_cache(maxsize=None)
def _available(where: str) -> tuple[str, ...]:
    return tuple(sorted(p.stem for p in Path(where).glob("*.toml")))


@lru_cache(maxsize=None)
def _load(where: str, name: str, generation: str = DEFAULT_GENERATION) -> Optional[Profile]:
    if name not in _available(where):
        return None
    path = Path(where) / f"{name}.toml"
    if where == _BUILT_IN:
        data = data_toml("profiles", path.name)
    else:
        import tomllib

        from ..files import read_checked

        try:
            data = tomllib.loads(read_checked(path, "data").decode("utf-8"))
        except OSError as e:
            raise ProfileError(f"{path}: cannot be read ({e.strerror or e})") from None
        except (UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
            raise ProfileError(f"{path}: cannot be read ({e})") from None
    return Profile(name, data, str(path), generation)

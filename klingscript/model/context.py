"""Effective settings: what a document, or one of its scenes, is made with.

A scene is made with the document's settings, overridden by the scene's own:
model (and so the model profile), resolution, aspect, audio, speech language,
style, negative prompt and multishot mode. This module is the one place that
works them out; the passes, lowering (and so the planner) and the language
server all ask it.

The first of a repeated setting counts, and a value the front end rejects
(an unknown model, a language no one speaks) is passed over, so the default
or the document's value stands: the front end reports the problem, and such
a program is never built.
"""

from __future__ import annotations

from typing import NamedTuple

from . import languages, profiles
from . import settings as S


class Settings(NamedTuple):
    model: str
    resolution: str
    aspect: str
    audio: str
    language: str
    style: str | None
    negative: str | None
    multishot: str
    api: str = "current"        # the document's (one API generation per plan): current | legacy
    continuity: str = "none"    # chain: a split scene's later parts start from the part before


class Context(NamedTuple):
    settings: Settings
    profile: profiles.Profile
    spans: dict                  # key -> span of the setting that gave the value (scene or document)

    @property
    def language(self) -> str:
        return self.settings.language


def _defaults() -> dict:
    values = dict(S.DEFAULTS)
    values.update({"style": None, "negative": None})
    return values


def _apply(items, values: dict, spans: dict, document: bool = False) -> None:
    firsts = {}
    for s in items:   # the first of a repeated setting counts
        if s.key in S.SCENE_OVERRIDABLE or (document and s.key == "api"):
            firsts.setdefault(s.key, s)
    model = firsts.get("model")
    if model is not None and profiles.load(model.value.strip()) is not None:
        values["model"] = model.value.strip()
        spans["model"] = model.span
    profile = profiles.load(values["model"]) or default_model()
    for key, s in firsts.items():
        text = s.value.strip()
        if key == "model":
            continue
        if key in ("resolution", "aspect", "audio", "multishot", "api", "continuity"):
            if text not in S.allowed(key, profile):
                continue
        elif key == "language":
            text = languages.lookup(text)
            if text is None:
                continue
        elif key in ("style", "negative"):
            text = text or None
        values[key] = text
        spans[key] = s.span


def generation(values: dict) -> str:
    """The API generation a document or scene is made for (``profiles.GENERATIONS``): the one
    place that chooses it, from the `api:` setting (or `--api`) in ``values["api"]``."""
    return values.get("api") or profiles.DEFAULT_GENERATION


def _context(values: dict, spans: dict) -> Context:
    settings = Settings(values["model"], values["resolution"], values["aspect"], values["audio"],
                        values["language"], values["style"], values["negative"], values["multishot"],
                        values["api"], values["continuity"])
    gen = generation(values)
    profile = profiles.load(settings.model, gen) or default_model().for_generation(gen)
    return Context(settings, profile, spans)


def of_document(doc, api: str | None = None) -> Context:
    """The effective settings of a document (``model:``, ``language:``… at its top); ``api``
    (``--api``) overrides its ``api:`` setting."""
    values, spans = _defaults(), {}
    _apply(doc.settings, values, spans, document=True)
    if api is not None:
        values["api"] = api
    return _context(values, spans)


def of_scene(document: Context, scene) -> Context:
    """The effective settings of ``scene``: the document's ``Context``, overridden by the scene's own."""
    if not scene.settings:
        return document._replace(spans=dict(document.spans))
    values, spans = dict(document.settings._asdict()), dict(document.spans)
    _apply(scene.settings, values, spans)
    return _context(values, spans)


def of_program_scenes(program) -> tuple[Context, list[Context]]:
    """The main document's context and each of its scenes', worked out once per program."""
    cached = program.contexts
    if cached is None:
        doc = program.main.doc
        document = of_document(doc, getattr(program, "api", None))
        cached = (document, [of_scene(document, scene) for scene in doc.scenes])
        program.contexts = cached
    return cached


def of(program, scene=None) -> Context:
    """The context of ``scene`` (a scene node of the main document), or of the main document."""
    document, scenes = of_program_scenes(program)
    if scene is None:
        return document
    for s, ctx in zip(program.main.doc.scenes, scenes):
        if s is scene:
            return ctx
    return of_scene(document, scene)


def default_model() -> profiles.Profile:
    return profiles.load(S.DEFAULTS["model"])


"""Prompt text, from the Jinja2 templates in ``klingscript/templates``.

Three templates make every prompt: ``job.j2`` (a job sent as one prompt),
``shot.j2`` (one shot of a structured multi-shot job) and ``webapp.j2`` (the
paste-ready text for Kling's web app); ``_lines.j2`` holds the pieces they
share (dialogue, sound cues, cast, location, ambience, style). A folder given
with ``--templates DIR`` overrides any of them by file name.

References are written here, not in the templates: in API prompts an element
with images becomes ``<<<element_k>>>`` (or ``<<<image_k>>>`` for a single
reference image) by its position in the job's lists; in web-app prompts it
stays ``@Name``. An element without images is written by name, and its
description (and, when it speaks, its voice) goes into the prompt's cast lines;
so does the description of an element of one image (sent as a reference
image, which carries no description); a Kling element carries its own.

A cast line is ``Name — description; voice: …`` (or ``Voice of Name — …``):
never ``Name: …`` or ``Name (…): …``, the shapes Kling reads as dialogue.

``PlainRenderer`` writes exactly what the built-in templates write, in plain
Python and without Jinja2: the planner measures prompt lengths with it (so
``klingc check`` does not load Jinja2), and the tests hold it equal to the
templates. Output files are always rendered from the templates.
"""

from __future__ import annotations

import re
from pathlib import Path
from functools import lru_cache
from types import SimpleNamespace
from typing import Optional

from .. import lower as L
from ..resources import PACKAGE

TEMPLATES = PACKAGE / "templates"

_END = tuple('.!?…"\'”’)]」』。！？')


class TemplateError(Exception):
    """A template is missing or broken (a user's template folder, usually)."""


_SPACES = re.compile(r"\s+")
_RUNS = re.compile(r"[ \t]+")
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_PROMPT_MACRO = re.compile(r"\{%[-+]?\s*macro\s+prompt\s*\(")


class Ctx(SimpleNamespace):
    """A template context object (attribute access is faster in Jinja2 than dict lookups)."""

    def __repr__(self):
        return f"Ctx({self.__dict__!r})"


@lru_cache(maxsize=4096)
def display_name(name: str) -> str:
    """How an element without images is named in prose: ``CoffeeShop`` -> ``Coffee Shop``."""
    spaced = _CAMEL.sub(" ", name).replace("_", " ")
    return _SPACES.sub(" ", spaced).strip() or name


def sentence(text: Optional[str], end: bool = True) -> str:
    """``text`` on one line, ending in punctuation (or, with end=False, without a final period)."""
    if not text:
        return ""
    if "  " in text or "\n" in text or "\t" in text or "\r" in text:
        text = _SPACES.sub(" ", text)
    text = text.strip()
    if not text:
        return ""
    if end:
        return text if text.endswith(_END) else text + "."
    return text[:-1].rstrip() if text.endswith(".") and not text.endswith("..") else text


class Refs:
    """How references are written in one job's prompts."""

    def __init__(self, elements: dict, mode: str, tokens: Optional[dict] = None,
                 element_min_images: Optional[int] = None, kling: tuple = ()):
        self.elements = elements
        self.mode = mode            # "api" or "web"
        self.tokens = tokens or {}  # name -> <<<element_k>>> / <<<image_k>>> / @name (api)
        self.kling = frozenset(kling)   # the job's Kling elements (api)
        # The images that make a Kling element (profile [element]); fewer: a reference image.
        self.element_min_images = element_min_images

    def imaged(self, name: str) -> bool:
        el = self.elements.get(name)
        return el is not None and bool(el.images)

    def is_kling_element(self, name: str) -> bool:
        """Whether the element is sent as a Kling element, which carries its own description
        (``element_description``); an element of one image is sent as a reference image."""
        if self.mode == "api":
            return name in self.kling
        el = self.elements.get(name)
        if el is None or not el.images:
            return False
        return self.element_min_images is None or len(el.images) >= self.element_min_images

    def described(self, name: str) -> bool:
        """Whether the prompt describes the element in words: every element but a Kling element
        (an element of one image is shown as a reference image, and described too)."""
        return not self.is_kling_element(name)

    def word(self, name: str) -> str:
        if self.mode == "api":
            token = self.tokens.get(name)
            if token is not None:
                return token
        elif self.imaged(name):
            return "@" + name
        return display_name(name)

    def prose(self, pieces: L.Prose) -> str:
        out = []
        for p in pieces:
            if type(p) is str:
                out.append(p)
            else:
                out.append(self.word(p.name) if p.declared else "@" + p.name)
        return "".join(out)


def _line(line: L.Line, refs: Refs) -> Ctx:
    if isinstance(line, L.Speech):
        who = refs.word(line.element) if line.element is not None else line.speaker
        how = ([line.offscreen] if line.offscreen else []) + list(line.tones)
        return Ctx(kind="dialogue", who=who, how=how, language=line.language, what=line.text,
                   text=line.text)
    if isinstance(line, L.Cue):
        return Ctx(kind="sound", text=line.text)
    return Ctx(kind="action", text=refs.prose(line.text))


def _mentioned(lines, shots) -> tuple[list[str], set[str]]:
    """Element names mentioned (first-mention order) and those who speak."""
    names: dict[str, None] = {}   # an ordered set
    speakers: set[str] = set()

    def note(line) -> None:
        kind = type(line)
        if kind is L.Action:
            for p in line.text:
                if type(p) is not str:
                    names[p.name] = None
        elif kind is L.Speech and line.element is not None:
            names[line.element] = None
            speakers.add(line.element)

    for line in lines:
        note(line)
    for shot in shots:
        for p in shot.text:
            if type(p) is not str:
                names[p.name] = None
        for line in shot.lines:
            note(line)
    return list(names), speakers


def _cast(scene: L.Scene, lines, shots, refs: Refs, described=(), voiced=()) -> list[Ctx]:
    """Cast lines: each element without images by its description, and the voice of each
    character who speaks; ``described`` and ``voiced`` were given earlier in the job."""
    names, speakers = _mentioned(lines, shots)
    location = scene.location.name if scene.location is not None else None
    out = []
    for name in names:
        el = refs.elements.get(name)
        if el is None or name == location:
            continue
        voice = el.voice if (name in speakers and el.kind == "character" and name not in voiced) else None
        description = None
        if refs.described(name) and name not in described:
            description = el.description or display_name(name)
        if description or voice:
            out.append(Ctx(who=refs.word(name), description=description, voice=voice))
    return out


def cast_names(shot: L.Shot) -> tuple[set, set]:
    """The element names a shot describes (mentions) and voices (speakers)."""
    names, speakers = _mentioned((), [shot])
    return set(names), speakers


def _scene(scene: L.Scene, refs: Refs) -> Ctx:
    location = None
    if scene.location is not None and scene.location.declared:
        name = scene.location.name
        if not refs.described(name):
            location = refs.word(name)
        elif refs.imaged(name):   # a reference image: shown, and described
            description = refs.elements[name].description
            location = refs.word(name) + (", " + sentence(description, False) if description else "")
        else:
            location = refs.elements[name].description or display_name(name)
    s = scene.settings
    return Ctx(number=scene.number, title=scene.title, location=location, sound=scene.sound,
               style=s.style, negative=s.negative, language=s.language,
               preamble=[_line(l, refs) for l in scene.preamble])


def _shot(shot: L.Shot, index: int, refs: Refs) -> Ctx:
    return Ctx(number=shot.number, index=index, seconds=shot.seconds, text=refs.prose(shot.text),
               lines=[_line(l, refs) for l in shot.lines])


def normalize(text: str) -> str:
    """An API prompt: each line stripped, runs of spaces joined, blank lines dropped."""
    out = []
    for line in text.splitlines():
        if "  " in line or "\t" in line:
            line = _RUNS.sub(" ", line)
        line = line.strip()
        if line:
            out.append(line)
    return "\n".join(out)


def normalize_page(text: str) -> str:
    """A paste-ready page: trailing spaces and repeated blank lines removed."""
    out: list[str] = []
    for line in text.splitlines():
        line = line.rstrip()
        if not line and (not out or not out[-1]):
            continue
        out.append(line)
    while out and not out[-1]:
        out.pop()
    return "\n".join(out) + "\n"


def _job_ctx(scene, shots, refs, numbered) -> Ctx:
    return Ctx(numbered=numbered, shots=[_shot(s, i, refs) for i, s in enumerate(shots, 1)],
               cast=_cast(scene, scene.preamble, shots, refs))


def _shot_ctx(scene, shot, index, first, refs, described, voiced) -> Ctx:
    preamble = scene.preamble if first else ()
    ctx = _shot(shot, index, refs)
    ctx.first = first
    ctx.cast = _cast(scene, preamble, [shot], refs, described, voiced)
    return ctx


def _bytecode_cache(jinja2):
    """Compiled templates kept between runs (compiling them is most of a small build's
    Jinja2 time), in klingc's cache (``cache.template_cache``: keyed by each template's
    name and source, so an edited template is compiled again; entries authenticated,
    since Jinja2 runs the code it loads). None when the cache is off."""
    from .. import cache

    return cache.template_cache(jinja2)


def _user_templates(folder: Path) -> dict[str, str]:
    """The templates (``*.j2``, by name) of a user's folder, each read as klingc reads the files it
    is given (``files.read_text``: a regular file of a sane size, none holding an API secret);
    Jinja2 then reads nothing from that folder itself. ``TemplateError`` for one it cannot read."""
    from ..files import read_text

    out = {}
    for p in sorted(folder.iterdir()):
        if p.suffix == ".j2":
            try:
                out[p.name] = read_text(p, "data")
            except OSError as e:
                raise TemplateError(f"{p}: cannot read it ({e.strerror or e})") from None
    return out


class Renderer:
    """Renders prompts from the package's templates, or a user's folder that overrides them."""

    exact = True   # lengths measured with it are the lengths written

    def __init__(self, templates: Optional[str | Path] = None):
        import jinja2

        loaders = []
        self.custom = templates is not None
        if templates is not None:
            folder = Path(templates)
            if not folder.is_dir():
                raise TemplateError(f"{templates}: no such template folder")
            loaders.append(jinja2.DictLoader(_user_templates(folder)))
        loaders.append(jinja2.FileSystemLoader(str(TEMPLATES)))
        self.env = jinja2.Environment(loader=jinja2.ChoiceLoader(loaders), autoescape=False,
                                      undefined=jinja2.StrictUndefined, keep_trailing_newline=True,
                                      auto_reload=False, bytecode_cache=_bytecode_cache(jinja2))
        self.env.filters["sentence"] = sentence
        self._jinja = jinja2
        self._templates: dict = {}

    def _render(self, name: str, **context) -> str:
        """Render template ``name``: through its ``prompt`` macro when it has one (its imports
        are then loaded once, not on every prompt), else as a whole template."""
        jinja2 = self._jinja
        try:
            entry = self._templates.get(name)
            if entry is None:
                template = self.env.get_template(name)
                entry = self._templates[name] = (template, self._macro(template))
            template, macro = entry
            if macro is not None:
                return str(macro(**context))
            return template.render(**context)
        except jinja2.TemplateSyntaxError as e:
            raise TemplateError(f"{e.filename or name}:{e.lineno}: {e.message}") from None
        except jinja2.TemplateError as e:
            raise TemplateError(f"{name}: {e}") from None
        except Exception as e:  # a user's template can fail in many ways
            raise TemplateError(f"{name}: {type(e).__name__}: {e}") from None

    def _macro(self, template):
        """The template's ``prompt`` macro, when it defines one and loads without a context."""
        source, _, _ = self.env.loader.get_source(self.env, template.name)
        if not _PROMPT_MACRO.search(source):   # (a look at the text: parsing it takes longer)
            return None
        try:
            return getattr(template.module, "prompt", None)
        except Exception:  # its top level needs the context: render it whole
            return None

    def single(self, scene: L.Scene, shots, refs: Refs, numbered: bool) -> str:
        """The one prompt of a job (shotless scene, one shot, or `multishot: text`)."""
        return normalize(self._render("job.j2", scene=_scene(scene, refs),
                                      job=_job_ctx(scene, shots, refs, numbered)))

    def shot(self, scene: L.Scene, shot: L.Shot, index: int, first: bool, refs: Refs,
             described=(), voiced=()) -> str:
        """The prompt of one shot of a structured multi-shot job.

        ``first``: the job's first shot (it carries the scene's context);
        ``described``/``voiced``: names whose description/voice an earlier shot of the job gave.
        """
        return normalize(self._render("shot.j2", scene=_scene(scene, refs),
                                      shot=_shot_ctx(scene, shot, index, first, refs, described, voiced)))

    def webapp(self, scene: L.Scene, job: dict, blocks: list[dict], refs: Refs) -> str:
        s = scene.settings
        settings = Ctx(model=scene.profile.label,
                       resolution=s.resolution, aspect=s.aspect, audio=s.audio)
        # Each element the page names, with the image files to upload for it in the web app.
        uploads = [Ctx(name=n, images=list(refs.elements[n[1:]].images)) for n in job.get("elements", ())
                   if n[1:] in refs.elements and refs.elements[n[1:]].images]
        job = Ctx(**job, blocks=[Ctx(**b) for b in blocks], uploads=uploads)
        return normalize_page(self._render("webapp.j2", scene=_scene(scene, refs), job=job,
                                           settings=settings))


class PlainRenderer:
    """The built-in templates' text, written in Python (for measuring prompts while planning)."""

    exact = False  # final prompts are rendered from the templates and measured again

    def __init__(self):
        # A scene's opening and closing lines are the same in every prompt of the scene
        # written with the same references: (scene, elements, mode, tokens) -> lines.
        self._scene_lines: dict = {}

    def _framing(self, scene: L.Scene, refs: Refs) -> tuple[list[str], list[str]]:
        """The opening and closing lines of ``scene``'s prompts."""
        key = (id(scene), id(refs.elements), refs.mode, tuple(refs.tokens.items()))
        hit = self._scene_lines.get(key)
        if hit is None or hit[0] is not scene or hit[1] is not refs.elements:
            sc = _scene(scene, refs)
            # The scene and elements are kept so that their ids are not reused.
            hit = self._scene_lines[key] = (scene, refs.elements, self._opening(sc), self._closing(sc))
        return hit[2], hit[3]

    def single(self, scene: L.Scene, shots, refs: Refs, numbered: bool) -> str:
        opening, closing = self._framing(scene, refs)
        job = _job_ctx(scene, shots, refs, numbered)
        out = list(opening)
        for s in job.shots:
            head = f"Shot {s.index} ({s.seconds}s): " if job.numbered else ""
            out.append(head + self._shot(s))
        out.extend(self._cast(c) for c in job.cast)
        out.extend(closing)
        return normalize("\n".join(out))

    def shot(self, scene: L.Scene, shot: L.Shot, index: int, first: bool, refs: Refs,
             described=(), voiced=()) -> str:
        ctx = _shot_ctx(scene, shot, index, first, refs, described, voiced)
        out = [self._shot(ctx)]
        out.extend(self._cast(c) for c in ctx.cast)
        if first:
            opening, closing = self._framing(scene, refs)
            out = [*opening, *out, *closing]
        return normalize("\n".join(out))

    # _lines.j2, macro by macro
    @staticmethod
    def _line(l: Ctx) -> str:
        if l.kind == "dialogue":
            return f'{l.who} ({", ".join(l.how + [l.language])}): "{l.what}"'
        if l.kind == "sound":
            return "Sound effect: " + sentence(l.text)
        return sentence(l.text)

    def _shot(self, s: Ctx) -> str:
        return sentence(s.text) + "".join(" " + self._line(l) for l in s.lines)

    @staticmethod
    def _cast(c: Ctx) -> str:
        if c.description:
            voice = f"; voice: {sentence(c.voice, False)}" if c.voice else ""
            return f"{c.who} — {sentence(c.description, False)}{voice}."
        if c.voice:
            return f"Voice of {c.who} — {sentence(c.voice)}"
        return ""

    def _opening(self, sc: Ctx) -> list[str]:
        out = ["Location: " + sentence(sc.location)] if sc.location else []
        out.extend(self._line(l) for l in sc.preamble)
        return out

    @staticmethod
    def _closing(sc: Ctx) -> list[str]:
        out = []
        if sc.sound:
            out.append("Ambient sound: " + sentence(sc.sound))
        if sc.style:
            out.append("Style: " + sentence(sc.style))
        return out

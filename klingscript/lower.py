"""Lowering: the checked syntax tree becomes a resolved production.

A production is what the planner works from: every scene with its effective
settings (the document's settings, overridden by the scene's own), its shots
with their durations (written or inferred from dialogue), its references
resolved to the declared elements (including elements from ``use`` files),
and its dialogue with speaker, tones, language and off-screen voice.

Paths in a production are relative to the folder of the script given to
klingc (the project folder), with ``/`` separators, whichever file they were
written in. Lowering never fails: a value the front end rejected falls back to
its default (the front end has reported it; such a program is not built).
"""

import os
import re
from pathlib import Path
from typing import NamedTuple

from .syntax import ast as A
from .model import context, profiles, timing
from .model.settings import PREVIOUS_FRAME
from .model.context import Settings
from .project import Program, SourceFile


class Element(NamedTuple):
    name: str
    kind: str                    # character | animal | location | prop
    description: str | None
    images: tuple[str, ...]      # relative to the script's folder, '/'-separated
    voice: str | None
    span: A.Span                 # the name in its declaration
    file: str                    # display path of the declaring file
    voice_id: str | None = None          # a Kling voice to bind (`voice id:`)
    voice_sample: str | None = None      # the clip to make one from (`voice sample:`), like images


class Mention(NamedTuple):
    """``@Name`` inside prose, resolved to a declared element (or not, when undeclared)."""
    name: str
    declared: bool
    span: A.Span


Prose = tuple[str | Mention, ...]   # text pieces and mentions, in order


class Speech(NamedTuple):
    speaker: str                 # the element's name or the role as written
    element: str | None          # the element's name when the speaker is a declared element
    tones: tuple[str, ...]
    language: str                # canonical language name
    offscreen: str | None        # None, "voice-over" or "off-screen"
    text: str
    span: A.Span


class Cue(NamedTuple):
    """A ``sound:`` line inside a shot or a preamble."""
    text: str
    span: A.Span


class Action(NamedTuple):
    text: Prose
    span: A.Span


Line = Speech | Cue | Action


class Shot(NamedTuple):
    number: int                  # position in the scene, from 1
    seconds: int
    inferred: bool
    text: Prose
    lines: tuple[Line, ...]
    span: A.Span                 # the shot's head (``Shot 3 (4s)``)


class Frame(NamedTuple):
    path: str                    # an image file; for a chained frame the request's placeholder
    span: A.Span
    chained: bool = False        # the last frame of the part or scene before (``previous:``)


# A chained frame's placeholder in plan.json: ``previous:S`` (the last part of scene S) or
# ``previous:S.P`` (scene S part P); `klingc render` sends the last frame of that job's picked take.
PREVIOUS = "previous:"


def previous_frame(scene: int, part: int | None, span: A.Span) -> Frame:
    return Frame(f"{PREVIOUS}{scene}" + (f".{part}" if part is not None else ""), span, True)


class Scene(NamedTuple):
    number: int                  # position in the script, from 1
    title: str
    settings: Settings
    profile: profiles.Profile
    location: Mention | None
    sound: str | None            # the scene's ambience
    first_frame: Frame | None
    last_frame: Frame | None
    preamble: tuple[Line, ...]
    shots: tuple[Shot, ...]
    seconds: int | None          # a scene without shots: its duration (None when unknown)
    inferred: bool               # a scene without shots: whether the duration was inferred
    span: A.Span                 # the scene's head line
    title_span: A.Span
    setting_spans: dict          # key -> span of the setting that gave the value (scene or document)

    @property
    def duration(self) -> int:
        if self.shots:
            return sum(s.seconds for s in self.shots)
        return self.seconds or 0


class Production(NamedTuple):
    title: str
    source: str                  # the script's file name
    root: Path                   # the project folder
    elements: dict               # name -> Element
    scenes: tuple[Scene, ...]


_OFFSCREEN_VO = {"v.o.", "vo", "voice-over", "voice over"}


def lower(program: Program, scenes: set[int] | None = None) -> Production:
    """The production of a checked program; ``scenes`` limits it to some scene numbers."""
    main = program.main
    doc = main.doc
    _, contexts = context.of_program_scenes(program)
    elements = {name: _element(program, decl.file, decl.element)
                for name, decl in program.elements.items()}
    out = []
    for number, scene in enumerate(doc.scenes, 1):
        if scenes is not None and number not in scenes:
            continue
        lowered = _scene(program, main, scene, number, contexts[number - 1], elements)
        if lowered is not None:
            out.append(lowered)
    title_setting = doc.setting("title")
    title = title_setting.value.strip() if title_setting is not None and title_setting.value.strip() \
        else main.path.stem
    return Production(title, main.path.name, program.root, elements, tuple(out))


def relative_path(program: Program, base: SourceFile, rel: str) -> str:
    """``rel``, written in ``base``, as a path relative to the script's folder."""
    target = program.resolve_path(base, rel)
    try:
        out = os.path.relpath(target, program.main.path.parent)
    except ValueError:  # another drive on Windows
        out = str(target)
    return out.replace(os.sep, "/")


def _element(program: Program, f: SourceFile, el: A.Element) -> Element:
    images = tuple(relative_path(program, f, v.value) for v in el.images if v.value.strip())
    sample = el.voice_sample
    sample_path = relative_path(program, f, sample.value) if sample is not None and sample.value.strip() \
        else None
    return Element(el.name, el.kind, el.description, images, el.voice, el.name_span, f.display,
                   el.voice_id, sample_path)


def _scene(program: Program, f: SourceFile, scene: A.Scene, number: int, ctx: context.Context,
           elements: dict) -> Scene | None:
    settings, profile, lang = ctx.settings, ctx.profile, ctx.language
    spans = dict(ctx.spans)

    def frame(key: str) -> Frame | None:
        s = scene.setting(key)
        if key == "first frame" and s is not None and not s.values and s.bare is not None \
                and s.bare.value.strip() == PREVIOUS_FRAME:
            spans[key] = s.span
            return previous_frame(number - 1, None, s.span)
        if s is None or not s.values or not s.values[0].value.strip():
            return None
        spans[key] = s.span
        return Frame(relative_path(program, f, s.values[0].value), s.values[0].span)

    sound_setting = scene.setting("sound")
    sound = sound_setting.value.strip() if sound_setting is not None and sound_setting.value.strip() else None
    if sound_setting is not None:
        spans["sound"] = sound_setting.span
    location = None
    if scene.location is not None:
        location = Mention(scene.location.name, scene.location.name in elements, scene.location.span)

    shots = []
    for i, shot in enumerate(scene.shots, 1):
        seconds, inferred = timing.shot_duration(shot, lang)
        if seconds is None:
            seconds = 0  # not whole seconds: reported by the front end
        text = _prose(shot.text, elements) if shot.text is not None else ()
        shots.append(Shot(i, seconds, inferred, text, _lines(shot.lines, elements, lang),
                          shot.head_span.to(shot.duration.span if shot.duration else shot.number_span)))
    seconds: int | None = None
    inferred = False
    if not scene.shots:
        if scene.duration is not None:
            seconds = scene.duration.seconds
        else:
            seconds, inferred = timing.infer_duration(scene.preamble, lang), True
    head = scene.head_span
    return Scene(number, scene.title.value, settings, profile, location, sound,
                 frame("first frame"), frame("last frame"),
                 _lines(scene.preamble, elements, lang), tuple(shots), seconds, inferred,
                 head, scene.title.span, spans)


def _lines(lines, elements: dict, lang: str) -> tuple[Line, ...]:
    out: list[Line] = []
    for line in lines:
        if isinstance(line, A.Dialogue):
            out.append(_speech(line, elements, lang))
        elif isinstance(line, A.Sound):
            out.append(Cue(line.text.value.strip(), line.span))
        elif isinstance(line, A.Action):
            out.append(Action(_prose(line.text, elements), line.span))
    return tuple(out)


def _speech(d: A.Dialogue, elements: dict, default_language: str) -> Speech:
    speaker = d.speaker.name
    element = speaker if isinstance(d.speaker, A.Ref) and speaker in elements else None
    tones: tuple[str, ...] = ()
    offscreen = None
    if d.direction is not None:
        tones = tuple(t.strip() for t in d.direction.tones if t.strip())
        if d.direction.offscreen:
            offscreen = "off-screen"
            for item in d.direction.items:
                if item.value.strip().casefold() in _OFFSCREEN_VO:
                    offscreen = "voice-over"
    return Speech(speaker, element, tones, timing.line_language(d, default_language), offscreen,
                  d.line.value, d.span)


_REF = re.compile(r"@([^\W\d_]\w*)")


def _prose(text: A.Text, elements: dict) -> Prose:
    """Split prose into text and mentions, using the reference spans the parser found."""
    value = text.value
    pieces: list = []
    pos = 0
    for ref in text.refs:
        off = ref.span.start - text.span.start
        token = "@" + ref.name
        if not (0 <= off and value[off:off + len(token)] == token and off >= pos):
            return _prose_by_pattern(text, elements)
        if off > pos:
            pieces.append(value[pos:off])
        pieces.append(Mention(ref.name, ref.name in elements, ref.span))
        pos = off + len(token)
    if pos < len(value):
        pieces.append(value[pos:])
    return tuple(pieces)


def _prose_by_pattern(text: A.Text, elements: dict) -> Prose:
    pieces: list = []
    pos = 0
    for m in _REF.finditer(text.value):
        name = m.group(1)[:20]
        if name not in elements:
            continue
        if m.start() > pos:
            pieces.append(text.value[pos:m.start()])
        pieces.append(Mention(name, True, text.span.sub(m.start(), len(name) + 1)))
        pos = m.start() + 1 + len(name)
    if pos < len(text.value):
        pieces.append(text.value[pos:])
    return tuple(pieces)


def mentions(scene: Scene):
    """Every mention of an element in a scene, in script order (location first)."""
    if scene.location is not None:
        yield scene.location
    for line in scene.preamble:
        yield from _line_mentions(line)
    for shot in scene.shots:
        yield from shot_mentions(shot)


def shot_mentions(shot: Shot):
    for p in shot.text:
        if isinstance(p, Mention):
            yield p
    for line in shot.lines:
        yield from _line_mentions(line)


def _line_mentions(line: Line):
    if isinstance(line, Action):
        for p in line.text:
            if isinstance(p, Mention):
                yield p
    elif isinstance(line, Speech) and line.element is not None:
        yield Mention(line.element, True, line.span)

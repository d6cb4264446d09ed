"""Checks that need no compilation: settings, shots, durations, languages, elements, images.

- KLS103 unknown setting or field; KLS104 invalid value (allowed values, nearest
  suggestion, missing or unquoted values, a setting given twice).
- KLS301 shot durations (whole seconds, within the model's per-shot range).
- KLS303 shot numbering; KLS304 speech languages the model does not speak.
- KLS307 element limits (a bound voice on an element that cannot carry one included);
  KLS501 images (bytes by use: frame, reference image, element image); KLS502 paths
  leaving the project folder; KLS503 voice samples; KLS410 a placeholder description.

Every limit comes from the model profile of the document, or of the scene
when the scene overrides ``model:``.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Optional

from ..syntax import ast as A
from ..model import context, languages, profiles
from ..model import settings as S
from ..diagnostics.codes import make
from ..diagnostics.model import Diagnostic, Label
from ..project import Program, SourceFile
from ..model.settings import join_and
from .resolve import KIND_WORD

PLACEHOLDER_PREFIX = "TODO:"   # a description that says it is yet to be written (KLS410)


def run(program: Program) -> list[Diagnostic]:
    return _Checker(program).run()


def check_document(program: Program) -> list[Diagnostic]:
    """The checks of every file's settings and elements (the document-level part of ``run``)."""
    return _Checker(program).document()


def check_scene(program: Program, scene: A.Scene) -> list[Diagnostic]:
    """The checks of one scene of the main file."""
    c = _Checker(program)
    c.scene(program.main, scene)
    return c.diags


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


class _Checker:
    def __init__(self, program: Program):
        self.program = program
        self.diags: list[Diagnostic] = []
        self.main_profile = context.of(program).profile

    def add(self, code: str, span: A.Span, message: str, help: Optional[str] = None,
            labels=()) -> None:
        self.diags.append(make(code, span, message, help=help, labels=labels))

    def run(self) -> list[Diagnostic]:
        self.document()
        doc = self.program.main.doc
        for scene, ctx in zip(doc.scenes, context.of_program_scenes(self.program)[1]):
            self.scene(self.program.main, scene, ctx)
        return self.diags

    def document(self) -> list[Diagnostic]:
        for f in self.program.files.values():
            profile = self.main_profile if f is self.program.main else context.of_document(f.doc).profile
            self.document_settings(f, profile)
            for el in f.doc.elements:
                self.element(f, el)
        return self.diags

    # -- settings -----------------------------------------------------------
    def document_settings(self, f: SourceFile, profile: profiles.Profile) -> None:
        seen: dict[str, A.Setting] = {}
        for s in f.doc.settings:
            if s.key not in S.DOCUMENT_SETTINGS:
                self.unknown_document_setting(s)
                continue
            if self.duplicate(s, seen):
                continue
            self.value(s, profile)

    def unknown_document_setting(self, s: A.Setting) -> None:
        if s.key in S.SCENE_ONLY:
            self.add("KLS103", s.key_span, f"`{s.key}:` is a scene setting, not a document setting",
                     help="move it into a scene, under `scene \"…\":`")
            return
        if s.key in S.ELEMENT_FIELDS:
            self.add("KLS103", s.key_span, f"`{s.key}:` is a field of an element, not a document setting",
                     help="put it inside an element, e.g. under `character Name:`")
            return
        self.add("KLS103", s.key_span, f"unknown setting `{s.key}:`",
                 help=self.suggest_key(s.key, S.DOCUMENT_SETTINGS))

    @staticmethod
    def suggest_key(key: str, candidates) -> str:
        near = S.nearest(key, list(candidates))
        if near is not None:
            return f"did you mean `{near}:`?"
        return "the settings are " + join_and(f"`{k}`" for k in candidates)

    def duplicate(self, s: A.Setting, seen: dict[str, A.Setting]) -> bool:
        first = seen.get(s.key)
        if first is None:
            seen[s.key] = s
            return False
        fs = first.key_span
        self.add("KLS104", s.key_span, f"`{s.key}:` is given twice",
                 help=f"keep one of them (the first is at line {fs.line})",
                 labels=[Label(fs, f"`{s.key}:` first given here")])
        return True

    def value(self, s: A.Setting, profile: profiles.Profile) -> None:
        """Check the value of a document or scene setting."""
        key = s.key
        if not s.values and s.bare is None:
            self.add("KLS104", s.key_span, f"`{key}:` has no value", help=self.example_help(key, profile))
            return
        if key in S.QUOTED_ONLY:
            if not s.values and key == "first frame" and s.bare.value.strip() == S.PREVIOUS_FRAME:
                return  # the last frame of the scene before (lowering and the planner check it)
            if not s.values:
                what = "path" if key.endswith("frame") else "text"
                self.add("KLS104", s.bare.span, f"the {what} of `{key}:` must be in quotes",
                         help=f'write `{key}: "{s.bare.value}"`')
                return
        if len(s.values) > 1:
            self.add("KLS104", s.values[1].span.to(s.values[-1].span),
                     f"`{key}:` takes one value, not {len(s.values)}",
                     help="keep one of them" if key not in ("style", "negative", "sound")
                     else "join them into one string")
            return
        text = s.value.strip()
        span = s.value_span
        if key == "model":
            names = profiles.available()
            if text not in names:
                self.bad_choice(s, text, span, names, "a model klingc knows", "the models are")
        elif key in ("resolution", "aspect"):
            allowed = list(S.allowed(key, profile))
            if text not in allowed:
                what = "a resolution" if key == "resolution" else "an aspect ratio"
                self.bad_choice(s, text, span, allowed, f"{what} {profile.label} makes",
                                f"{profile.label} makes")
        elif key in ("audio", "multishot", "api", "continuity"):
            allowed = list(S.allowed(key, profile))
            if text not in allowed:
                extra = None
                if key == "audio":
                    folded = text.casefold()
                    if folded in ("yes", "true", "1", "enabled", "sound"):
                        extra = "write `audio: on`"
                    elif folded in ("no", "false", "0", "disabled", "none", "silent", "mute"):
                        extra = "write `audio: off`"
                self.bad_choice(s, text, span, allowed, f"a value of `{key}:`", "write", help=extra)
        elif key == "language":
            self.language_setting(s, text, span, profile)
        elif key == "title":
            if not text:
                self.add("KLS104", span, "the title is empty", help='write `title: "My Film"`')
        elif key in ("first frame", "last frame"):
            pass  # the image itself is checked with the scene's images
        # style, negative, sound: free text

    def bad_choice(self, s: A.Setting, text: str, span: A.Span, allowed, what: str, lead: str,
                   help: Optional[str] = None) -> None:
        shown = text if text else "(empty)"
        allowed_text = join_and([f"`{a}`" for a in allowed], "or" if lead == "write" else "and")
        message = f"`{shown}` is not {what}; {lead} {allowed_text}"
        if help is None:
            near = _nearest_value(text, allowed)
            if near is not None:
                help = f"did you mean `{s.key}: {near}`?"
        self.add("KLS104", span, message, help=help)

    def language_setting(self, s: A.Setting, text: str, span: A.Span, profile: profiles.Profile) -> None:
        lang = languages.lookup(text)
        if lang is None:
            self.add("KLS104", span, f"`{text}` is not a language klingc knows",
                     help=_language_help(text, profile))
            return
        if lang not in profile.languages:
            self.add("KLS304", span, _not_spoken(lang, profile),
                     help="write the lines in one of those languages; "
                          "`language:` is the language the characters speak")

    @staticmethod
    def example_help(key: str, profile: profiles.Profile) -> str:
        examples = {
            "model": f"write `model: {S.DEFAULTS['model']}` (the models are {join_and(profiles.available())})",
            "resolution": "write one of " + join_and([f"`resolution: {r}`" for r in profile.resolutions], "or"),
            "aspect": "write one of " + join_and([f"`aspect: {r}`" for r in profile.aspect_ratios], "or"),
            "audio": "write `audio: on` or `audio: off`",
            "multishot": "write `multishot: api` or `multishot: text`",
            "api": "write `api: current` or `api: legacy`",
            "continuity": "write `continuity: chain` or `continuity: none`",
            "language": f"write `language: {S.DEFAULTS['language']}`",
            "title": 'write `title: "My Film"`',
            "style": 'write `style: "warm light, 35mm"`',
            "negative": 'write `negative: "text, watermark"`',
            "first frame": 'write `first frame: "frames/start.png"`',
            "last frame": 'write `last frame: "frames/end.png"`',
            "sound": 'write `sound: "rain on the window"`',
            "description": 'write `description: "…"` '
                           f'(at most {profile.element.description_max_chars} characters)',
            "images": 'write `images: "refs/front.png"` (the first is the frontal view)',
            "voice": 'write `voice: "warm, low alto"`',
            "voice id": 'write `voice id: "…"` (`klingc voices` lists the voices of your account)',
            "voice sample": 'write `voice sample: "voices/mara.wav"` (5 to 30 seconds of one voice)',
        }
        return examples.get(key, "give it a value or delete the line")

    # -- elements -----------------------------------------------------------
    def placeholder(self, el: A.Element) -> None:
        """KLS410: a description still ``TODO: …`` (what ``klingc import`` writes): it is sent
        to Kling as what the element looks like."""
        fld = el.field("description")
        if fld is not None and fld.values and fld.value.lstrip().startswith(PLACEHOLDER_PREFIX):
            self.add("KLS410", fld.values[0].span,
                     f"the description of @{el.name} is a placeholder: Kling would get "
                     f"\"{fld.value}\" as what {el.name} looks like",
                     help=f'describe {el.name}: `description: "…"` (at most '
                          f'{self.main_profile.element.description_max_chars} characters)')

    def element(self, f: SourceFile, el: A.Element) -> None:
        profile = self.main_profile
        limits = profile.element
        name_max = limits.name_max_chars
        if len(el.name) > name_max:
            self.add("KLS307", el.name_span,
                     f"the name {el.name} is {len(el.name)} characters; Kling element names are at most {name_max}",
                     help=f"shorten it to {name_max} characters or fewer")
        if el.field("images") is not None and el.field("description") is None:
            self.add("KLS307", el.name_span,
                     f"{el.name} has images but no description; Kling needs both to create an element",
                     help=f'add `description: "…"` under {el.kind} {el.name} '
                          f'(at most {limits.description_max_chars} characters)')
        self.placeholder(el)
        seen: dict[str, A.Setting] = {}
        for fld in el.fields:
            if fld.key not in S.ELEMENT_FIELDS:
                if fld.key in S.DOCUMENT_SETTINGS or fld.key in S.SCENE_SETTINGS:
                    self.add("KLS103", fld.key_span, f"`{fld.key}:` is a setting, not a field of an element",
                             help="an element has `description:`, `images:` and (characters) `voice:`")
                else:
                    near = S.nearest(fld.key, S.ELEMENT_FIELDS)
                    self.add("KLS103", fld.key_span, f"unknown field `{fld.key}:` in {el.kind} {el.name}",
                             help=f"did you mean `{near}:`?" if near else
                             "an element has `description:`, `images:` and (characters) `voice:`")
                continue
            if self.duplicate(fld, seen):
                continue
            if fld.key in S.VOICE_BINDINGS:
                if not self.voice_binding(f, el, fld, profile):
                    continue
            elif fld.key == "voice" and el.kind != "character":
                self.add("KLS307", fld.key_span,
                         f"only characters have a voice; {el.name} is {KIND_WORD[el.kind]}",
                         help="delete the `voice:` line, or declare it as `character "
                              f"{el.name}:`")
                continue
            if not fld.values and fld.bare is None:
                self.add("KLS104", fld.key_span, f"`{fld.key}:` has no value",
                         help=self.example_help(fld.key, profile))
                continue
            if not fld.values:
                self.add("KLS104", fld.bare.span, f"the {'paths' if fld.key == 'images' else 'text'} of "
                         f"`{fld.key}:` must be in quotes",
                         help=f'write `{fld.key}: "{fld.bare.value}"`' if fld.key != "images" else
                         'write each path in quotes: `images: "refs/front.png", "refs/side.png"`')
                continue
            if fld.key in ("description", "voice") + S.VOICE_BINDINGS and len(fld.values) > 1:
                self.add("KLS104", fld.values[1].span.to(fld.values[-1].span),
                         f"`{fld.key}:` takes one string, not {len(fld.values)}",
                         help="join them into one string")
                continue
            if fld.key == "description":
                self.description(el, fld, limits)
            elif fld.key == "images":
                self.element_images(f, el, fld, profile)
            elif fld.key == "voice sample":
                self.voice_sample(f, el, fld.values[0], profile)
            elif fld.key == "voice id" and not fld.values[0].value.strip():
                self.add("KLS104", fld.values[0].span, f"the voice id of {el.name} is empty",
                         help="write the id of a Kling voice (`klingc voices` lists them)")

    def voice_binding(self, f: SourceFile, el: A.Element, fld: A.Setting,
                      profile: profiles.Profile) -> bool:
        """KLS307 for `voice id:` or `voice sample:` on an element that cannot carry a Kling voice,
        KLS104 for both of them; whether the field's value is worth checking further."""
        kinds = profile.voice.kinds
        if el.kind not in kinds:
            self.add("KLS307", fld.key_span,
                     f"a Kling voice binds only to {join_and([KIND_WORD[k].split()[1] + 's' for k in kinds])}; "
                     f"{el.name} is {KIND_WORD[el.kind]}",
                     help=f"delete the `{fld.key}:` line, or declare {el.name} as "
                          f"`{kinds[0]} {el.name}:`")
            return False
        least = profile.element.kling_images_min
        have = len(el.images)
        if have < least:
            had = "no images" if not have else f"{_plural(have, 'image')}"
            self.add("KLS307", fld.key_span,
                     f"{el.name} has {had}, so it is not a Kling element, and a Kling voice binds to "
                     f"an element; Kling makes an element from a frontal image and "
                     f"{_plural(least - 1, 'more')}",
                     help=f'give {el.name} `images: "refs/{el.name.lower()}_front.png", '
                          f'"refs/{el.name.lower()}_side.png"`, or delete the `{fld.key}:` line '
                          f"(`voice:` describes the voice in the prompts)")
            return False
        other = next((g for g in el.fields if g.key in S.VOICE_BINDINGS and g.key != fld.key), None)
        if other is not None and fld.key == S.VOICE_BINDINGS[1]:
            self.add("KLS104", fld.key_span,
                     f"{el.name} has both `voice id:` and `voice sample:`; a voice is bound one way",
                     help="keep `voice id:` for a voice Kling has, or `voice sample:` to make one "
                          "from the clip", labels=[Label(other.key_span, "`voice id:` given here")])
            return False
        return True

    def voice_sample(self, f: SourceFile, el: A.Element, s: A.Str, profile: profiles.Profile) -> None:
        from ..model import voices

        what = f"the voice sample of {el.name}"
        rel = s.value
        target = self.project_file(f, s, what, "KLS503", "clip", "voices/mara.wav")
        if target is None:
            return
        suffix = Path(rel).suffix
        formats = profile.voice.sample_formats
        info = voices.inspect(target) if suffix.lower().lstrip(".") in formats else None
        if info is not None and not info.exists:
            self.not_found(f, s, what, target, "KLS503")
            return
        info = info or voices.SampleInfo(target, True)
        for message, help in voices.problems(info, profile.voice, suffix):
            self.add("KLS503", s.span, f"{what}, \"{rel}\", {message}", help=help)

    def description(self, el: A.Element, fld: A.Setting, limits: profiles.Element) -> None:
        text = fld.values[0].value
        most = limits.description_max_chars
        if len(text) > most:
            over = len(text) - most
            self.add("KLS307", fld.values[0].span,
                     f"the description of {el.name} is {len(text)} characters; Kling takes at most {most}",
                     help=f"shorten it by {_plural(over, 'character')}")
        elif not text.strip():
            self.add("KLS104", fld.values[0].span, f"the description of {el.name} is empty",
                     help="describe how it looks in a few words")

    def element_images(self, f: SourceFile, el: A.Element, fld: A.Setting,
                       profile: profiles.Profile) -> None:
        most = profile.element.images_max
        least = profile.element.images_min
        values = fld.values
        if len(values) > most:
            extra = values[most:]
            self.add("KLS307", extra[0].span.to(extra[-1].span),
                     f"{el.name} has {len(values)} images; an element takes {least} to {most} "
                     f"(the first is the frontal view)",
                     help=f"keep the {most} that show {el.name} best")
        use = "element" if len(values) >= profile.element.kling_images_min else "refer"
        for v in values:
            self.image(f, v, f"an image of {el.name}", profile, use)

    # -- images and paths -----------------------------------------------------
    def project_file(self, f: SourceFile, s: A.Str, what: str, code: str, noun: str,
                     example: str) -> Optional[Path]:
        """The file a path names (noted as one the result depends on), or None after ``code``
        for an empty path or KLS502 for one outside the project folder."""
        rel = s.value
        if not rel.strip():
            self.add(code, s.span, f"the path of {what} is empty",
                     help=f'write the {noun}\'s path, e.g. "{example}"')
            return None
        target = self.program.resolve_path(f, rel)
        self.program.touched.add(target)   # the result depends on this file (see compiler.py)
        try:
            outside = not self.program.allow_outside and not self.program.inside_root(target)
        except OSError as e:            # a symbolic link loop
            self.add(code, s.span, f"{what}, \"{rel}\", cannot be read ({e.strerror or e})")
            return None
        if outside:
            self.add("KLS502", s.span, f"\"{rel}\" is outside the project folder "
                     f"(the folder of {Path(self.program.main.display).name})",
                     help=f"copy the {noun} into the project folder, or run klingc with --allow-outside")
            return None
        return target

    def not_found(self, f: SourceFile, s: A.Str, what: str, target: Path, code: str) -> None:
        rel = s.value
        shown = self.program.display_path(f, rel)
        near = _nearest_file(target)
        help = f'did you mean "{_replace_name(rel, near)}"?' if near else \
            "check the file name; paths are relative to the script they are written in"
        self.add(code, s.span, f"cannot find {what}: \"{rel}\" (looked for {shown})", help=help)

    _USE_WORDS = {"frame": "frames", "refer": "reference images", "element": "element images"}

    def image(self, f: SourceFile, s: A.Str, what: str, profile: profiles.Profile,
              use: str = "frame") -> None:
        """KLS501/KLS502 for an image used as ``use`` (``Profile.IMAGE_USES``)."""
        from ..model import images

        rel = s.value
        target = self.project_file(f, s, what, "KLS501", "image", "refs/front.png")
        if target is None:
            return
        info = images.inspect(target)
        label = profile.label
        if not info.exists:
            self.not_found(f, s, what, target, "KLS501")
            return
        for message, help in images.problems(info, profile.images, label, profile.image_max_bytes(use),
                                             self._USE_WORDS[use]):
            self.add("KLS501", s.span, f"{what}, \"{rel}\", {message}", help=help)

    # -- scenes ---------------------------------------------------------------
    def scene(self, f: SourceFile, scene: A.Scene, ctx: Optional[context.Context] = None) -> None:
        ctx = ctx if ctx is not None else context.of(self.program, scene)
        profile = ctx.profile
        seen: dict[str, A.Setting] = {}
        for s in scene.settings:
            if s.key not in S.SCENE_SETTINGS:
                if s.key == "api":
                    self.add("KLS103", s.key_span, "`api:` is a document setting: one plan holds the "
                             "requests of one API generation", help="move it to the top of the file")
                elif s.key == "title":
                    self.add("KLS103", s.key_span, "`title:` is a document setting; a scene's title is "
                             "written after `scene`",
                             help=f'write it as `scene "{s.value}":`' if s.value else
                             "move it to the top of the file")
                elif s.key in S.ELEMENT_FIELDS:
                    self.add("KLS103", s.key_span, f"`{s.key}:` is a field of an element, not a scene setting",
                             help="declare an element for it, e.g. `location Name:` with this field")
                else:
                    self.add("KLS103", s.key_span, f"unknown scene setting `{s.key}:`",
                             help=self.suggest_key(s.key, S.SCENE_SETTINGS))
                continue
            if self.duplicate(s, seen):
                continue
            self.value(s, profile)
            if s.key in ("first frame", "last frame") and len(s.values) == 1:
                self.image(f, s.values[0], f"the {s.key}", profile, "frame")
        if scene.duration is not None and scene.duration.seconds is None:
            self.add("KLS301", scene.duration.span,
                     f"the scene's duration `{scene.duration.text}` is not whole seconds",
                     help=_duration_help(scene.duration.text, 10))
        self.numbering(scene)
        for shot in scene.shots:
            self.shot_duration(shot, profile, ctx.language)
        for line in scene.lines():
            if isinstance(line, A.Dialogue):
                self.dialogue_language(line, profile)

    def numbering(self, scene: A.Scene) -> None:
        for i, shot in enumerate(scene.shots, 1):
            if shot.number == i:
                continue
            if shot.number is None:
                message = f"`{shot.number_text}` is not a shot number; this is shot {i} of the scene"
            elif i > 1 and shot.number == scene.shots[i - 2].number:
                message = f"there are two shots numbered {shot.number}; this one should be Shot {i}"
            else:
                message = f"this should be Shot {i}: shots are numbered 1, 2, 3… in order within each scene"
            self.add("KLS303", shot.number_span, message, help=f"write `Shot {i}`")
            return  # the first wrong number is enough; the rest follow from it

    def shot_duration(self, shot: A.Shot, profile: profiles.Profile, lang: str) -> None:
        from ..model import timing

        label = profile.label
        lo, hi = profile.shot_min, profile.shot_max
        name = f"Shot {shot.number_text}"
        d = shot.duration
        if d is not None:
            if d.seconds is None:
                self.add("KLS301", d.span, f"the duration of {name}, `{d.text}`, is not whole seconds",
                         help=_duration_help(d.text, 3))
            elif d.seconds < lo:
                self.add("KLS301", d.span,
                         f"{name} is {d.seconds}s long; {label} takes shots of {lo} to {hi} seconds",
                         help=f"make it at least ({lo}s)")
            elif d.seconds > hi:
                self.add("KLS301", d.span,
                         f"{name} is {d.seconds}s long; {label} takes shots of {lo} to {hi} seconds",
                         help="split it into two shots")
            return
        seconds = timing.infer_duration(shot.lines, lang)
        if seconds > hi:
            head = shot.head_span.to(shot.number_span)
            self.add("KLS301", head,
                     f"{name} has no duration and is inferred as {seconds}s from its dialogue; "
                     f"{label} takes shots of {lo} to {hi} seconds",
                     help="split the dialogue over two shots")

    def dialogue_language(self, d: A.Dialogue, profile: profiles.Profile) -> None:
        if d.direction is None or d.direction.language is None:
            return
        item = d.direction.language
        lang = languages.lookup(item.value)
        if lang is not None and lang not in profile.languages:
            example = "English" if "English" in profile.languages else profile.languages[0]
            self.add("KLS304", item.span, _not_spoken(lang, profile),
                     help=f"translate the line into one of those languages and mark it, e.g. `({example})`")


# -- helpers ------------------------------------------------------------------

def _not_spoken(lang: str, profile: profiles.Profile) -> str:
    return (f"{lang} is not a language {profile.label} speaks "
            f"(it speaks {join_and(profile.languages)})")


def _language_help(text: str, profile: profiles.Profile) -> str:
    names = languages.all_languages()
    near = S.nearest(text, names)
    if near is not None:
        return f"did you mean `{near}`?"
    return f"{profile.label} speaks {join_and(profile.languages)}"


def _nearest_value(text: str, allowed) -> Optional[str]:
    folded = {a.casefold(): a for a in allowed}
    if text.casefold() in folded:
        return folded[text.casefold()]
    compact = re.sub(r"[\s\"'“”]", "", text).casefold()
    for a in allowed:
        if compact == a.casefold() or compact.replace("x", ":").replace("/", ":") == a:
            return a
    if compact.isdigit():
        for a in allowed:
            if a.rstrip("p") == compact:
                return a
    return S.nearest(text, allowed, limit=1 if len(text) <= 4 else 2)


def _duration_help(text: str, example: int) -> str:
    m = re.search(r"\d+(?:[.,]\d+)?", text)
    if m:
        value = float(m.group(0).replace(",", "."))
        if re.search(r"\d\s*(m|min|mins|minutes?)\s*\)?$", text.strip("() ")):
            value *= 60
        seconds = max(1, math.ceil(value - 1e-9))
        return f"write whole seconds like ({seconds}s)"
    return f"write whole seconds like ({example}s)"


def _nearest_file(target: Path) -> Optional[str]:
    try:
        names = [p.name for p in target.parent.iterdir() if p.is_file()]
    except OSError:
        return None
    if not names:
        return None
    lowered = {n.casefold(): n for n in names}
    if target.name.casefold() in lowered:
        return lowered[target.name.casefold()]
    return S.nearest(target.name, names)


def _replace_name(rel: str, name: str) -> str:
    head, sep, _ = rel.replace("\\", "/").rpartition("/")
    return f"{head}{sep}{name}"

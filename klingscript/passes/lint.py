"""Warnings and notes: KLS401, KLS402, KLS404, KLS405, KLS406.

- KLS401 (warning): dialogue that takes longer to say than its shot lasts
  (shots with a written duration; a shotless scene with ``(Ns)`` is one shot).
- KLS402 (warning): a line whose text is written in a script its language
  does not use (Hangul marked English, Latin text marked Korean).
- KLS404 (note): every duration klingc infers from dialogue.
- KLS405 (warning): an action line shaped like dialogue without quotes
  (``Waiter (cheerful, French): Voilà…``, or ``Grace: …`` when ``@Grace`` is
  declared): it is sent as action, and Kling may or may not speak it.
- KLS411 (warning): a dialogue speaker written without ``@`` who is a
  declared element (``passes/speakers.py``).
- KLS406 (warning): a ``#`` in action text that looks like a comment
  (``She stops.   # note``): only a ``#`` starting a line, or after a closing
  quote, is a comment; this one is sent to Kling as prompt text.
"""

from __future__ import annotations

import re

from typing import Optional

from ..syntax import ast as A
from ..model import languages
from ..model import timing
from ..diagnostics.codes import make
from ..diagnostics.model import Diagnostic
from ..project import Program
from ..model.settings import join_and
from ..model import context
from ..syntax.shapes import PARENS, REF, ROLE
from .speakers import speaker_hint

# The language a script most likely means, for the fix of KLS402.
_SCRIPT_LANGUAGE = {"Hangul": "Korean", "Hiragana": "Japanese", "Katakana": "Japanese",
                    "Han": "Chinese", "Latin": "English"}


# How a script is named to a writer.
_SCRIPT_WORDS = {"Hangul": "Hangul", "Hiragana": "Japanese kana", "Katakana": "Japanese kana",
                 "Han": "Chinese characters", "Latin": "Latin letters", "Cyrillic": "Cyrillic letters",
                 "Greek": "Greek letters", "Arabic": "Arabic script", "Hebrew": "Hebrew script",
                 "Devanagari": "Devanagari script", "Thai": "Thai script"}


def run(program: Program) -> list[Diagnostic]:
    diags: list[Diagnostic] = []
    doc = program.main.doc
    _, scenes = context.of_program_scenes(program)
    for scene, ctx in zip(doc.scenes, scenes):
        _scene(scene, ctx, diags, program.elements)
    return diags


def lint_scene(program: Program, scene: A.Scene) -> list[Diagnostic]:
    """The warnings and notes of one scene of the main file."""
    diags: list[Diagnostic] = []
    _scene(scene, context.of(program, scene), diags, program.elements)
    return diags


def _scene(scene: A.Scene, ctx, diags: list[Diagnostic], elements=()) -> None:
    lang, profile = ctx.language, ctx.profile
    _timing(scene, lang, diags)
    for line in scene.lines():
        if isinstance(line, A.Dialogue):
            _script(line, lang, profile.languages, diags)
            hint = speaker_hint(line, elements) if elements else None
            if hint is not None:
                diags.append(hint)
        elif isinstance(line, A.Action):
            _prose(line.text, elements, diags)
    for shot in scene.shots:
        if shot.text is not None:
            _prose(shot.text, elements, diags)


# `Waiter (cheerful, French): Voilà…`: a speaker, a direction and a colon, the words unquoted.
_UNQUOTED = re.compile("(?P<who>" + REF + "|" + ROLE + r")[ \t]*(?P<dir>" + PARENS + r")?[ \t]*:[ \t]*"
                       "(?P<words>[^\"\u201c\\s].*)$")
# A `#` that reads as a comment: after a space, followed by a space or the end, or after two spaces.
_HASH = re.compile(r"(?:(?<=\s)#(?=\s|$)|(?<=\s\s)#)")


def _prose(text: A.Text, elements, diags: list[Diagnostic]) -> None:
    """KLS405 and KLS406 for a line of prose (an action line or a shot line's text)."""
    value = text.value
    m = _UNQUOTED.match(value)
    if m is not None:
        who, direction, words = m.group("who"), m.group("dir"), m.group("words").rstrip()
        name = who[1:] if who.startswith("@") else who
        declared = name in elements
        if direction is not None or who.startswith("@") or declared:
            speaker = who if who.startswith("@") or not declared else "@" + who
            head = speaker + (f" {direction}" if direction else "")
            end = _HASH.search(words)
            spoken = words[:end.start()].rstrip() if end else words
            diags.append(make("KLS405", text.span.sub(0, len(value.rstrip())),
                              f"this line is written like dialogue of {name}, without quotes: it is sent "
                              f"to Kling as action, which may or may not speak it",
                              help=f'quote the line to make it dialogue: `{head}: "{spoken}"`'))
    h = _HASH.search(value)
    if h is not None:
        note = value[h.start():].rstrip()
        diags.append(make("KLS406", text.span.sub(h.start(), len(note)),
                          "this `#` is not a comment: it and what follows are sent to Kling as prompt "
                          "text (a comment starts a line, or follows a closing quote)",
                          help=f"put the note on a line of its own (`{note}`), or delete it"))


def _fmt(seconds: float) -> str:
    return f"{seconds:.1f}".rstrip("0").rstrip(".")


def _dialogue_count(lines) -> int:
    return sum(1 for l in lines if isinstance(l, A.Dialogue))


def _timing(scene: A.Scene, lang: str, diags: list[Diagnostic]) -> None:
    title = scene.title.value
    if not scene.shots:
        lines = scene.preamble
        if scene.duration is None:
            seconds = timing.infer_duration(lines, lang)
            diags.append(make("KLS404", scene.title.span, _inferred_message(
                f'scene "{title}" has no duration', seconds, lines),
                help=f'write `scene "{title}" ({seconds}s):` to choose it yourself'))
        elif scene.duration.seconds is not None:
            _fits(scene.duration, lines, lang, f'scene "{title}"', diags)
        return
    for shot in scene.shots:
        name = f"Shot {shot.number_text}"
        if shot.duration is None:
            seconds = timing.infer_duration(shot.lines, lang)
            head = shot.head_span.to(shot.number_span)
            diags.append(make("KLS404", head, _inferred_message(f"{name} has no duration", seconds, shot.lines),
                              help=f"write `{name} ({seconds}s):` to choose it yourself"))
        elif shot.duration.seconds is not None:
            _fits(shot.duration, shot.lines, lang, name, diags)


def _inferred_message(lead: str, seconds: int, lines) -> str:
    if _dialogue_count(lines):
        return f"{lead}; it is inferred as {seconds}s from its dialogue"
    return f"{lead} and no dialogue; it gets the minimum, {seconds}s"


def _fits(duration: A.Duration, lines, lang: str, name: str, diags: list[Diagnostic]) -> None:
    needed = timing.dialogue_seconds(lines, lang)
    brisk = needed / timing.rates().get("lint", {}).get("brisk_factor", 1.0)
    if brisk <= duration.seconds + 1e-9:
        return
    enough = timing.infer_duration(lines, lang)
    count = _dialogue_count(lines)
    what = "its dialogue takes" if count == 1 else f"its {count} lines of dialogue take"
    diags.append(make("KLS401", duration.span,
                      f"{name} lasts {duration.seconds}s, but {what} about {_fmt(needed)}s to say "
                      f"(at least {_fmt(brisk)}s even spoken fast)",
                      help=f"make it ({enough}s), or shorten the dialogue"))


def _script(d: A.Dialogue, default: str, spoken, diags: list[Diagnostic]) -> None:
    lang = timing.line_language(d, default)
    ok, script = languages.script_matches(d.line.value, lang)
    if ok or script is None:
        return
    marked = d.direction is not None and d.direction.language is not None
    guess = _SCRIPT_LANGUAGE.get(script)
    shown = _SCRIPT_WORDS.get(script, f"{script} script")
    if marked:
        message = f"this line is written in {shown} but marked {lang}"
    else:
        message = f"this line is written in {shown} but is spoken in {lang}, the scene's language"
    help: Optional[str] = None
    if guess is not None and (guess in spoken or not spoken):
        if marked:
            help = f"if it is {guess}, change `{d.direction.language.value}` to `{guess}`"
        else:
            help = f"if it is {guess}, mark the line: `({guess})` after the speaker"
    elif spoken:
        help = f"write the line in {lang}, or mark its language ({join_and(spoken, 'or')})"
    diags.append(make("KLS402", d.line.span, message, help=help))

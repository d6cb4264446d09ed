"""A KlingScript written out as a Fountain screenplay (``klingc export FILE.kls --fountain``).

Built on the compiler's syntax tree (``project.load_program``, checked by
``compiler.front_end``), it writes what a screenplay app reads: a title page
(``Title:``), a scene heading per scene (its title when that is already a heading,
``INT. …``; otherwise a forced heading, ``.`` + the location and the title), action
for each shot's text and action line, and each dialogue line as a character cue in
capitals (with ``(V.O.)``/``(O.S.)``), its tones and language as a parenthetical, and
its words. ``klingc import`` reads it back with the same scenes, speakers and lines.
"""

from __future__ import annotations

import re

from ..syntax import ast as A
from ..syntax.shapes import REF_RE

# What screenplain (and Fountain) reads as a scene heading.
_SLUG = re.compile(r"^(?:INT|EXT|EST|INT\.?/EXT|EXT\.?/INT|I/E)[ .]", re.I)
# Action that a Fountain reader would take for something else: forced with `!`.
_MISREAD = re.compile(r"^(?:[.!@#=>~\[]|(?:INT|EXT|EST|I/E)[ .])|TO:$", re.I)
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Za-z])(?=[0-9])")


def cue_names(program) -> dict[str, str]:
    """Each declared element's name as a screenplay writes it: the cue ``klingc import``
    read it from (kept in its placeholder description), else its name's words in capitals."""
    from ..importers.kls import PLACEHOLDER

    lead = PLACEHOLDER.split("{cue}")[0]
    out = {}
    for name, decl in program.elements.items():
        desc = decl.element.description or ""
        out[name] = desc[len(lead):].strip() if desc.startswith(lead) and desc[len(lead):].strip() \
            else _words(name).upper()
    return out


def _words(name: str) -> str:
    return " ".join(_CAMEL.sub(" ", name).split())


def fountain(program) -> str:
    """The Fountain text of ``program``'s main file."""
    doc = program.main.doc
    cues = cue_names(program)
    title = doc.setting("title")
    out = [f"Title: {title.value if title else program.main.path.stem}", ""]
    for scene in doc.scenes:
        out += [_heading(scene, program), ""]
        _lines(scene.preamble, cues, out)
        for shot in scene.shots:
            if shot.text is not None and shot.text.value.strip():
                out += [_action(shot.text.value, cues), ""]
            _lines(shot.lines, cues, out)
    return "\n".join(out).rstrip("\n") + "\n"


def _heading(scene: A.Scene, program) -> str:
    title = " ".join(scene.title.value.split())
    if _SLUG.match(title):
        return title.upper()
    where = ""
    if scene.location is not None and scene.location.name in program.elements:
        where = _words(scene.location.name).upper() + " - "
    return "." + where + title


def _refs(text: str, cues: dict[str, str]) -> str:
    return REF_RE.sub(lambda m: cues.get(m.group(1), _words(m.group(1)).upper()), text)


def _action(text: str, cues: dict[str, str]) -> str:
    text = _refs(" ".join(text.split()), cues).replace("*", "\\*")
    # An all-capitals line, or one a reader takes for a heading or a transition, is forced.
    if _MISREAD.search(text) or (text.isupper() and len(text) < 60):
        return "!" + text
    return text


def _lines(lines, cues: dict[str, str], out: list[str]) -> None:
    for line in lines:
        if isinstance(line, A.Action):
            out += [_action(line.text.value, cues), ""]
        elif isinstance(line, A.Sound):
            out += [_action(f"Sound: {line.text.value}", cues), ""]
        elif isinstance(line, A.Dialogue):
            out += _dialogue(line, cues) + [""]


def _dialogue(d: A.Dialogue, cues: dict[str, str]) -> list[str]:
    from ..model.languages import classify_direction_item

    who = d.speaker
    cue = cues.get(who.name, _words(who.name).upper()) if isinstance(who, A.Ref) else who.name.upper()
    cue = cue.lstrip("@!.~>=#[").replace("^", "")
    if not cue.isupper():
        cue = "@" + cue          # Fountain's forced cue, for a name not in capitals (Korean, say)
    paren = []
    if d.direction is not None:
        items = [i.value.strip() for i in d.direction.items if i.value.strip()]
        off = [i for i in items if classify_direction_item(i) == "offscreen"]
        if off:
            cue += f" ({off[0].upper()})"
        paren = [i for i in items if i not in off]
    out = [cue]
    if paren:
        out.append("(" + ", ".join(p.replace("(", "").replace(")", "") for p in paren) + ")")
    out.append(" ".join(d.line.value.split()).replace("*", "\\*") or "...")
    return out

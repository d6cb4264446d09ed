"""Write an imported screenplay (``importers/screenplay.py``) as a KlingScript that
``klingc check`` accepts.

- A scene heading is a scene; its place (the heading without ``INT.``/``EXT.`` and the
  time of day) a declared location, one per distinct place, used with ``at @Place``.
  What comes before the first heading, if it is more than remarks, is a scene ``OPENING``.
- A character cue is a declared character (a valid ``@Name``, at most the profile's
  element-name length), with the placeholder description ``PLACEHOLDER`` that ``check``
  reports (KLS410) until it is written.
- An action paragraph starts a shot; the dialogue after it is that shot's lines.
  Parentheticals are tones, ``V.O.``/``O.S.`` off-screen, ``CONT'D`` is dropped, dual
  dialogue is two consecutive speeches. Durations are left to inference, so a shot is
  kept within what one job carries: a long action paragraph becomes several shots at its
  sentences, a long speech several lines, and dialogue that would make a shot too long
  for a job (or its prompt too long for the shot limit) goes on in a new shot. A scene
  shorter than a job's minimum gets that minimum on its last shot.
- Every other paragraph (transitions, notes, boneyard, sections, synopses, page breaks,
  the title page but its title) is a comment where it stood.

The limits come from the default model profile; the speaking times from
``model/timing``'s rates, as ``check`` infers them.
"""

from __future__ import annotations

import re
from typing import NamedTuple, Optional

from ..model import languages, profiles, timing
from ..model.settings import DEFAULTS
from ..passes.check import PLACEHOLDER_PREFIX
from .screenplay import Action, Heading, Remark, Screenplay, Speech

# The description an imported character gets until the writer gives one (KLS410).
PLACEHOLDER = PLACEHOLDER_PREFIX + " describe {cue}"

OPENING = "OPENING"
LANGUAGE = DEFAULTS["language"]
# Of a shot's prompt limit, how much an imported shot's own words may use: the rest is
# left for what the prompt adds to it (the location, a description once it is written).
SHOT_SHARE = 0.6
# Where a sentence ends: the spaces after an end mark (and a closing quote).
_SENTENCE = re.compile(r"(?<=[.!?\u2026])\s+|(?<=[.!?\u2026][\"'\u201d\u2019)])\s+")
# Heading prefixes (screenplain's slug forms) and a leading `.` (a forced heading).
_PREFIX = re.compile(r"^(?:(?:INT\.?/EXT|EXT\.?/INT|INT|EXT|EST|I/E)\.?(?:\s+|$))", re.I)
_PART = re.compile(r"\s+[-\u2013\u2014]+\s+|,\s*")
_WHEN = re.compile(r"\b(?:DAY|DAYS|NIGHT|MORNING|AFTERNOON|EVENING|DUSK|DAWN|SUNSET|SUNRISE|NOON|MIDNIGHT|"
                   r"LATER|CONTINUOUS|CONTINUED|SAME|MOMENTS?|FLASHBACK|PRESENT|\d{4}s?)\b", re.I)
_EXTENSION = re.compile(r"\(([^()]*)\)")
_DROPPED = {"cont'd", "cont\u2019d", "contd", "cont", "cont.", "continued", "more"}
_REF = re.compile(r"@(?=[^\W\d_])")


class Summary(NamedTuple):
    source: str
    title: Optional[str]
    scenes: int
    locations: tuple[tuple[str, str], ...]     # (place as written, @Name)
    characters: tuple[tuple[str, str], ...]    # (cue as written, @Name)
    counts: dict                               # what went where


def write(sp: Screenplay, source_name: str) -> tuple[str, Summary]:
    """The KlingScript text for ``sp`` (read from ``source_name``) and what went where."""
    return _Writer(sp, source_name).run()


class _Writer:
    def __init__(self, sp: Screenplay, source_name: str):
        self.sp = sp
        self.source_name = source_name
        self.profile = profiles.load(DEFAULTS["model"])
        self.spoken = set(self.profile.speech.languages)
        self.names: set[str] = set()
        self.places: dict[str, tuple[str, str]] = {}      # folded place -> (place, name)
        self.people: dict[str, tuple[str, str]] = {}      # folded cue name -> (cue, name)
        self.counts: dict[str, int] = {}
        inference = timing.rates()["inference"]
        self.pause = inference["pause_seconds"]
        self.padding = inference["padding_seconds"]
        self.minimum = int(inference["minimum_seconds"])
        d = self.profile.duration
        # Dialogue seconds one shot may hold, so that its inferred duration fits a job.
        # Dialogue seconds one shot may hold: its inferred duration leaves room in a job for
        # a silent shot (the minimum) on either side, so that every scene can be planned.
        self.shot_seconds = min(d.job_max, d.shot_max) - 2 * self.minimum - self.padding
        self.shot_chars = int(self.profile.prompt.shot_max_chars * SHOT_SHARE)

    def count(self, key: str, n: int = 1) -> None:
        self.counts[key] = self.counts.get(key, 0) + n

    # -- the document ------------------------------------------------------------
    def run(self) -> tuple[str, Summary]:
        scenes = self.scenes()
        body: list[str] = []
        for heading, paragraphs, _content in scenes:
            body.extend(self.scene(heading, paragraphs))
        head = [f"# Imported from {self.source_name} ({self.sp.source}) by klingc import.",
                "# Each character's description is a placeholder (KLS410): describe them before rendering.",
                ""]
        if self.sp.title:
            head += [f"title: {_quote(self.sp.title)}", ""]
        for place, name in self.places.values():
            head += [f"location {name}:", f"    description: {_quote(_describe(place, self.limit))}", ""]
        for cue, name in self.people.values():
            head += [f"character {name}:",
                     f"    description: {_quote(_clip(PLACEHOLDER.format(cue=cue), self.limit))}", ""]
        text = "\n".join(head + body).rstrip("\n") + "\n"
        summary = Summary(self.source_name, self.sp.title, len([s for s in scenes if s[0] is not None or s[2]]),
                          tuple(self.places.values()), tuple(self.people.values()), dict(self.counts))
        return text, summary

    @property
    def limit(self) -> int:
        return self.profile.element.description_max_chars

    def scenes(self) -> list:
        """(heading or None, paragraphs, has content) per scene; None: before the first heading."""
        out: list = [[None, [], False]]
        for p in self.sp.paragraphs:
            if isinstance(p, Heading):
                out.append([p, [], True])
            else:
                out[-1][1].append(p)
                if not isinstance(p, Remark):
                    out[-1][2] = True
        return [tuple(s) for s in out]

    # -- a scene -------------------------------------------------------------------
    def scene(self, heading: Optional[Heading], paragraphs: list) -> list[str]:
        if heading is None and not any(not isinstance(p, Remark) for p in paragraphs):
            return [line for p in paragraphs for line in self.remark(p, "")] + ([""] if paragraphs else [])
        title = heading.text if heading is not None else OPENING
        self.count("scenes")
        place = _place(title) if heading is not None else ""
        where = ""
        if place:
            where = f" at @{self.location(place)}"
        out = [f"scene {_quote(title)}{where}:"]
        if heading is not None and heading.number:
            out.append(f"    # scene number {heading.number}")
            self.count("scene number as comments")
        shots = _Shots(self)
        for p in paragraphs:
            if isinstance(p, Remark):
                shots.comment(self.remark(p, "    "))
            elif isinstance(p, Action):
                self.count("action paragraphs")
                shots.action(" ".join(line.strip() for line in p.lines if line.strip()))
            elif isinstance(p, Speech):
                shots.speech(p)
        out.extend(shots.lines(_describe(place, self.limit) if place else title))
        out.append("")
        return out

    def remark(self, r: Remark, indent: str) -> list[str]:
        self.count(f"{r.kind} as comments")
        label = {"title page": "", "other": ""}.get(r.kind, r.kind + ": ")
        lines = [line for line in r.lines] or [""]
        out = [f"{indent}# {label}{lines[0]}".rstrip()]
        out += [f"{indent}#   {line}".rstrip() for line in lines[1:]]
        return out

    # -- names ---------------------------------------------------------------------
    def location(self, place: str) -> str:
        key = place.casefold()
        if key not in self.places:
            self.places[key] = (place, self.name(place, "Place"))
        return self.places[key][1]

    def character(self, cue_name: str) -> str:
        key = cue_name.casefold()
        if key not in self.people:
            self.people[key] = (cue_name, self.name(cue_name, "Someone"))
        return self.people[key][1]

    def name(self, text: str, fallback: str) -> str:
        """A new valid element name for ``text``: its words run together, capitalised."""
        words = re.findall(r"[^\W_]+", text.replace("'", "").replace("\u2019", ""))
        words = [w[:1].upper() + w[1:].lower() for w in words] or [fallback]
        if not words[0][0].isalpha():
            words.insert(0, fallback)
        most = self.profile.element.name_max_chars
        name = words[0][:most]
        for w in words[1:]:     # whole words, as many as the name's length allows
            if len(name) + len(w) > most:
                break
            name += w
        candidate, k = name, 2
        while candidate.casefold() in self.names:
            candidate = name[:most - len(str(k))] + str(k)
            k += 1
        self.names.add(candidate.casefold())
        return candidate

    # -- dialogue ------------------------------------------------------------------
    def direction(self, items: list[str]) -> list[str]:
        """Direction items as KlingScript reads them: a language the model does not speak
        (or a second language) is kept as a tone (``in French``)."""
        out, language = [], False
        for item in items:
            item = " ".join(item.replace("(", " ").replace(")", " ").split())
            if not item:
                continue
            kind = languages.classify_direction_item(item)
            if kind == "language":
                if language or languages.lookup(item) not in self.spoken:
                    item = f"in {item}"
                    self.count("languages kept as tones")
                else:
                    language = True
            out.append(item)
        return out


def _place(heading: str) -> str:
    """The place an INT./EXT. heading names: the heading without its prefix and without the
    parts at its end that say when (`- NIGHT`, `, A MOMENT LATER`); "" for another heading
    (a forced one, `.FLASHBACK`: no place)."""
    rest, n = _PREFIX.subn("", heading.strip(), count=1)
    if not n or heading.strip().startswith("."):
        return ""
    parts = [p.strip() for p in _PART.split(rest) if p.strip()]
    while len(parts) > 1 and _WHEN.search(parts[-1]):
        parts.pop()
    return ", ".join(parts)


def _describe(place: str, limit: int) -> str:
    words = " ".join(w[:1].upper() + w[1:].lower() if w.isupper() else w for w in place.split())
    return _clip(words, limit)


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit - 1].rstrip() + "\u2026"


def _quote(text: str) -> str:
    return '"' + " ".join(text.split()).replace("\\", "\\\\").replace('"', '\\"') + '"'


def _prose(text: str) -> str:
    """Action text for a shot line: one line, and an `@` that names no element kept as text."""
    return _REF.sub("\uff20", " ".join(text.split()))


def chunks(text: str, fits) -> list[str]:
    """``text`` cut at sentence ends (or, for a sentence too long, at spaces) into pieces
    that each ``fits``; nothing is lost: the pieces joined with spaces are the text."""
    sentences = [s.strip() for s in _SENTENCE.split(text) if s.strip()]
    pieces: list[str] = []
    for sentence in sentences:
        if pieces and fits(pieces[-1] + " " + sentence):
            pieces[-1] += " " + sentence
        elif fits(sentence):
            pieces.append(sentence)
        else:
            for word in sentence.split():
                if pieces and fits(pieces[-1] + " " + word):
                    pieces[-1] += " " + word
                else:
                    pieces.append(word)
    return pieces


class _Line(NamedTuple):
    who: str
    direction: tuple[str, ...]
    text: str

    def written(self) -> str:
        d = f" ({', '.join(self.direction)})" if self.direction else ""
        return f"@{self.who}{d}: {_quote(self.text)}"


class _Shots:
    """A scene's shots, as its paragraphs come."""

    def __init__(self, w: _Writer):
        self.w = w
        self.shots: list[list] = []       # [text, [lines and comments]]
        self.before: list[str] = []       # comments before the first shot
        self.seconds = 0.0
        self.chars = 0

    def comment(self, lines: list[str]) -> None:
        if self.shots:
            self.shots[-1][1].extend(lines)
        else:
            self.before.extend(lines)

    def new(self, text: str, count: str) -> None:
        self.w.count(count)
        self.shots.append([text, []])
        self.seconds, self.chars = 0.0, len(text)

    def action(self, text: str) -> None:
        pieces = chunks(_prose(text), lambda t: len(t) <= self.w.shot_chars * 2 // 3) or [""]
        self.new(pieces[0], "shots from action")
        for piece in pieces[1:]:
            self.new(piece, "shots continuing long action")

    def speech(self, s: Speech) -> None:
        w = self.w
        self.w.count("speeches")
        if s.dual:
            w.count("dual dialogue speeches")
        name, items = s.cue, []
        first = s.cue.find("(")
        if first >= 0:
            name = s.cue[:first]
            for ext in _EXTENSION.findall(s.cue[first:]):
                key = " ".join(ext.split()).casefold()
                if key in _DROPPED:
                    w.count("contd dropped")
                elif languages.classify_direction_item(ext) == "offscreen":
                    w.count("off-screen speeches")
                    items.append(ext.strip())
                else:
                    items.append(ext.strip())
                    w.count("cue extensions as tones")
        name = " ".join(name.replace("^", " ").split()) or "SOMEONE"
        who = w.character(name)
        if s.dual == 1:
            self.comment([f"    # dual dialogue: {name} and the next speaker at the same time"])
        tone: Optional[str] = None      # a parenthetical, for the line after it
        current: Optional[str] = None   # the tone of the line being read
        words: list[str] = []
        was_paren = False

        def flush():
            if words:
                self.line(who, w.direction(items + ([current] if current else [])), " ".join(words))
                words.clear()

        for paren, text in s.blocks:
            text = " ".join(text.split())
            if paren:
                w.count("parenthetical lines")
                if was_paren and tone is not None:
                    tone += " " + text
                else:
                    flush()
                    tone = text
            elif text:
                if tone is not None:
                    flush()
                    current, tone = tone.strip().removeprefix("(").removesuffix(")"), None
                words.append(text)
            was_paren = paren
        flush()
        if tone is not None:   # a parenthetical after the last line: kept as a comment
            self.comment([f"    # {name} {tone}"])
            w.count("parentheticals after the last line as comments")

    def line(self, who: str, direction: list[str], text: str) -> None:
        w = self.w
        extra = len(who) + sum(len(d) + 2 for d in direction) + 8

        def fits(t: str) -> bool:
            return (timing.speaking_seconds(t, LANGUAGE) <= w.shot_seconds
                    and len(t) + extra <= w.shot_chars // 2)

        pieces = chunks(_quote(text)[1:-1].replace('\\"', '"').replace("\\\\", "\\"), fits) or [text]
        if len(pieces) > 1:
            w.count("long lines split", len(pieces) - 1)
        for piece in pieces:
            seconds = timing.speaking_seconds(piece, LANGUAGE)
            size = len(piece) + extra
            if not self.shots or (self.seconds + self.pause(seconds) > w.shot_seconds
                                  or self.chars + size > w.shot_chars):
                self.new(f"On @{who}.", "shots added for dialogue")
            self.seconds += self.pause(seconds)
            self.chars += size
            self.shots[-1][1].append(_Line(who, tuple(direction), piece))
            w.count("dialogue lines")

    def pause(self, seconds: float) -> float:
        has_line = self.shots and any(isinstance(x, _Line) for x in self.shots[-1][1])
        return seconds + (self.w.pause if has_line else 0.0)

    def lines(self, establishing: str) -> list[str]:
        w = self.w
        if not self.shots:
            self.new(_prose(establishing) + ".", "shots added for empty scenes")
        total = 0
        durations = []
        for _text, items in self.shots:
            said = [x for x in items if isinstance(x, _Line)]
            seconds = sum(timing.speaking_seconds(x.text, LANGUAGE) for x in said)
            seconds += w.pause * max(0, len(said) - 1)
            d = max(w.minimum, -int(-(seconds + w.padding - 1e-9) // 1))
            durations.append(d)
            total += d
        out = list(self.before)
        job_min = w.profile.duration.job_min
        for i, (text, items) in enumerate(self.shots, 1):
            duration = ""
            if i == len(self.shots) and total < job_min:
                duration = f" ({durations[-1] + job_min - total}s)"
                w.count("short scenes given the minimum")
            out.append(f"    Shot {i}{duration}: {text}".rstrip())
            for x in items:
                out.append(f"        {x.written()}" if isinstance(x, _Line) else x)
        w.count("shots", len(self.shots))
        return out

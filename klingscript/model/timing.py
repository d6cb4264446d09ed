"""Speaking time and inferred durations, from the per-language rates in
``data/speech_rates.toml``.

A shot without a duration lasts the speaking time of its dialogue plus a
padding (one second), rounded up to whole seconds, and at least the minimum
(two seconds). A scene without shots and without ``(Ns)`` is timed the same
way over its preamble.
"""

from __future__ import annotations

import math
import re
from typing import Iterable, Optional

from ..syntax import ast as A
from .languages import lookup
from ..resources import data_toml

_VOWELS = re.compile(r"[aeiouáéíóúüyAEIOUÁÉÍÓÚÜY]+")
# Wide character ranges take milliseconds to compile: they are compiled (and
# cached by ``re``) on first use, not when klingc starts.
_CJK = r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]"
_HANGUL = r"[\uac00-\ud7a3]"


def rates() -> dict:
    return data_toml("speech_rates.toml")


def units(text: str, unit: str) -> int:
    if unit == "word":
        return len(text.split())
    if unit == "char":
        return len(re.findall(_CJK, text)) or len(text.split())
    if unit == "syllable":
        hangul = len(re.findall(_HANGUL, text))
        if hangul:
            return hangul
        # Spanish and other alphabetic text: one syllable per group of vowels.
        if not text.strip():
            return 0
        return len(_VOWELS.findall(text)) or 1
    raise ValueError(unit)


def speaking_seconds(text: str, language: str) -> float:
    """How long ``text`` takes to say in ``language`` (a canonical language name)."""
    table = rates()
    entry = table.get(language) or table["default"]
    return units(text, entry["unit"]) / entry["per_second"]


def line_language(d: A.Dialogue, default_language: str) -> str:
    """The canonical language a dialogue line is spoken in."""
    if d.direction is not None and d.direction.language is not None:
        return lookup(d.direction.language.value) or default_language
    return default_language


def dialogue_seconds(lines: Iterable[A.Line], default_language: str) -> float:
    """Speaking time of the dialogue among ``lines``, with a pause between lines."""
    inference = rates()["inference"]
    total, count = 0.0, 0
    for line in lines:
        if isinstance(line, A.Dialogue):
            total += speaking_seconds(line.line.value, line_language(line, default_language))
            count += 1
    if count > 1:
        total += inference["pause_seconds"] * (count - 1)
    return total


def infer_duration(lines: Iterable[A.Line], default_language: str) -> int:
    """Whole seconds for a shot (or shotless scene) written without a duration."""
    inference = rates()["inference"]
    seconds = dialogue_seconds(lines, default_language) + inference["padding_seconds"]
    return max(int(inference["minimum_seconds"]), math.ceil(seconds - 1e-9))


def shot_duration(shot: A.Shot, default_language: str) -> tuple[Optional[int], bool]:
    """(seconds, inferred) for a shot; seconds is None when the written duration is invalid."""
    if shot.duration is not None:
        return shot.duration.seconds, False
    return infer_duration(shot.lines, default_language), True

"""Speech languages: recognising their names, and the scripts their text uses.

The names come from ``data/languages.toml``; which languages a model speaks
comes from its profile. Recognition is by English name, ISO 639-1 code or
native name, case-insensitively: ``Korean``, ``ko`` and ``한국어`` are one
language.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from typing import Optional

from ..resources import data_toml

OFFSCREEN = {"v.o.", "vo", "o.s.", "os", "o.c.", "oc", "off-screen", "offscreen", "off screen"}


@lru_cache(maxsize=1)
def _table() -> dict[str, str]:
    out: dict[str, str] = {}
    for name, entry in data_toml("languages.toml").items():
        out[name.casefold()] = name
        out[entry["code"].casefold()] = name
        for alias in entry.get("names", ()):
            out[alias.casefold()] = name
    return out


def lookup(text: str) -> Optional[str]:
    """The canonical English name of the language ``text`` names, or None."""
    return _table().get(text.strip().casefold())


def all_languages() -> list[str]:
    return list(data_toml("languages.toml"))


def classify_direction_item(item: str) -> str:
    """``language``, ``offscreen`` or ``tone`` for one item of a dialogue direction."""
    folded = item.strip().casefold()
    if folded in OFFSCREEN:
        return "offscreen"
    if folded in _table():
        return "language"
    return "tone"


def scripts_of(language: str) -> tuple[str, ...]:
    entry = data_toml("languages.toml").get(language)
    return tuple(entry["scripts"]) if entry else ()


def _script(ch: str) -> Optional[str]:
    """The script of a letter, from its Unicode name (enough for the scripts above)."""
    if not ch.isalpha():
        return None
    o = ord(ch)
    if 0xAC00 <= o <= 0xD7A3 or 0x1100 <= o <= 0x11FF or 0x3130 <= o <= 0x318F:
        return "Hangul"
    if 0x3040 <= o <= 0x309F:
        return "Hiragana"
    if 0x30A0 <= o <= 0x30FF or 0x31F0 <= o <= 0x31FF:
        return "Katakana"
    if 0x4E00 <= o <= 0x9FFF or 0x3400 <= o <= 0x4DBF or 0xF900 <= o <= 0xFAFF:
        return "Han"
    try:
        name = unicodedata.name(ch)
    except ValueError:
        return None
    for script in ("LATIN", "CYRILLIC", "GREEK", "ARABIC", "HEBREW", "DEVANAGARI", "THAI"):
        if name.startswith(script):
            return script.capitalize()
    return None


_ASCII_LETTER = re.compile(r"[A-Za-z]")


def script_counts(text: str) -> dict[str, int]:
    """How many letters of ``text`` each script has."""
    if text.isascii():  # the common case: plain English, no per-letter work
        letters = len(_ASCII_LETTER.findall(text))
        return {"Latin": letters} if letters else {}
    counts: dict[str, int] = {}
    for ch in text:
        s = _script(ch)
        if s:
            counts[s] = counts.get(s, 0) + 1
    return counts


_KANA = ("Hiragana", "Katakana")


def script_matches(text: str, language: str) -> tuple[bool, Optional[str]]:
    """Whether ``text`` is written in a script of ``language``; and the script it is in.

    Japanese mixes kanji (Han) with kana: a line of mostly kanji is still
    Japanese, and kana in a line marked Chinese show that it is not Chinese.
    """
    counts = script_counts(text)
    if not counts:
        return True, None
    script = max(counts, key=counts.get)
    expected = scripts_of(language)
    if not expected:
        return True, script
    if "Han" in expected and not any(k in expected for k in _KANA):
        kana = sum(counts.get(k, 0) for k in _KANA)
        if kana and kana * 5 >= sum(counts.values()):
            return False, max(_KANA, key=lambda k: counts.get(k, 0))
    return script in expected, script

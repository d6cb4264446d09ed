"""The settings and element fields of the language (spec section 3).

Allowed values that depend on a model (aspect ratios, resolutions, languages)
are read from the model profiles; this table says only which keys exist and
where they may appear.
"""

from __future__ import annotations

# key -> (where it may appear, allowed values or None for free text)
DOCUMENT_SETTINGS: dict[str, tuple[str, ...] | None] = {
    "title": None,
    "model": None,          # a profile name: see profiles.available()
    "resolution": None,     # the model profile's resolutions: see allowed()
    "aspect": None,         # the model profile's aspect ratios: see allowed()
    "audio": ("on", "off"),
    "language": None,       # a supported speech language
    "style": None,
    "negative": None,
    "multishot": ("api", "text"),
    "api": ("current", "legacy"),   # Kling's API generation the requests are written for
    "continuity": ("chain", "none"),  # chain: a split scene's parts start from the last frame before
}

DEFAULTS: dict[str, str] = {
    "model": "kling-v3",
    "resolution": "720p",
    "aspect": "16:9",
    "audio": "on",
    "language": "English",
    "multishot": "api",
    "api": "current",
    "continuity": "none",
}

# Settings only a document has: a plan.json holds the requests of one API generation.
DOCUMENT_ONLY = ("title", "api")
# Settings a scene may override, plus the scene-only ones.
SCENE_OVERRIDABLE = tuple(k for k in DOCUMENT_SETTINGS if k not in DOCUMENT_ONLY)
SCENE_ONLY = ("first frame", "last frame", "sound")
SCENE_SETTINGS = SCENE_OVERRIDABLE + SCENE_ONLY

ELEMENT_FIELDS = ("description", "images", "voice", "voice id", "voice sample")
# The fields that bind a Kling voice to an element (one of them at most).
VOICE_BINDINGS = ("voice id", "voice sample")

# `first frame: previous` (unquoted): the scene starts from the last frame of the scene before it.
PREVIOUS_FRAME = "previous"

# Settings whose value must be a quoted string (paths and prose).
QUOTED_ONLY = {"first frame", "last frame", "sound", "description", "images", "voice", "voice id",
               "voice sample"}


def allowed(key: str, profile) -> tuple[str, ...] | None:
    """The values ``key:`` takes with ``profile``'s model, or None for free text (or a name)."""
    if key == "resolution":
        return profile.resolutions
    if key == "aspect":
        return profile.aspect_ratios
    return DOCUMENT_SETTINGS.get(key)


def join_and(words, conj: str = "and") -> str:
    """``a, b and c`` (or with another conjunction: ``a, b or c``)."""
    words = list(words)
    if not words:
        return ""
    if len(words) == 1:
        return words[0]
    return ", ".join(words[:-1]) + f" {conj} " + words[-1]


def edit_distance(a: str, b: str) -> int:
    """Damerau-Levenshtein distance (adjacent swaps count as one edit)."""
    a, b = a.lower(), b.lower()
    prev2: list[int] = []
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i] + [0] * len(b)
        for j, cb in enumerate(b, 1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb))
            if i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                cur[j] = min(cur[j], prev2[j - 2] + 1)
        prev2, prev = prev, cur
    return prev[-1]


def nearest(word: str, candidates, limit: int | None = None) -> str | None:
    """The candidate closest to ``word``, if it is close enough to be a likely typo."""
    best, best_d = None, None
    for c in candidates:
        d = edit_distance(word, c)
        if best_d is None or d < best_d:
            best, best_d = c, d
    if best is None:
        return None
    if limit is None:
        limit = max(1, min(3, len(word) // 3 + 1))
    return best if best_d <= limit else None

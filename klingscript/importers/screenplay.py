"""A screenplay as the importers read it: what a Fountain or Final Draft file says, before
it is written as KlingScript (``importers/kls.py``).

The readers (``fountain.py``, ``fdx.py``) turn their format into this one list of
paragraphs, in source order, with emphasis already removed; the writer never sees a
format. A ``Remark`` is what KlingScript keeps as a comment (transitions, notes,
boneyard, sections, synopses, page breaks, the title page beyond its title).
"""

from __future__ import annotations

from typing import NamedTuple, Optional, Union


class Heading(NamedTuple):
    """A scene heading, as written (``INT. WILL'S BEDROOM - NIGHT``); ``number``: ``#12#``."""
    text: str
    number: Optional[str] = None


class Action(NamedTuple):
    lines: tuple[str, ...]


class Speech(NamedTuple):
    """A character cue and what follows it: ``(True, "(closer)")`` is a parenthetical.
    ``dual``: 0, or 1 and 2 for the two sides of dual dialogue."""
    cue: str
    blocks: tuple[tuple[bool, str], ...]
    dual: int = 0


class Remark(NamedTuple):
    """A paragraph KlingScript keeps as a comment; ``kind`` is one of ``REMARK_KINDS``."""
    kind: str
    lines: tuple[str, ...]


REMARK_KINDS = ("title page", "transition", "note", "boneyard", "section", "synopsis",
                "page break", "other")

Paragraph = Union[Heading, Action, Speech, Remark]


class Screenplay(NamedTuple):
    title: Optional[str]
    paragraphs: tuple[Paragraph, ...]
    source: str                 # what it was read from: "Fountain" or "Final Draft"

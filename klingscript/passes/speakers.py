"""KLS411 (warning): a dialogue speaker written without ``@`` who is a declared element.

``Grace: "Thank you."`` next to ``character Grace:`` is a line of an unnamed
role called Grace: the declared @Grace's description and voice are not used
for it. The speaker is matched with the declared characters and animals as
written, then without case and spaces (``GRACE``, ``Old Man`` for @OldMan).
"""

from __future__ import annotations

from typing import Optional

from ..diagnostics.codes import make
from ..syntax import ast as A

_SPEAKING = ("character", "animal")


def declared_as(role: str, elements) -> Optional[str]:
    """The declared character or animal that the role ``role`` most likely names, or None."""
    def speaks(name: str) -> bool:
        d = elements.get(name)
        return d is not None and getattr(getattr(d, "element", None), "kind", None) in _SPEAKING

    if speaks(role):
        return role
    folded = "".join(role.split()).casefold()
    found = [n for n in elements if n.casefold() == folded and speaks(n)]
    return found[0] if len(found) == 1 else None


def speaker_hint(line: A.Dialogue, elements) -> Optional[object]:
    """KLS411 for a dialogue line whose speaker is a declared element written without ``@``."""
    if not isinstance(line.speaker, A.Role):
        return None
    name = declared_as(line.speaker.name, elements)
    if name is None:
        return None
    return make("KLS411", line.speaker.span,
                f"the speaker {line.speaker.name} is written without `@`, so this line is not @{name}'s: "
                f"the description and voice of @{name} are not used for it",
                help=f"write `@{name}` for `{line.speaker.name}`")

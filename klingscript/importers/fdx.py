"""Read a Final Draft (.fdx) screenplay, with defusedxml (no entity expansion, no external
references: a hostile file cannot make klingc fetch or blow up anything).

A .fdx is ``<FinalDraft><Content>`` with one ``<Paragraph Type="…">`` per paragraph
(``Scene Heading``, ``Action``, ``Character``, ``Parenthetical``, ``Dialogue``,
``Transition``, ``Shot``, ``General``…), each with ``<Text>`` runs (their styles are
emphasis: dropped); dual dialogue is a ``<DualDialogue>`` inside a paragraph; a
``<ScriptNote>`` is a note. The title page (``<TitlePage>``) gives the title: its first
line of text.
"""

from __future__ import annotations

from .screenplay import Action, Heading, Remark, Screenplay, Speech


class FdxError(ValueError):
    """A file that is not a readable Final Draft document."""


def read(data: bytes) -> Screenplay:
    import defusedxml.ElementTree as ET
    from defusedxml import DefusedXmlException
    from xml.etree.ElementTree import ParseError

    try:
        root = ET.fromstring(data)
    except (ParseError, DefusedXmlException) as e:
        raise FdxError(f"not a Final Draft file: {e}") from None
    if root.tag != "FinalDraft":
        raise FdxError(f"not a Final Draft file: the document is <{root.tag}>, not <FinalDraft>")
    content = root.find("Content")
    paragraphs: list = []
    title = None
    page = root.find("TitlePage/Content")
    if page is not None:
        texts = [t for t in (_text(p) for p in page.iter("Paragraph")) if t]
        if texts:
            title = texts[0]
            rest = tuple(texts[1:])
            if rest:
                paragraphs.append(Remark("title page", rest))
    if content is not None:
        _paragraphs(list(content.findall("Paragraph")), paragraphs)
    return Screenplay(title, tuple(paragraphs), "Final Draft")


def _text(p) -> str:
    return "".join("".join(t.itertext()) for t in p.findall("Text")).strip()


def _paragraphs(items: list, out: list, dual: int = 0) -> None:
    speech = None  # the Speech being read: (cue, blocks)

    def close():
        nonlocal speech
        if speech is not None:
            out.append(Speech(speech[0], tuple(speech[1]), dual and speech[2]))
            speech = None

    sides = 0
    for p in items:
        kind = (p.get("Type") or "").strip()
        text = _text(p)
        for note in p.iter("ScriptNote"):
            close()
            out.append(Remark("note", tuple(_text(n) for n in note.iter("Paragraph")) or ("",)))
        inner = p.find("DualDialogue")
        if inner is not None:
            close()
            _paragraphs(list(inner.findall("Paragraph")), out, dual=1)
            continue
        if kind == "Character":
            close()
            sides += 1
            speech = (text, [], min(sides, 2))
        elif kind in ("Dialogue", "Parenthetical") and speech is not None:
            speech[1].append((kind == "Parenthetical", text))
        else:
            close()
            if not text:
                continue
            if kind == "Scene Heading":
                out.append(Heading(" ".join(text.split()), p.get("Number")))
            elif kind == "Transition":
                out.append(Remark("transition", (text,)))
            elif kind in ("Action", "General", "Shot", "Dialogue", "Parenthetical", ""):
                out.append(Action(tuple(text.splitlines())))
            else:   # Cast List, Outline, … : kept, as what it is
                out.append(Remark("other", (f"{kind}: {text}",)))
    close()

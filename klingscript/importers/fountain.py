"""Read a Fountain screenplay with screenplain (the project's reference Fountain parser).

screenplain decides what every paragraph is: a scene heading, action, a character's
dialogue (dual dialogue included), a transition, a section, a synopsis, a page break,
the title page. It removes notes (``[[…]]``) and boneyard (``/* … */``) without a
trace, so this reader runs screenplain's own steps itself (``parse_title_page``, and
``InputParagraph`` paragraph by paragraph, as its ``parse_body`` does) and keeps what
they remove, where it stood, as remarks: nothing in the source is lost.
"""

from __future__ import annotations

import itertools
import re

from .screenplay import Action, Heading, Remark, Screenplay, Speech


def read(text: str) -> Screenplay:
    from screenplain.parsers import fountain as F
    from screenplain import types as T

    boneyards, content = _boneyards(text, F.boneyard_re)
    lines = [F._preprocess_line(line) for line in F.linebreak_re.split(content)]
    head = list(itertools.takewhile(lambda line: line != "", lines))
    title_page = F.parse_title_page(head)
    title = None
    front: list = []
    start = 0
    if title_page:
        start = len(head)
        title, front = _title_page(title_page)
    out: list = []            # screenplain's paragraphs, in order
    after: dict[int, list] = {}   # remarks to write after the first i paragraphs
    pending = list(boneyards)     # (line, text), by line
    line_no = start
    for blank, group in itertools.groupby(lines[start:], F._is_blank):
        group = list(group)
        first, line_no = line_no, line_no + len(group)
        while pending and pending[0][0] < first:   # boneyard that stood before this group
            after.setdefault(len(out), []).append(Remark("boneyard", _lines(pending.pop(0)[1])))
        if blank:
            continue
        joined = "\n".join(group)
        notes = [m.group(0)[2:-2] for m in F.note_re.finditer(joined)]
        rest = F.note_re.sub("", joined)
        if not F._is_blank(rest):
            F.InputParagraph(rest.split("\n")).update_list(out)
        here = after.setdefault(len(out), [])
        here.extend(Remark("note", _lines(n)) for n in notes)
        while pending and pending[0][0] < line_no:
            here.append(Remark("boneyard", _lines(pending.pop(0)[1])))
    if pending:
        after.setdefault(len(out), []).extend(Remark("boneyard", _lines(b)) for _, b in pending)

    paragraphs = list(front) + after.get(0, [])
    for i, p in enumerate(out, 1):
        paragraphs.extend(_convert(p, T))
        paragraphs.extend(after.get(i, ()))
    return Screenplay(title, tuple(paragraphs), "Fountain")


def _boneyards(text: str, boneyard_re) -> tuple[list[tuple[int, str]], str]:
    """The boneyards of ``text`` as (line in the text without them, inside text), and that text."""
    found, kept, removed_lines, last = [], [], 0, 0
    for m in boneyard_re.finditer(text):
        kept.append(text[last:m.start()])
        line = text.count("\n", 0, m.start()) - removed_lines
        found.append((line, m.group(0)[2:-2]))
        removed_lines += m.group(0).count("\n")
        last = m.end()
    kept.append(text[last:])
    return found, "".join(kept)


def _lines(text: str) -> tuple[str, ...]:
    out = tuple(line.strip() for line in text.strip().splitlines())
    return tuple(line for line in out if line) or ("",)


def plain(rich) -> str:
    """The text of a screenplain RichString (or str) without its emphasis markup."""
    from screenplain.richstring import parse_emphasis
    return str(rich if not isinstance(rich, str) else parse_emphasis(rich))


def _title_page(page: dict) -> tuple:
    title = None
    remarks = []
    for key, values in page.items():
        values = [plain(v).strip() for v in values]
        if key == "Title" and title is None:
            title = " ".join(v for v in values if v) or None
            continue
        remarks.append(Remark("title page", tuple(f"{key}: {v}" for v in values) or (f"{key}:",)))
    return title, remarks


_SLUG = re.compile(r"\s+")


def _convert(p, T):
    if isinstance(p, T.Slug):
        yield Heading(_SLUG.sub(" ", plain(p.line)).strip(), plain(p.scene_number) if p.scene_number else None)
        if p.synopsis:
            yield Remark("synopsis", (plain(p.synopsis),))
    elif isinstance(p, T.Section):
        yield Remark("section", ("#" * p.level + " " + plain(p.text),))
        if p.synopsis:
            yield Remark("synopsis", (plain(p.synopsis),))
    elif isinstance(p, T.Action):
        yield Action(tuple(plain(line) for line in p.lines))
    elif isinstance(p, T.Dialog):
        yield _speech(p)
    elif isinstance(p, T.DualDialog):
        yield _speech(p.left, 1)
        yield _speech(p.right, 2)
    elif isinstance(p, T.Transition):
        yield Remark("transition", (plain(p.line),))
    elif isinstance(p, T.PageBreak):
        yield Remark("page break", ("===",))
    else:  # a kind of paragraph screenplain may add: kept, never dropped
        yield Remark("other", (str(getattr(p, "lines", p)),))


def _speech(d, dual: int = 0) -> Speech:
    return Speech(plain(d.character).strip(), tuple((bool(paren), plain(text)) for paren, text in d.blocks), dual)

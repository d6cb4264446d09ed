"""What the requests of each API generation take, for the build (facts in ``data/kling_api.toml``).

``build`` writes the requests of one generation (the script's ``api:``, or
``--api``): ``backends/requests.py`` the legacy one's (``/v1/videos/...``,
flat fields), ``backends/current.py`` the current one's (``/text-to-video/
kling-3.0``..., ``contents``/``settings``/``options``). This module says what
differs between them that the planner and the build need before a request is
made: each job's create path, and whether a job's request has a negative
prompt field (else ``negative:`` goes into the prompt as a marked line, and
KLS407 says so).
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import NamedTuple, Optional

CURRENT, LEGACY = "current", "legacy"
GENERATIONS = (CURRENT, LEGACY)

# The marked line that carries `negative:` in a prompt (klingc's wording: Kling's pages say
# only that "the prompt can include positive and negative descriptions").
NEGATIVE_LINE = "Avoid: {}."


@lru_cache(maxsize=1)
def _generations() -> dict:
    from ..resources import data_toml

    return data_toml("kling_api.toml")["generations"]


def has_negative_field(api: str, kind: str) -> bool:
    """Whether a job of ``kind`` (text2video, image2video, omni) has a negative prompt field."""
    return kind in _generations()[api]["negative_prompt"]


def endpoint(api: str, job) -> str:
    """The create path of ``job`` on generation ``api``."""
    if api == LEGACY:
        return job.endpoint
    return current_endpoint(job.profile.model_name, job.kind) or job.endpoint


def current_endpoint(model_name: str, kind: str) -> Optional[str]:
    return (_generations()[CURRENT]["endpoints"].get(model_name) or {}).get(kind)


def negative_line(text: str) -> str:
    """``negative:`` as the marked line of a prompt."""
    return NEGATIVE_LINE.format(text.strip().rstrip("."))


def with_negative(prompt: str, negative: str) -> str:
    return f"{prompt}\n{negative_line(negative)}"


def inline_negative(api: str, kind: str, negative: Optional[str]) -> Optional[str]:
    """``negative:`` when a job of ``kind`` on generation ``api`` carries it in its prompt (its
    request has no negative prompt field), else None."""
    if not negative or has_negative_field(api, kind):
        return None
    return negative


def shot_words(text: str) -> str:
    """A structured shot's prompt as the ``words`` of Kling's shot form: one line, no ``;``.
    (``str.split`` takes the same whitespace as ``re``'s ``\\s``, in a quarter of the time of
    ``re.sub``: this runs for every shot of every candidate job.)"""
    return " ".join(text.replace(";", ",").split())


def shots_prompt(shots) -> str:
    """``shot n, m, words; shot n, m, words;`` of (index, prompt, seconds) shots."""
    return " ".join(f"shot {i}, {seconds}, {shot_words(text)};" for i, text, seconds in shots)


class Sent(NamedTuple):
    """A job's prompt as its request carries it: ``prompt`` (the request's prompt text, or None
    where it has none: legacy structured shots go in ``multi_prompt``) and ``shots`` (each
    structured shot's text as Kling measures it: the legacy ``multi_prompt[].prompt``, the
    current form's ``words``), with ``negative:`` in them where the request has no field."""
    prompt: Optional[str]
    shots: tuple                     # (index, text, seconds)
    negative: Optional[str]          # the negative carried inline, if any


def sent(api: str, kind: str, prompt: Optional[str], multi, negative: Optional[str]) -> Sent:
    """What the request of a job of ``kind`` on generation ``api`` sends of its prompts
    (``prompt``, or the structured shots ``multi``): the one place both request writers
    (``requests.py``, ``current.py``) and the planner's measure take it from."""
    inline = inline_negative(api, kind, negative)
    if multi:
        shots = list(multi)
        if inline:
            i, text, seconds = shots[0]
            first = f"{text} {negative_line(inline)}" if api == CURRENT else with_negative(text, inline)
            shots[0] = (i, first, seconds)
        if api == CURRENT:
            return Sent(shots_prompt(shots), tuple((i, shot_words(t), d) for i, t, d in shots), inline)
        return Sent(None, tuple(shots), inline)
    return Sent(with_negative(prompt, inline) if inline else prompt, (), inline)


def negative_notes(scene, jobs) -> list:
    """KLS407 for a scene whose ``negative:`` goes into the prompt: its jobs' requests have no
    negative prompt field (the current generation; legacy omni-video)."""
    negative = scene.settings.negative
    if not negative or not jobs:
        return []
    api = scene.settings.api
    inline = [j for j in jobs if not has_negative_field(api, j.kind)]
    if not inline:
        return []
    from ..diagnostics.codes import make

    where = ("Kling's current API has no negative prompt field" if api == CURRENT
             else "Kling's omni-video has no negative_prompt field")
    help = ("nothing to do; to send it as Kling's negative_prompt, write `api: legacy` "
            "(text and image to video only)" if api == CURRENT else
            "nothing to do: omni-video takes negative descriptions in the prompt only")
    span = scene.setting_spans.get("negative", scene.title_span)
    return [make("KLS407", span,
                 f'scene "{scene.title}": `negative:` is sent in the prompt, as the line '
                 f'"{negative_line(negative)}" ({where})', help=help)]


def name_warnings(planner, jobs) -> list:
    """KLS408 for a scene on the current generation, whose prompts name their inputs ``@<id>``
    (the element's name): two inputs of one job whose names are part of each other (``@Zhang``,
    ``@ZhangSan``), or an input's ``@name`` in the prompt's other text (``@gmail`` in
    ``wang@gmail.com``). Kling's pages ask for neither: "Avoid Element names that are
    substrings of each other, such as @Zhang and @ZhangSan", "Avoid using Element names that
    overlap with content in the prompt. For example, do not use @gmail as an Element name if
    the prompt contains 'My email address is wang@gmail.com'" (docs/api/kling-omni-3.0-i2v.md,
    -ovg.md). A name written as a plain word (a character's name in dialogue) is not read as
    an input, and is not reported (docs/decisions.md)."""
    scene = planner.scene
    if scene.settings.api != CURRENT:
        return []
    from .. import lower as L
    from ..diagnostics.codes import make

    out, seen = [], set()

    def where(name):
        return next((m.span for m in L.mentions(scene) if m.name == name), scene.title_span)

    for job in jobs:
        ids = list(dict.fromkeys((*job.kling_elements, *job.ref_images)))
        if not ids:
            continue
        for a in ids:
            for b in ids:
                if a != b and a.lower() in b.lower() and (a, b) not in seen:
                    seen.add((a, b))
                    out.append(make(
                        "KLS408", where(a),
                        f'scene "{scene.title}": the element name @{a} is part of @{b}; Kling finds '
                        f"the inputs a prompt names by their @name, and its pages ask that no "
                        f"element name be part of another",
                        help=f"rename @{a} or @{b} so that neither name is part of the other"))
        if not _may_overlap(planner):
            continue
        shots = job.shots
        i = shots[0].number - 1 if shots else 0
        j = shots[-1].number if shots else 0
        prompt, multi = planner.prompts(i, j, planner.refs("api", job.kling_elements, job.ref_images))
        s = sent(CURRENT, job.kind, prompt, multi, scene.settings.negative)
        text = s.prompt if s.prompt is not None else " ".join(t for _, t, _ in s.shots)
        if "@" not in text:
            continue
        # The prompt without its references (longest names first: @ZhangSan before @Zhang).
        for name in sorted(ids, key=len, reverse=True):
            text = re.sub(rf"(?<![\w@])@{re.escape(name)}(?!\w)", " ", text)
        for name in ids:
            found = re.search(rf"[\w.+-]*@{re.escape(name)}(?!\w)(?:\.\w+)*", text, re.IGNORECASE)
            if found is None or (name, None) in seen:
                continue
            seen.add((name, None))
            out.append(make(
                "KLS408", where(name),
                f'scene "{scene.title}": the prompt has "{found.group(0)}", which Kling may read as '
                f"the input @{name}; its pages ask that element names not overlap with the "
                f"prompt's other text",
                help=f'rename @{name} to a name the prompt does not otherwise have after an "@", '
                     f'or reword "{found.group(0)}"'))
    return out


_GLUED = re.compile(r"\w@")


def _may_overlap(planner) -> bool:
    """Whether the texts a scene's prompts are made from have an ``@`` right after a letter or
    digit (``wang@gmail.com``), the only way a prompt gets an input's ``@name`` besides its
    references (a mention is ``@Name`` after a space or punctuation): when they have none, the
    prompts need not be rendered to look (the check stays as fast)."""
    hit = getattr(planner, "_glued", None)
    if hit is None:
        from ..syntax.ast import Span

        scene = planner.scene
        texts: list = [scene.sound, scene.settings.style, scene.settings.negative]
        for el in planner.elements.values():
            texts += [el.description, el.voice]
        stack: list = [scene.preamble, scene.shots]
        while stack:
            item = stack.pop()
            if isinstance(item, str):
                texts.append(item)
            elif isinstance(item, tuple) and not isinstance(item, Span):
                stack.extend(item)
        hit = any(_GLUED.search(t) for t in texts if isinstance(t, str))
        planner._glued = hit
    return hit

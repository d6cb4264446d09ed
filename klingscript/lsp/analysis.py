"""What an editor asks about a script, answered from a checked ``Program``.

Plain Python with no protocol library: positions here are our own (1-based
lines, 1-based code-point columns); ``server.py`` converts them.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Optional

from ..syntax import ast as A
from ..syntax.positions import split_lines
from ..syntax.shapes import NAME_RE, SPEAKER
from ..project import Declaration, Loader, Program, SourceFile


KIND_ORDER = {"character": 0, "animal": 1, "location": 2, "prop": 3}


# ---------------------------------------------------------------------------
# Symbols: what is under the cursor

@dataclass(frozen=True)
class Target:
    """An element, identified across files by the file that declares it and its name."""
    path: Path
    name: str


@dataclass
class Occurrence:
    """Where an element's name appears: ``span`` covers the name only (no ``@``)."""
    path: Path
    span: A.Span
    text: str               # the text of the file the span points into
    declaration: bool = False


def name_span(ref_span: A.Span) -> A.Span:
    """The span of a reference's name, without the ``@``."""
    return A.Span(ref_span.file, ref_span.line, ref_span.column + 1, ref_span.end_line,
                  ref_span.end_column, ref_span.start + 1, ref_span.end)


def target_of(decl: Declaration) -> Target:
    return Target(decl.file.path, decl.element.name)


def element_at(program: Program, line: int, column: int):
    """The element under the cursor: ``(Target | None, name, name_span)`` or None.

    The cursor may be on a reference (``@Name``) or on the name of a
    declaration in this file. A reference to an undeclared name has no target.
    """
    for ref, decl in program.references:
        if ref.span.contains(line, column):
            return (target_of(decl) if decl else None), ref.name, name_span(ref.span)
    for el in program.main.doc.elements:
        s = el.name_span
        if s.contains(line, column):
            decl = program.elements.get(el.name)
            target = target_of(decl) if decl is not None and decl.element is el else \
                Target(program.main.path, el.name)
            return target, el.name, s
    return None


def occurrences(program: Program, target: Target) -> list[Occurrence]:
    """The declaration (when it is in one of the program's files) and every reference."""
    out: list[Occurrence] = []
    decl = program.elements.get(target.name)
    if decl is not None and decl.file.path == target.path:
        out.append(Occurrence(decl.file.path, decl.element.name_span, decl.file.text, True))
    else:
        f = program.files.get(target.path)
        if f is not None:
            for el in f.doc.elements:
                if el.name == target.name:
                    out.append(Occurrence(f.path, el.name_span, f.text, True))
    for ref, d in program.references:
        if d is not None and d.file.path == target.path and d.element.name == target.name:
            out.append(Occurrence(program.main.path, name_span(ref.span), program.main.text))
    return out


def related_scripts(start: Path, roots: Iterable[Path], limit: int = 400) -> list[Path]:
    """``.kls`` files that may use ``start`` or share its cast: its folder and the workspace roots."""
    skip = {".git", "node_modules", ".venv", "venv", "build", "dist", "__pycache__"}
    seen: dict[Path, None] = {}
    for root in [start.parent, *roots]:
        if not root.is_dir():
            continue
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames[:] = [d for d in dirnames if d not in skip and not d.startswith(".")]
            for fn in filenames:
                if fn.endswith(".kls"):
                    seen.setdefault(Path(os.path.abspath(os.path.join(dirpath, fn))), None)
                    if len(seen) >= limit:
                        return list(seen)
    return list(seen)


def programs_mentioning(name: str, paths: Iterable[Path], loader: Loader,
                        exclude: Iterable[Path] = ()) -> list[Program]:
    """Resolved programs of the scripts whose text mentions ``@name``."""
    from ..passes import resolve
    from ..project import InputError, load_program
    skip = set(exclude)
    needle = "@" + name
    out = []
    for p in paths:
        if p in skip:
            continue
        try:
            text = loader.read(p)
        except OSError:
            continue
        if needle not in text:
            continue
        try:
            program = load_program(p, loader=loader, display=str(p))
            resolve.run(program)
        except (InputError, RecursionError):
            continue
        out.append(program)
    return out


# ---------------------------------------------------------------------------
# Hover

def element_card(decl: Declaration, main: Optional[SourceFile] = None) -> str:
    el = decl.element
    where = decl.file.display
    if main is not None and decl.file.path != main.path:
        try:
            where = os.path.relpath(decl.file.path, main.path.parent)
        except ValueError:
            pass
    s = el.name_span
    lines = [f"**{el.kind} {el.name}** · {where}:{s.line}"]
    if el.description:
        lines += ["", el.description]
    images = [i.value for i in el.images]
    if images:
        lines += ["", "images: " + ", ".join(f"`{i}`" for i in images)]
    if el.voice:
        lines += ["", f"voice: {el.voice}"]
    if not el.description and not images:
        lines += ["", "_no description or images yet_"]
    return "\n".join(lines)


def default_language(program: Program, scene: Optional[A.Scene] = None) -> str:
    """The scene's (or the script's) language, as ``klingc check`` decides it."""
    from ..model import context
    return context.of(program, scene).language


def scene_at(doc: A.Document, line: int) -> Optional[tuple[int, A.Scene]]:
    for i, scene in enumerate(doc.scenes, 1):
        if scene.span.line <= line <= scene.span.end_line:
            return i, scene
    return None


def shot_hover(program: Program, scene: A.Scene, shot: A.Shot) -> str:
    from ..model.timing import shot_duration
    seconds, inferred = shot_duration(shot, default_language(program, scene))
    head = f"**Shot {shot.number_text}**"
    if seconds is None:
        return f"{head} · the duration `{shot.duration.text if shot.duration else ''}` is not whole seconds"
    how = "inferred from its dialogue" if inferred else "as written"
    return f"{head} · {seconds} s ({how})"


def scene_seconds(program: Program, scene: A.Scene) -> tuple[Optional[int], bool]:
    """The scene's length and whether any of it was inferred."""
    from ..model.timing import infer_duration, shot_duration
    lang = default_language(program, scene)
    if scene.shots:
        total, inferred = 0, False
        for shot in scene.shots:
            seconds, inf = shot_duration(shot, lang)
            if seconds is None:
                return None, inferred
            total += seconds
            inferred = inferred or inf
        return total, inferred
    if scene.duration is not None:
        return scene.duration.seconds, False
    return infer_duration(scene.preamble, lang), True


def plan_jobs(plan, scene_index: int) -> Optional[list[dict]]:
    """The jobs of scene ``scene_index`` (1-based) in the plan of a check, or None without a plan.

    ``compiler.check`` plans the scenes without errors; a scene with errors has no jobs there.
    """
    if plan is None:
        return None
    out = []
    try:
        for job in plan.jobs:
            if getattr(job.scene, "number", None) != scene_index:
                continue
            out.append({"part": job.part, "parts": job.parts, "duration": job.duration,
                        "credits": job.credits, "shots": list(job.shot_numbers), "endpoint": job.endpoint})
    except Exception:  # a plan of another shape: show the scene without its jobs
        return None
    return out


def _number(x) -> str:
    if isinstance(x, float) and x.is_integer():
        return str(int(x))
    return f"{x:g}" if isinstance(x, float) else str(x)


def scene_hover(program: Program, index: int, scene: A.Scene, plan=None) -> str:
    seconds, inferred = scene_seconds(program, scene)
    parts = [f"**scene \"{scene.title.value}\"**"]
    if seconds is not None:
        parts.append(f"{seconds} s" + (" (some of it inferred)" if inferred and scene.shots else
                                       " (inferred)" if inferred else ""))
    if scene.shots:
        parts.append(f"{len(scene.shots)} shot{'s' if len(scene.shots) != 1 else ''}")
    lines = [" · ".join(parts)]
    jobs = plan_jobs(plan, index)
    if jobs:
        credits = sum(j["credits"] or 0 for j in jobs)
        lines += ["", f"{len(jobs)} job{'s' if len(jobs) != 1 else ''} · {_number(credits)} credits", ""]
        for j in jobs:
            shots = j.get("shots")
            shot_text = f", shots {', '.join(map(str, shots))}" if shots else ""
            lines.append(f"- part {j['part']}: {j['duration']} s{shot_text}, {_number(j['credits'])} credits "
                         f"(`{j['endpoint']}`)")
    elif jobs is not None:
        lines += ["", "_not planned: fix the errors in this scene to see its jobs and credits_"]
    return "\n".join(lines)


def hover(program: Program, line: int, column: int, plan=None) -> Optional[tuple[str, A.Span]]:
    """Markdown for the thing under the cursor, and the span it is about (``plan``: the check's)."""
    hit = element_at(program, line, column)
    if hit is not None:
        target, name, span = hit
        decl = program.elements.get(name)
        if decl is not None:
            return element_card(decl, program.main), span
        return f"**@{name}** is not declared", span
    found = scene_at(program.main.doc, line)
    if found is None:
        return None
    index, scene = found
    if scene.head_span.line == line:
        return scene_hover(program, index, scene, plan), scene.head_span
    for shot in scene.shots:
        if shot.head_span.line == line:
            return shot_hover(program, scene, shot), shot.head_span
    return None


# ---------------------------------------------------------------------------
# Document symbols

@dataclass
class Symbol:
    name: str
    kind: str               # character | location | prop | scene | shot | setting
    detail: str
    span: A.Span
    selection: A.Span
    children: list["Symbol"] = field(default_factory=list)


def symbols(doc: A.Document) -> list[Symbol]:
    out: list[Symbol] = []
    for item in doc.items:
        if isinstance(item, A.Element):
            out.append(Symbol(item.name, item.kind, item.kind, item.span, item.name_span))
        elif isinstance(item, A.Scene):
            detail = []
            if item.duration is not None:
                detail.append(item.duration.text)
            if item.location is not None:
                detail.append(f"at @{item.location.name}")
            sym = Symbol(item.title.value or "(untitled scene)", "scene", " ".join(detail), item.span,
                         item.title.span)
            for shot in item.shots:
                text = shot.text.value if shot.text is not None else ""
                dur = f"{shot.duration.text} " if shot.duration is not None else ""
                sym.children.append(Symbol(f"Shot {shot.number_text}", "shot", (dur + text)[:80],
                                           shot.span, shot.head_span))
            out.append(sym)
    return out


# ---------------------------------------------------------------------------
# Completion

@dataclass
class Completion:
    label: str
    kind: str               # element kind, "setting", "value", "language", "keyword", "offscreen"
    detail: str = ""
    documentation: str = ""
    insert: Optional[str] = None
    start: int = 0          # code-point column where the replaced text starts
    sort: str = ""
    snippet: bool = False


def _line_indent(text: str) -> int:
    return len(text) - len(text.lstrip(" \t"))


def _block_context(lines: list[str], line: int, indent: int) -> tuple[str, Optional[str]]:
    """(``top`` | ``element`` | ``scene`` | ``shot``, the element kind) for a line indented by ``indent``."""
    if indent == 0:
        return "top", None
    parent = None
    for i in range(line - 2, -1, -1):
        text = lines[i].rstrip("\r")
        if not text.strip() or text.lstrip().startswith("#"):
            continue
        ind = _line_indent(text)
        if parent is None and ind < indent:
            parent = text
        if ind == 0:
            m = re.match(r"(character|animal|location|prop)(?!\w)", text)
            if m:
                return "element", m.group(1)
            if re.match(r"scene(?!\w)", text):
                if parent is not None and re.match(r"[ \t]+Shot[ \t]", parent):
                    return "shot", None
                return "scene", None
            return "top", None
    return "top", None


def _shot_number(lines: list[str], line: int) -> int:
    """The number for a new shot at ``line``: one more than the previous shot of its scene."""
    for i in range(line - 2, -1, -1):
        text = lines[i]
        m = re.match(r"[ \t]+Shot[ \t]+(\d+)", text)
        if m:
            return int(m.group(1)) + 1
        if text.strip() and _line_indent(text) == 0 and not text.lstrip().startswith("#"):
            break
    return 1


def _model(program: Optional[Program], scene: Optional[A.Scene] = None):
    """The scene's (or the script's) model profile, as ``klingc check`` decides it."""
    from ..model import context
    if program is None:
        return context.default_model()
    return context.of(program, scene).profile


def _language_items(program: Optional[Program], start: int, scene=None) -> list[Completion]:
    from ..model.languages import all_languages
    from ..resources import data_toml
    profile = _model(program, scene)
    spoken = set(profile.languages) if profile is not None else set()
    table = data_toml("languages.toml")
    items = []
    for name in all_languages():
        entry = table.get(name, {})
        natives = [n for n in entry.get("names", ()) if "(" not in n]
        other = ", ".join([entry.get("code", "")] + natives)
        if name in spoken:
            detail = f"spoken by {profile.name}" + (f" · also {other}" if other else "")
            sort = "0" + name
        else:
            detail = f"not spoken by {profile.name}" if profile else ""
            sort = "1" + name
        items.append(Completion(name, "language", detail, "", name, start, sort))
    return items


def _element_items(program: Program, start: int, prefer: Optional[str]) -> list[Completion]:
    items = []
    for name, decl in sorted(program.elements.items()):
        el = decl.element
        rank = 0 if prefer is None or el.kind == prefer else 1
        where = "" if decl.file.path == program.main.path else f" · {decl.file.display}"
        doc_lines = []
        if el.description:
            doc_lines.append(el.description)
        if el.voice:
            doc_lines.append(f"voice: {el.voice}")
        if el.images:
            doc_lines.append("images: " + ", ".join(i.value for i in el.images))
        items.append(Completion(name, el.kind, el.kind + where, "\n\n".join(doc_lines), name, start,
                                f"{rank}{KIND_ORDER.get(el.kind, 3)}{name}"))
    return items


def complete(program: Optional[Program], text: str, line: int, column: int) -> list[Completion]:
    """Completions at our ``line`` and ``column`` of ``text`` (the current buffer)."""
    from ..model import profiles
    from ..model.languages import OFFSCREEN
    from ..model.settings import DOCUMENT_SETTINGS, ELEMENT_FIELDS, SCENE_SETTINGS, allowed
    lines = split_lines(text)
    if lines and lines[0].startswith("\ufeff"):
        lines[0] = lines[0][1:]
    cur = lines[line - 1].rstrip("\r") if 0 < line <= len(lines) else ""
    before = cur[: max(0, column - 1)]

    scene = None
    if program is not None:
        found = scene_at(program.main.doc, line)
        scene = found[1] if found else None

    # @references
    m = re.search(r"(?<![\w@])@(\w*)\Z", before)
    if m:
        if program is None:
            return []
        prefer = None
        if re.match(r"scene(?!\w).*\bat[ \t]+@\w*\Z", before):
            prefer = "location"
        elif re.fullmatch(r"[ \t]+@\w*", before):
            prefer = "character"
        return _element_items(program, m.start(1) + 1, prefer)

    # a language (or V.O.) inside a dialogue direction
    m = re.match(r"[ \t]+" + SPEAKER + r"[ \t]*\(([^)]*)\Z", before)
    if m:
        inner = m.group(1)
        item = inner.rsplit(",", 1)[-1]
        start = column - len(item.lstrip())
        items = _language_items(program, start, scene)
        items += [Completion(v, "offscreen", "an off-screen voice", "", v, start, "2" + v)
                  for v in ("V.O.", "O.S.")]
        return items

    # a setting's value
    m = re.match(r"([ \t]*)([a-z][a-z_]*(?:[ \t]+frame)?)[ \t]*:[ \t]*([^\"\u201c]*)\Z", before)
    if m:
        key = " ".join(m.group(2).split())
        start = m.start(3) + 1
        if key == "model":
            return [Completion(p, "value", "model profile", "", p, start, p) for p in profiles.available()]
        if key == "language":
            return _language_items(program, start, scene)
        values = allowed(key, _model(program, scene)) if key in DOCUMENT_SETTINGS else None
        if values:
            return [Completion(v, "value", key, "", v, start, f"{i:02d}") for i, v in enumerate(values)]
        return []

    # a setting key, field or keyword at the start of a line
    m = re.fullmatch(r"([ \t]*)([A-Za-z][a-z_]*(?:[ \t]+[a-z]*)?)?", before)
    if not m:
        return []
    start = len(m.group(1)) + 1
    context, kind = _block_context(lines, line, len(m.group(1).expandtabs(4)))
    out: list[Completion] = []
    if context == "top":
        for key in DOCUMENT_SETTINGS:
            out.append(Completion(key, "setting", "document setting", "", key + ": ", start, "0" + key))
        for kw, ins in (("use", 'use "${1:cast.kls}"'), ("character", "character ${1:Name}:\n    description: \"$2\""),
                        ("animal", "animal ${1:Name}:\n    description: \"$2\""),
                        ("location", "location ${1:Place}:\n    description: \"$2\""),
                        ("prop", "prop ${1:Thing}:\n    description: \"$2\""),
                        ("scene", 'scene "${1:Title}" at @${2:Place}:\n    ')):
            out.append(Completion(kw, "keyword", "", "", ins, start, "1" + kw, snippet=True))
    elif context == "element":
        for key in ELEMENT_FIELDS:
            if key.startswith("voice") and kind != "character":
                continue
            out.append(Completion(key, "setting", f"{kind} field", "", key + ": ", start, key))
    elif context == "scene":
        for key in SCENE_SETTINGS:
            out.append(Completion(key, "setting", "scene setting", "", key + ": ", start, "1" + key))
        n = _shot_number(lines, line)
        out.append(Completion(f"Shot {n}", "keyword", "a new shot", "", f"Shot {n} (${{1:3}}s): $0", start,
                              "0shot", snippet=True))
    else:  # inside a shot
        out.append(Completion("sound", "setting", "a sound cue", "", "sound: ", start, "sound"))
    return out


# ---------------------------------------------------------------------------
# Rename

def check_new_name(program: Program, old: str, new: str) -> Optional[str]:
    """Why ``new`` (without its ``@``) cannot replace ``old``, or None when it can."""
    if not NAME_RE.match(new):
        return f"`{new}` is not a name: a letter, then letters, digits or `_`"
    most = _model(program, None).element.name_max_chars
    if len(new) > most:
        return f"`{new}` is longer than {most} characters (Kling's limit for element names)"
    if new != old and new in program.elements:
        d = program.elements[new]
        return f"@{new} is already declared ({d.file.display}:{d.element.name_span.line})"
    return None

"""Resolve references: declarations across ``use`` files, duplicates, undeclared
names (with the nearest name as a fix), wrong kinds, and unused elements.
"""

from __future__ import annotations

from typing import Optional

from ..syntax import ast as A
from ..diagnostics.codes import make
from ..diagnostics.model import Diagnostic, Label
from ..project import Declaration, Program
from ..model.settings import edit_distance

KIND_WORD = {"character": "a character", "animal": "an animal", "location": "a location", "prop": "a prop"}


def run(program: Program) -> list[Diagnostic]:
    diags = declare(program)
    for scene in program.main.doc.scenes:
        diags.extend(resolve_scene(program, scene))
    diags.extend(unused(program, used_names(program.references)))
    return diags


# The pass in its parts, for a driver that reuses scenes' results (compiler.py):
# ``declare`` and ``unused`` are about the document, ``resolve_scene`` about one scene.

def declare(program: Program) -> list[Diagnostic]:
    """Declare every element of the program (KLS202 for a name declared twice)."""
    diags: list[Diagnostic] = []
    _declare(program, diags)
    return diags


def resolve_scene(program: Program, scene: A.Scene) -> list[Diagnostic]:
    """Resolve the references of one scene of the main file (they go to ``program.references``)."""
    diags: list[Diagnostic] = []
    _resolve_scene(program, scene, diags)
    return diags


def used_names(references) -> set[str]:
    """The names of the declared elements that ``references`` refer to."""
    return {ref.name for ref, decl in references if decl is not None}


def unused(program: Program, used: set[str], has_scenes: bool | None = None) -> list[Diagnostic]:
    """KLS403 for each element of the main file that no scene uses (``used``: the names they do)."""
    diags: list[Diagnostic] = []
    _unused(program, used, diags, bool(program.main.doc.scenes) if has_scenes is None else has_scenes)
    return diags


def _declare(program: Program, diags: list[Diagnostic]) -> None:
    # The main file's own elements first, then the used files in load order.
    for f in program.files.values():
        for el in f.doc.elements:
            first = program.elements.get(el.name)
            if first is None:
                program.elements[el.name] = Declaration(el, f)
                continue
            where = f"{first.file.display}:{first.element.name_span.line}:{first.element.name_span.column}"
            diags.append(make(
                "KLS202", el.name_span, f"@{el.name} is declared twice",
                help=f"rename one of them, or delete this one (the first is at {where})",
                labels=[Label(first.element.name_span, f"@{el.name} first declared here")]))


def _resolve_scene(program: Program, scene: A.Scene, diags: list[Diagnostic]) -> None:
    if scene.location is not None:
        decl = _lookup(program, scene.location, diags)
        if decl is not None and decl.element.kind != "location":
            diags.append(_wrong_kind(scene.location, decl, "location",
                                     "a scene takes place `at` a location"))
    for line in scene.lines():
        if isinstance(line, A.Dialogue):
            if isinstance(line.speaker, A.Ref):
                decl = _lookup(program, line.speaker, diags)
                if decl is not None and decl.element.kind == "location":
                    diags.append(_wrong_kind(line.speaker, decl, "character",
                                             "a location cannot speak"))
        elif isinstance(line, A.Action):
            for ref in line.text.refs:
                _lookup(program, ref, diags)
    for shot in scene.shots:
        if shot.text is not None:
            for ref in shot.text.refs:
                _lookup(program, ref, diags)


def _lookup(program: Program, ref: A.Ref, diags: list[Diagnostic]) -> Optional[Declaration]:
    decl = program.elements.get(ref.name)
    program.references.append((ref, decl))
    if decl is not None:
        return decl
    suggestion = nearest_element(program, ref.name)
    help = None
    if suggestion is not None:
        s = suggestion.element.name_span
        help = f"did you mean @{suggestion.element.name}? (declared at {suggestion.file.display}:{s.line}:{s.column})"
    elif not program.elements:
        help = f"declare it first, e.g. `character {ref.name}:` with a description"
    else:
        help = f"declare `character {ref.name}:` (or an animal, a location or a prop), or `use` the file that declares it"
    diags.append(make("KLS201", ref.span, f"no element named @{ref.name}", help=help))
    return None


def nearest_element(program: Program, name: str) -> Optional[Declaration]:
    best, best_d = None, None
    for cand, decl in program.elements.items():
        d = 0 if cand.casefold() == name.casefold() else edit_distance(name, cand)
        if best_d is None or d < best_d:
            best, best_d = decl, d
    if best is None:
        return None
    limit = max(1, min(3, len(name) // 3 + 1))
    return best if best_d <= limit else None


def _wrong_kind(ref: A.Ref, decl: Declaration, wanted: str, why: str) -> Diagnostic:
    el = decl.element
    return make("KLS203", ref.span,
                f"@{ref.name} is {KIND_WORD[el.kind]}, but {why}",
                help=f"use {KIND_WORD[wanted]} here, or declare @{ref.name} as `{wanted} {ref.name}:`",
                labels=[Label(el.name_span, f"@{ref.name} declared as {KIND_WORD[el.kind]} here")])


def _unused(program: Program, used: set[str], diags: list[Diagnostic], has_scenes: bool) -> None:
    doc = program.main.doc
    # A file with no scenes is a cast file: its elements are for others to use.
    if not has_scenes:
        return
    for el in doc.elements:
        if el.name not in used and program.elements.get(el.name) is not None \
                and program.elements[el.name].element is el:
            diags.append(make("KLS403", el.name_span, f"@{el.name} is declared but never appears in a scene",
                              help=f"refer to it as @{el.name} in a scene, or delete it"))

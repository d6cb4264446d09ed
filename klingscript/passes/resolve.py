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

KIND_WORD = {"character": "a character", "location": "a location", "prop": "a prop"}


def run(program: Program) -> list[Diagnostic]:
    diags: list[Diagnostic] = []
    _declare(program, diags)
    _resolve(program, diags)
    _unused(program, diags)
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


def _resolve(program: Program, diags: list[Diagnostic]) -> None:
    doc = program.main.doc
    for scene in doc.scenes:
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
        help = f"declare `character {ref.name}:` (or a location or prop), or `use` the file that declares it"
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


def _unused(program: Program, diags: list[Diagnostic]) -> None:
    doc = program.main.doc
    # A file with no scenes is a cast file: its elements are for others to use.
    if not doc.scenes:
        return
    used = {ref.name for ref, decl in program.references if decl is not None}
    for el in doc.elements:
        if el.name not in used and program.elements.get(el.name) is not None \
                and program.elements[el.name].element is el:
            diags.append(make("KLS403", el.name_span, f"@{el.name} is declared but never appears in a scene",
                              help=f"refer to it as @{el.name} in a scene, or delete it"))

"""A program: the file given to klingc, the files it ``use``s, and their diagnostics.

The project folder is the folder of the file given to klingc. Paths in a
script (``use`` files, images, frames) are relative to the file they are
written in and may not leave the project folder unless ``allow_outside``.
Files are read through ``Loader.read`` so the language server can supply
unsaved editor buffers instead of the disk.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, NamedTuple, Optional

from .files import HoldsSecret, read_text
from .syntax import ast as A
from .syntax.positions import line_and_column
from .diagnostics.codes import make
from .diagnostics.model import Diagnostic, Label


class InputError(Exception):
    """The file given on the command line cannot be read at all (exit 2)."""


class SourceFile(NamedTuple):
    path: Path          # absolute
    display: str        # as shown in diagnostics
    text: str
    doc: A.Document


class Declaration(NamedTuple):
    element: A.Element
    file: SourceFile


class Program:
    def __init__(self, root: Path, main: SourceFile,
                 files: Optional[dict[Path, SourceFile]] = None,
                 elements: Optional[dict[str, Declaration]] = None,
                 diagnostics: Optional[list[Diagnostic]] = None,
                 allow_outside: bool = False,
                 references: Optional[list[tuple[A.Ref, Optional[Declaration]]]] = None):
        self.root = root
        self.main = main
        self.files: dict[Path, SourceFile] = {} if files is None else files   # main first, in load order
        self.elements: dict[str, Declaration] = {} if elements is None else elements
        self.diagnostics: list[Diagnostic] = [] if diagnostics is None else diagnostics
        self.allow_outside = allow_outside
        # Filled by the resolve pass: every reference in the main file with its declaration.
        self.references: list[tuple[A.Ref, Optional[Declaration]]] = [] if references is None else references
        # The main document's and its scenes' effective settings (model.context), worked out once.
        self.contexts = None
        # The API generation given on the command line (``--api``), over the script's ``api:``.
        self.api: Optional[str] = None
        # Files other than scripts that diagnostics depend on (images), for the cache's keys.
        self.touched: set[Path] = set()
        # The ``use`` files looked for, read or not (a missing one's folder gives KLS204's hint).
        self.looked_for: set[Path] = set()
        # Whether a file was refused for holding an API secret's value (files.HoldsSecret).
        self.refused_secret = False

    def source_of(self, display: str) -> Optional[str]:
        for f in self.files.values():
            if f.display == display:
                return f.text
        return None

    def file_of_display(self, display: str) -> Optional[SourceFile]:
        for f in self.files.values():
            if f.display == display:
                return f
        return None

    def resolve_path(self, base: SourceFile, rel: str) -> Path:
        return Path(os.path.normpath(base.path.parent / rel))

    def display_path(self, base: SourceFile, rel: str) -> str:
        return os.path.normpath(os.path.join(os.path.dirname(base.display), rel))

    def inside_root(self, path: Path) -> bool:
        """Whether ``path``, its symbolic links followed, is inside the project folder; an
        ``OSError`` saying so for a path that cannot be followed (a symbolic link loop)."""
        from .files import resolve
        try:
            resolve(path).relative_to(resolve(self.root))
            return True
        except ValueError:
            return False


class Loader:
    def __init__(self, overlays: Optional[dict[Path, str]] = None):
        self.overlays = {Path(os.path.abspath(k)): v for k, v in (overlays or {}).items()}

    def read(self, path: Path) -> str:
        if path in self.overlays:
            return self.overlays[path]
        return read_text(path)

    def parse(self, path: Path, text: str, display: str) -> tuple[A.Document, list[Diagnostic]]:
        """Parse a file's text; a file read from disk goes through the parse cache."""
        from .syntax.parser import parse

        if path in self.overlays:
            return parse(text, display)
        from . import cache
        return cache.parse(text, display)


def load_program(path: str | os.PathLike, *, allow_outside: bool = False,
                 loader: Optional[Loader] = None, display: Optional[str] = None) -> Program:
    """Parse ``path`` and every file it uses (recursively); resolve nothing yet."""
    return _load_program(path, allow_outside, loader or Loader(), display)


def read_main(path: str | os.PathLike, loader: Loader) -> tuple[Path, str]:
    """The absolute path and the text of the file given to klingc (``InputError`` if unreadable)."""
    from .files import NotRegularFile

    abspath = Path(os.path.abspath(path))
    try:
        return abspath, loader.read(abspath)
    except IsADirectoryError:
        raise InputError(f"{path}: is a folder, not a .kls file")
    except NotRegularFile as e:
        raise InputError(f"{path}: is {e.kind}, not a .kls file")
    except FileNotFoundError:
        raise InputError(f"{path}: no such file")
    except OSError as e:
        raise InputError(f"{path}: cannot read ({e.strerror or e})")


def _load_program(path: str | os.PathLike, allow_outside: bool, loader: Loader,
                  display: Optional[str]) -> Program:
    abspath, text = read_main(path, loader)
    display = display or os.path.normpath(str(path))
    doc, diags = loader.parse(abspath, text, display)
    return load_parsed(abspath, display, text, doc, diags, allow_outside, loader)


def load_parsed(abspath: Path, display: str, text: str, doc: A.Document, diags: list[Diagnostic],
                allow_outside: bool, loader: Loader) -> Program:
    """The program of a main file already parsed (``doc``, with its syntax ``diags``)."""
    main = SourceFile(abspath, display, text, doc)
    program = Program(abspath.parent, main, allow_outside=allow_outside)
    program.files[abspath] = main
    program.diagnostics.extend(diags)
    if "\ufffd" in text and "\x00" not in text:
        program.diagnostics.append(_not_utf8(main))
    _load_uses(program, main, [abspath], loader)
    return program


def _not_utf8(f: SourceFile) -> Diagnostic:
    idx = f.text.index("\ufffd")
    line, col = line_and_column(f.text, idx)
    if line == 1 and f.text.startswith("\ufeff"):
        col -= 1  # the byte-order mark is not a column
    return make("KLS100", A.Span(f.display, line, col, line, col + 1, idx, idx + 1),
                "this file is not valid UTF-8 text", help="save the file as UTF-8")


def _load_uses(program: Program, f: SourceFile, stack: list[Path], loader: Loader) -> None:
    for use in f.doc.uses:
        rel = use.path.value
        target = program.resolve_path(f, rel)
        span = use.path.span
        if not rel.strip():
            program.diagnostics.append(make("KLS204", span, "`use` needs a file name",
                                            help='write `use "cast.kls"`'))
            continue
        # Looked at (by its signature, which follows links) before anything can set it aside, so
        # that a cached result is made again when a loop is mended or a link now leads outside.
        program.looked_for.add(target)
        try:
            outside = not program.allow_outside and not program.inside_root(target)
        except OSError as e:
            program.diagnostics.append(make("KLS204", span, f"cannot read \"{rel}\": {e.strerror or e}"))
            continue
        if outside:
            program.diagnostics.append(make(
                "KLS502", span, f"\"{rel}\" is outside the project folder "
                f"(the folder of {Path(program.main.display).name})",
                help="keep shared files inside the project folder, or run klingc with --allow-outside"))
            continue
        if target in stack:
            chain = " → ".join(program.files[p].display if p in program.files else str(p)
                               for p in stack[stack.index(target):]) + f" → {program.display_path(f, rel)}"
            program.diagnostics.append(make("KLS204", span, f"`use` goes round in a circle: {chain}",
                                            help="a cast file should not use the files that use it"))
            continue
        if target in program.files:
            continue  # imported already: harmless
        try:
            text = loader.read(target)
        except FileNotFoundError:
            hint = _nearest_file(target)
            program.diagnostics.append(make(
                "KLS204", span, f"cannot find \"{rel}\" (looked for {program.display_path(f, rel)})",
                help=f'did you mean "{hint}"?' if hint else "check the file name and that it is next to this script"))
            continue
        except OSError as e:
            if isinstance(e, HoldsSecret):
                # Whether a file is refused depends on the environment, not on the file: such a
                # check is not kept (compiler.diagnose takes the full path).
                program.refused_secret = True
            program.diagnostics.append(make("KLS204", span, f"cannot read \"{rel}\": {e.strerror or e}"))
            continue
        display = program.display_path(f, rel)
        doc, diags = loader.parse(target, text, display)
        used = SourceFile(target, display, text, doc)
        program.files[target] = used
        program.diagnostics.extend(diags)
        if "\ufffd" in text and "\x00" not in text:
            program.diagnostics.append(_not_utf8(used))
        _load_uses(program, used, stack + [target], loader)


def _nearest_file(target: Path) -> Optional[str]:
    from .model.settings import nearest
    try:
        names = [p.name for p in target.parent.iterdir() if p.suffix == ".kls"]
    except OSError:
        return None
    return nearest(target.name, names)

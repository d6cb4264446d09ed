"""The front end, top to bottom: load the files, then run the passes in order."""

from __future__ import annotations

import os
from typing import Optional

from .diagnostics.model import sort_key
from .project import Loader, Program, load_program


def check(path: str | os.PathLike, *, allow_outside: bool = False,
          loader: Optional[Loader] = None) -> Program:
    """Load ``path`` with its ``use`` files and run every front-end pass.

    Raises ``project.InputError`` only when ``path`` itself cannot be read.
    """
    from .passes import check as check_pass, compiled, lint, resolve

    program = load_program(path, allow_outside=allow_outside, loader=loader)
    for p in (resolve, check_pass, lint, compiled):
        program.diagnostics.extend(p.run(program))
    program.diagnostics = sorted(set(program.diagnostics), key=sort_key)
    return program

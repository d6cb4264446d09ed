"""klingc fmt FILE… — rewrite scripts in the canonical layout."""

from __future__ import annotations

import os
import sys

HELP = "rewrite scripts in the canonical layout (comments kept)"


def add_arguments(p) -> None:
    p.add_argument("files", nargs="+", metavar="FILE")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--check", action="store_true",
                      help="write nothing; exit 1 when a file would change")
    mode.add_argument("--diff", action="store_true",
                      help="print what would change as a unified diff; write nothing")


def run(args) -> int:
    from ..diagnostics.render import render_text, summary, use_colour
    from ..tools.fmt import format_text

    status = 0
    unreadable = False
    for path in args.files:
        try:
            data = _read(path)
        except OSError as e:
            print(f"klingc: {path}: {_reason(e)}", file=sys.stderr)
            unreadable = True
            continue
        display = os.path.normpath(path)
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as e:
            _not_utf8(display, data, e)
            status = 1
            continue
        formatted, diags = format_text(text, display)
        if formatted is None:
            sys.stdout.write(render_text(diags, lambda _f: text, colour=use_colour(sys.stdout)))
            print(f"{display}: not formatted ({summary(diags)})", file=sys.stderr)
            status = 1
            continue
        if formatted == text:
            continue
        if args.check:
            print(f"{display}: would be reformatted")
            status = 1
        elif args.diff:
            sys.stdout.write(_diff(text, formatted, display))
        else:
            try:
                _write_atomic(path, formatted)
            except OSError as e:
                print(f"klingc: {path}: cannot write ({_reason(e)})", file=sys.stderr)
                unreadable = True
                continue
            print(f"{display}: reformatted", file=sys.stderr)
    return 2 if unreadable else status


def _read(path: str) -> bytes:
    """The file's bytes (a regular file of a script's size at most, holding no secret)."""
    from ..files import read_checked

    return read_checked(path, "script")


def _reason(e: OSError) -> str:
    from ..files import NotRegularFile

    if isinstance(e, FileNotFoundError):
        return "no such file"
    if isinstance(e, IsADirectoryError):
        return "is a folder, not a .kls file"
    if isinstance(e, NotRegularFile):
        return f"is {e.kind}, not a .kls file"
    return e.strerror or str(e)


def _not_utf8(display: str, data: bytes, e: UnicodeDecodeError) -> None:
    from ..syntax.positions import line_and_column
    before = data[: e.start].decode("utf-8", errors="replace")
    line, col = line_and_column(before, len(before))
    print(f"{display}:{line}:{col}: error[KLS100]: this file is not valid UTF-8 text; not formatted\n"
          f"   = help: save the file as UTF-8")


def _diff(old: str, new: str, display: str) -> str:
    import difflib
    from ..syntax.positions import lines_with_ends
    lines = difflib.unified_diff(lines_with_ends(old), lines_with_ends(new),
                                 fromfile=f"{display} (original)", tofile=f"{display} (formatted)")
    out = []
    for line in lines:
        out.append(line if line.endswith(("\n", "\r")) else line + "\n\\ No newline at end of file\n")
    return "".join(out)


def _write_atomic(path: str, text: str) -> None:
    """Rewrite ``path`` atomically; through a symbolic link, the file it points to."""
    from ..files import write_atomic
    write_atomic(os.path.realpath(path), text)

"""The klingc command line.

Exit codes: 0 success; 1 errors in the script (or `fmt --check` found work);
2 usage errors and unreadable input files; 3 an internal fault (one line,
never a traceback) or, for `render`, a failed generation; 130 interrupted
(Ctrl-C), the shells' convention for SIGINT (128 + 2).
Heavy modules (pydantic, jinja2, httpx) are imported only by the commands
that need them, so `klingc check` starts fast.
"""

from __future__ import annotations

import argparse
import sys

from . import __version__


class _Parser(argparse.ArgumentParser):
    building = False    # while the commands add their arguments (see _get_formatter)

    def __init__(self, *args, **kwargs):
        # No prefixes of long options (issue 12): `--api legacy` must not be read as
        # `--api-base legacy`. Subcommand parsers are made with this class too.
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def error(self, message):  # usage errors exit 2 with one clear line
        self.print_usage(sys.stderr)
        print(f"klingc: {message}", file=sys.stderr)
        raise SystemExit(2)

    def _get_formatter(self):
        # argparse checks each argument as it is added by formatting it, with a formatter
        # that asks shutil for the terminal's width; nothing is shown then, so a fixed
        # width spares importing shutil (and the compression modules it loads) on every
        # run. Help and usage text still get the terminal's width.
        if _Parser.building:
            return self.formatter_class(prog=self.prog, width=80)
        return super()._get_formatter()


# Every command is a module in klingscript/commands with `HELP`, `add_arguments(parser)`
# and `run(args) -> int`. Modules import their heavy dependencies inside `run`.
COMMAND_NAMES = ("check", "fmt", "explain", "build", "prompt", "cost", "render",
                 "simulate", "status", "voices", "lsp",
                 "pick", "review", "export", "import")


def _command_module(name: str):
    import importlib
    try:
        return importlib.import_module(f"klingscript.commands.{name}")
    except ModuleNotFoundError as e:
        if e.name == f"klingscript.commands.{name}":
            return None
        raise


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    _Parser.building = True
    try:
        return _build_parser(only)
    finally:
        _Parser.building = False


def _build_parser(only: str | None) -> argparse.ArgumentParser:
    p = _Parser(prog="klingc", description="Compile KlingScript screenplays (.kls) for Kling 3.0.")
    p.add_argument("--version", action="version", version=f"klingc {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name in COMMAND_NAMES:
        if only is not None and name != only:
            # Parsing one command needs only that command's module; list the rest by name.
            continue
        mod = _command_module(name)
        if mod is None:
            continue
        sp = sub.add_parser(name, help=mod.HELP, description=mod.HELP)
        mod.add_arguments(sp)
        sp.set_defaults(_run=mod.run)
    return p


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    first = next((a for a in argv if not a.startswith("-")), None)
    parser = build_parser(only=first if first in COMMAND_NAMES else None)
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return 2
    import gc

    # A compile makes hundreds of thousands of small objects and few cycles: the
    # cyclic collector runs much less often (as mypy does). The one garbage-collector
    # setting kept (issue 8): on the feature script (bench/gen_feature.py) it cuts the
    # collector's own time from 210-300 ms to under 20 ms of a `klingc check` of
    # 1.1-1.4 s (about 20%; 284-368 ms of a 2.8-3.6 s build, about 10%), and
    # bench/run.py's median first-run check from 1,644 to 1,245 ms (-24%), on a
    # loaded 2-core machine.
    gc.set_threshold(200_000, 30, 30)
    try:
        return args._run(args)
    except KeyboardInterrupt:
        print("klingc: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except Exception as e:  # never a traceback
        from .model.profiles import ProfileError
        if isinstance(e, ProfileError):   # a model profile without a limit: the set-up, not klingc
            print(f"klingc: {e}", file=sys.stderr)
            return 2
        print(f"klingc: internal error ({type(e).__name__}: {e}); please report it", file=sys.stderr)
        return 3


def entry() -> None:
    """The console script (and ``python -m klingscript``): ``main``, then out of the process
    without the interpreter's teardown once nothing is left to do.

    Tearing the interpreter down frees, one by one, every object a compile made (hundreds
    of thousands on a feature-length script) and the modules: that is time the user waits
    for and nothing needs. So, once ``main`` has returned: stdout and stderr are flushed,
    the ``atexit`` handlers run (logging's flush, ``weakref.finalize`` clean-ups, whatever
    a library registered), and the process leaves with ``os._exit``. Every file klingc
    writes is written and closed before ``main`` returns. When another thread is still
    running (the render simulator's, say), the interpreter exits as usual.
    Tests call ``main`` in-process, which returns normally.

    Kept because it pays (docs/decisions.md): from ``main``'s return to the end of the
    process on the feature script, ``check`` 38 -> 4 ms and ``build`` 129 -> 9 ms;
    ``klingc build`` 15-26% faster (median, first run and after an edit).
    """
    code = main()
    threading = sys.modules.get("threading")   # not imported: no thread was started with it
    if threading is not None and threading.active_count() > 1:
        raise SystemExit(code)
    import atexit
    import os
    try:
        sys.stdout.flush()
    except (BrokenPipeError, ValueError):
        pass  # the reader is gone (or stdout closed): as the interpreter, report nothing more
    try:
        sys.stderr.flush()
    except (BrokenPipeError, ValueError):
        pass
    atexit._run_exitfuncs()
    os._exit(code)

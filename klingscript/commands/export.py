"""klingc export RENDER_DIR [--otio F] [--fcpxml F] [--edl F] [--srt F] [--vtt F]
klingc export FILE.kls --fountain [-o FILE.fountain]

Hands a rendered film to an editor: the picked take of every job, in film
order, as an OpenTimelineIO timeline (``--otio``; ``--fcpxml`` for Final Cut
Pro and ``--edl`` for a CMX 3600 EDL, through OTIO's adapter plugins), one
clip per scene part, named after it and pointing at its file, with a marker
per shot (its number, action and dialogue); and subtitles of every line of
dialogue with its speaker (``--srt``, ``--vtt``), timed by its shot's place in
the film. Timeline, subtitles and ``film.mp4`` agree to the frame.

What is exported is said by the first argument: a render folder (what
``klingc render -o DIR`` made) takes the options above; a script (``.kls``)
takes ``--fountain``: the screenplay, for a screenplay app (``tools/fountain_export.py``),
written to ``-o FILE`` (default: FILE.fountain beside the script).

Exit codes: 0 written; 1 a script with errors (they are shown); 2 usage errors, a folder that is not a complete render,
a render running in the folder (another process holds its lock), a file that cannot be written.
"""

from __future__ import annotations

import sys
from pathlib import Path

HELP = ("export a rendered film for an editor (OpenTimelineIO, FCPXML, EDL, SRT and WebVTT subtitles), "
        "or a script as a Fountain screenplay")

FILM_OUTPUTS = (("otio", "an OpenTimelineIO timeline (.otio)"),
                ("fcpxml", "a Final Cut Pro X timeline (.fcpxml)"),
                ("edl", "a CMX 3600 edit decision list (.edl)"),
                ("srt", "SubRip subtitles of the dialogue (.srt)"),
                ("vtt", "WebVTT subtitles of the dialogue (.vtt)"))


def add_arguments(p) -> None:
    p.add_argument("source", metavar="RENDER_DIR|FILE.kls",
                   help="a render folder (klingc render -o DIR), or a script for --fountain")
    for name, what in FILM_OUTPUTS:
        p.add_argument(f"--{name}", metavar="FILE", type=Path, help=f"write {what}")
    p.add_argument("--fountain", action="store_true", help="write the script FILE.kls as a Fountain screenplay")
    p.add_argument("-o", "--output", metavar="FILE", type=Path,
                   help="with --fountain: where to write it (default: FILE.fountain beside the script)")


def run(args) -> int:
    from ..runtime.export import ExportError, film, subtitles, timeline, write_subtitles, write_timeline

    source = Path(args.source)
    wanted = [(name, getattr(args, name)) for name, _ in FILM_OUTPUTS if getattr(args, name) is not None]
    if source.suffix == ".kls" and not source.is_dir():
        if args.fountain and not wanted:
            return _fountain(source, args.output)
        print(f"klingc: {source} is a script: export it with --fountain, or a rendered film from its "
              f"render folder (klingc export render/{source.stem} --otio film.otio)", file=sys.stderr)
        return 2
    if args.fountain or args.output is not None:
        print(f"klingc: --fountain and -o export a script (FILE.kls); {source} is not one", file=sys.stderr)
        return 2
    if not wanted:
        print("klingc: nothing to export: give one or more of "
              + ", ".join(f"--{n} FILE" for n, _ in FILM_OUTPUTS), file=sys.stderr)
        return 2
    if not source.is_dir():
        print(f"klingc: {source} is not a render folder", file=sys.stderr)
        return 2
    from ..runtime.render import FolderBusy, check_folder_free
    try:
        check_folder_free(source, "export")     # a film half rendered is not exported
    except FolderBusy as e:
        print(f"klingc: {source}: {e}", file=sys.stderr)
        return 2
    try:
        f = film(source)
        tl = timeline(f) if any(n in ("otio", "fcpxml", "edl") for n, _ in wanted) else None
        subs = subtitles(f) if any(n in ("srt", "vtt") for n, _ in wanted) else None
        for name, path in wanted:
            if name in ("srt", "vtt"):
                write_subtitles(subs, path, name)
            else:
                write_timeline(tl, path, name)
            print(f"{name}: {path}")
    except ExportError as e:
        print(f"klingc: {e}", file=sys.stderr)
        return 2
    except OSError as e:
        print(f"klingc: cannot write {getattr(e, 'filename', None) or ''}: {e.strerror or e}", file=sys.stderr)
        return 2
    seconds = f.frames / f.rate
    print(f"{f.title}: {len(f.parts)} clips, {len(f.lines)} lines of dialogue, "
          f"{f.frames} frames at {f.rate:g} fps ({seconds:.2f}s)")
    return 0


def _fountain(source: Path, output) -> int:
    """``--fountain``: the script as a screenplay, through the compiler's front end."""
    from ..compiler import front_end
    from ..diagnostics.model import has_errors
    from ..diagnostics.render import render_text, summary, use_colour
    from ..files import write_atomic
    from ..project import InputError, load_program
    from ..tools.fountain_export import fountain

    out = output or source.with_suffix(".fountain")
    try:
        program = load_program(source)
    except InputError as e:
        print(f"klingc: {e}", file=sys.stderr)
        return 2
    diags = front_end(program)
    if has_errors(diags):
        errors = [d for d in diags if d.severity.value == "error"]
        sys.stdout.write(render_text(errors, program.source_of, colour=use_colour(sys.stdout)))
        sys.stdout.write(summary(errors) + "\n")
        return 1
    text = fountain(program)
    try:
        write_atomic(out, text)
    except OSError as e:
        print(f"klingc: cannot write {out}: {e.strerror or e}", file=sys.stderr)
        return 2
    scenes = len(program.main.doc.scenes)
    print(f"fountain: {out} ({scenes} scene{'' if scenes == 1 else 's'})")
    return 0

"""klingc export RENDER_DIR [--otio F] [--fcpxml F] [--edl F] [--srt F] [--vtt F]

Hands a rendered film to an editor: the picked take of every job, in film
order, as an OpenTimelineIO timeline (``--otio``; ``--fcpxml`` for Final Cut
Pro and ``--edl`` for a CMX 3600 EDL, through OTIO's adapter plugins), one
clip per scene part, named after it and pointing at its file, with a marker
per shot (its number, action and dialogue); and subtitles of every line of
dialogue with its speaker (``--srt``, ``--vtt``), timed by its shot's place in
the film. Timeline, subtitles and ``film.mp4`` agree to the frame.

What is exported is said by the first argument: a render folder (what
``klingc render -o DIR`` made) takes the options above; a script (``.kls``)
will take the options that export a script rather than a film.

Exit codes: 0 written; 2 usage errors, a folder that is not a complete render,
a file that cannot be written.
"""

from __future__ import annotations

import sys
from pathlib import Path

HELP = "export a rendered film for an editor: OpenTimelineIO, FCPXML, EDL, SRT and WebVTT subtitles"

FILM_OUTPUTS = (("otio", "an OpenTimelineIO timeline (.otio)"),
                ("fcpxml", "a Final Cut Pro X timeline (.fcpxml)"),
                ("edl", "a CMX 3600 edit decision list (.edl)"),
                ("srt", "SubRip subtitles of the dialogue (.srt)"),
                ("vtt", "WebVTT subtitles of the dialogue (.vtt)"))


def add_arguments(p) -> None:
    p.add_argument("source", metavar="RENDER_DIR", help="a render folder (klingc render -o DIR)")
    for name, what in FILM_OUTPUTS:
        p.add_argument(f"--{name}", metavar="FILE", type=Path, help=f"write {what}")


def run(args) -> int:
    from ..runtime.export import ExportError, film, subtitles, timeline, write_subtitles, write_timeline

    source = Path(args.source)
    wanted = [(name, getattr(args, name)) for name, _ in FILM_OUTPUTS if getattr(args, name) is not None]
    if source.suffix == ".kls" and not source.is_dir():
        print(f"klingc: {source} is a script: export a rendered film from its render folder "
              f"(klingc export render/{source.stem} --otio film.otio)", file=sys.stderr)
        return 2
    if not wanted:
        print("klingc: nothing to export: give one or more of "
              + ", ".join(f"--{n} FILE" for n, _ in FILM_OUTPUTS), file=sys.stderr)
        return 2
    if not source.is_dir():
        print(f"klingc: {source} is not a render folder", file=sys.stderr)
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

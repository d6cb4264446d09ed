"""klingc review FILE [-o DIR] [--serve [--port N]] — a review page of a render.

Writes ``DIR/review.html`` (default ``render/<stem>/``): one self-contained
page that opens from the file system, with no server and no network. For
each scene and part it shows the shots with their durations and dialogue,
thumbnails of the reference and frame images used, the prompt sent, and
every take as a video with its state and cost, the take in the film marked;
at the top, the film's length, its jobs and takes, and what was spent against
the estimate. The page is built from the script as it stands and the folder's
ledger.

``--serve`` serves the same page on 127.0.0.1, on a free port (or
``--port N``) that it prints, until Ctrl-C: a click on a take's Pick button
picks it, as ``klingc pick`` does (the scene files and film are assembled
again).

Exit codes: 0 written (served); 1 errors in the script; 2 no render in DIR
(run ``klingc render FILE`` first), a render running in DIR (another process holds
its lock), or a port that cannot be used.
"""

from __future__ import annotations

import sys
from pathlib import Path

HELP = "write a review page of a render (review.html): every scene, shot and take; --serve to pick by clicking"


def add_arguments(p) -> None:
    from ._args import port
    from .build import add_api, add_common, add_pricing

    add_common(p)
    add_api(p)
    p.add_argument("-o", "--output", metavar="DIR", help="render folder (default: render/<stem>/)")
    add_pricing(p)
    p.add_argument("--serve", action="store_true", help="serve the page on loopback and pick takes by clicking")
    p.add_argument("--port", type=port, default=0, metavar="N", help="with --serve: the port (default: a free one)")


def _rendered_api(folder: Path):
    from ..runtime import ledger as L

    try:
        with L.Ledger.open_readonly(folder) as ledger:
            api = ledger.meta("api")
    except Exception:   # no ledger (yet), or not one: the script's own setting
        return None
    return api if api in ("current", "legacy") else None


def run(args) -> int:
    from ..compiler import OUTPUTS
    from ..runtime.ledger import FILENAME
    from ..runtime.render import FolderBusy, check_folder_free
    from ..runtime.review import Review, serve
    from .build import Stop, compile_args

    folder = Path(args.output) if args.output else Path("render") / Path(args.file).stem
    try:
        check_folder_free(folder, "review")     # the page would show a render half done
    except FolderBusy as e:
        print(f"klingc: {folder}: {e}", file=sys.stderr)
        return 2
    if args.api is None:
        # The page shows the takes of the plan the render made: the API generation it recorded.
        args.api = _rendered_api(folder)
    try:
        c = compile_args(args, OUTPUTS)
    except Stop as s:
        return s.code
    if not (folder / FILENAME).is_file():
        print(f"klingc: {folder} holds no render yet (no {FILENAME}): run `klingc render {args.file}` first",
              file=sys.stderr)
        return 2
    review = Review(c.output.plan, c.production, c.program.main.path.parent, folder)
    try:
        page = review.write()
    except OSError as e:
        print(f"klingc: cannot write {folder / 'review.html'}: {e.strerror or e}", file=sys.stderr)
        return 2
    print(f"review: {page}")
    if not args.serve:
        return 0
    try:
        server = serve(review, args.port, log=lambda text: print(text, flush=True))
    except OSError as e:
        print(f"klingc: cannot serve on port {args.port}: {e.strerror or e}", file=sys.stderr)
        return 2
    host, port = server.server_address[:2]
    print(f"serving the review at http://{host}:{port}/ (Ctrl-C to stop)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0

"""klingc lsp — the KlingScript language server, on stdin/stdout."""

from __future__ import annotations

HELP = "run the language server (LSP on stdin/stdout) for editors"


def add_arguments(p) -> None:
    # Editors' LSP clients often pass --stdio; stdio is the only transport.
    p.add_argument("--stdio", action="store_true", help="talk LSP on stdin/stdout (the default)")


def run(args) -> int:
    from ..lsp.server import serve

    serve()
    return 0

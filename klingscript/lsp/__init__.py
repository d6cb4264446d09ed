"""The KlingScript language server (``klingc lsp``).

- ``positions``-aware conversions between our spans (1-based lines, 1-based
  code-point columns) and LSP positions (0-based lines, 0-based UTF-16 units,
  or UTF-8/UTF-32 when the client negotiates them): ``codec.py``;
- what the editor asks about a script — the symbol under the cursor,
  completions, hovers, renames, the outline: ``analysis.py`` (plain Python,
  no LSP library);
- diagnostics on every edit from the scene results of ``cache/scenes.py`` (the same
  as ``klingc check``'s), and the full check on request: ``server.py``;
- the pygls server that wires them to the protocol (``server.py``), with its
  copies of the open documents on LSP's lines (``documents.py``: a document
  that is not open is never read) and a reader that keeps it in step after a
  broken frame (``frames.py``).
"""

"""The server's copies of the client's documents, on LSP's lines.

pygls's ``TextDocument`` cuts its text with ``str.splitlines``, which also
ends a line at a form feed, a vertical tab, U+001C-U+001E, NEL (U+0085),
U+2028 and U+2029. The client does not (LSP ends lines at "\\r\\n", "\\r" and
"\\n" only), so an incremental change after such a character would land on the
wrong line. ``Document`` applies changes on ``codec.Lines`` instead, and
``Workspace`` makes its documents; ``install`` puts one in place of pygls's at
``initialize``, before any document is opened.

A document the client has not opened is not read from disk: ``document``
answers None for it, and a change to it is ignored.
"""

from __future__ import annotations

import logging
from typing import Optional
from urllib.parse import unquote

from lsprotocol import types as T
from pygls.workspace import TextDocument, Workspace as _Workspace

from ..syntax.positions import lines_with_ends
from .codec import lines_of

log = logging.getLogger("klingscript.lsp")


class Document(TextDocument):
    def _encoding(self) -> str:
        enc = getattr(self.position_codec, "encoding", None)
        return str(getattr(enc, "value", enc) or "utf-16")

    def _apply_incremental_change(self, change: T.TextDocumentContentChangePartial) -> None:
        r = change.range
        lines = lines_of(self.source, self._encoding())
        self._source = lines.apply_change((r.start.line, r.start.character), (r.end.line, r.end.character),
                                          change.text)

    @property
    def lines(self):
        """The lines with their line ends, as LSP counts them (for pygls's own helpers)."""
        return tuple(lines_with_ends(self.source))

    @property
    def source(self) -> str:
        return self._source or ""   # never read from disk


class Workspace(_Workspace):
    def _create_text_document(self, doc_uri, source=None, version=None, language_id=None):
        return Document(doc_uri, source=source, version=version, language_id=language_id,
                        sync_kind=self._sync_kind, position_codec=self._position_codec)

    def document(self, uri: str) -> Optional[Document]:
        """The open document ``uri``, or None."""
        return self._text_documents.get(unquote(uri))

    def get_text_document(self, doc_uri: str):
        doc = self.document(doc_uri)
        if doc is None:
            raise KeyError(f"{doc_uri} is not open")
        return doc

    def update_text_document(self, text_doc, change) -> None:
        if self.document(text_doc.uri) is None:
            log.warning("a change to %s, which is not open, ignored", text_doc.uri)
            return
        super().update_text_document(text_doc, change)


def install(protocol) -> None:
    """Replace the (still empty) workspace pygls made at ``initialize`` with ours."""
    old = protocol.workspace
    protocol._workspace = Workspace(old.root_uri, old._sync_kind, list(old.folders.values()),
                                    old.position_encoding)

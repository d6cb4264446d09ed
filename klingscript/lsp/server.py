"""The KlingScript language server (pygls), started by ``klingc lsp`` on stdio.

Diagnostics are ``klingc check``'s, over the editor's buffers (every open
``.kls`` document overrides the file on disk, so unsaved changes to a cast
file are seen by the episodes that use it).

Every change is answered at once with ``compiler.diagnose`` on the current
text: the scene results of ``cache/scenes.py``, the same as the command
line's, kept between edits in the server's memory (``KlingScriptServer.memory``)
so that only the scenes whose text changed are checked again. An unsaved
buffer's results stay in memory; a saved one's go to the disk cache too.

Hovers, completions, renames and the like need the whole program and its
plan: ``checked`` runs the full ``compiler.check`` of the current text when
one of them asks, in a worker thread, and keeps it until the text changes.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from lsprotocol import types as T
from pygls.lsp.server import LanguageServer
from pygls.uris import from_fs_path, to_fs_path

from .. import __version__
from ..diagnostics.model import Diagnostic, Severity
from .codec import Lines, lines_of

log = logging.getLogger("klingscript.lsp")

DEBOUNCE = 0.25     # seconds of quiet before re-checking the scripts that use an edited file

_SEVERITY = {Severity.ERROR: T.DiagnosticSeverity.Error, Severity.WARNING: T.DiagnosticSeverity.Warning,
             Severity.NOTE: T.DiagnosticSeverity.Information}
_ITEM_KIND = {
    "character": T.CompletionItemKind.Class, "animal": T.CompletionItemKind.Class,
    "location": T.CompletionItemKind.Module,
    "prop": T.CompletionItemKind.Property, "setting": T.CompletionItemKind.Property,
    "value": T.CompletionItemKind.EnumMember, "language": T.CompletionItemKind.Constant,
    "keyword": T.CompletionItemKind.Keyword, "offscreen": T.CompletionItemKind.Constant,
}
_SYMBOL_KIND = {
    "character": T.SymbolKind.Class, "animal": T.SymbolKind.Class, "location": T.SymbolKind.Namespace, "prop": T.SymbolKind.Object,
    "scene": T.SymbolKind.Module, "shot": T.SymbolKind.Event,
}


@dataclass
class Base:
    """A full check: the text it read and what it found (``compiler.Compilation``)."""
    text: str
    compilation: object
    generation: int = 0                   # DocState.generation when it was made

    @property
    def program(self):
        return self.compilation.program

    @property
    def diagnostics(self) -> list[Diagnostic]:
        return self.compilation.diagnostics

    @property
    def plan(self):
        return self.compilation.plan


@dataclass
class DocState:
    uri: str
    path: Path
    full: Optional[Base] = None           # the latest full check (of some version)
    full_job: Optional[tuple] = None      # ((text, generation), future) of the full check running
    stale: bool = False                   # files it uses changed: check again even if its text did not
    generation: int = 0                   # how many times files it uses changed
    pending: Optional[asyncio.TimerHandle] = None
    task: Optional[asyncio.Future] = None  # the diagnostics of the latest text, on their way
    checked: Optional[str] = None         # the text whose diagnostics were published last
    published_version: Optional[int] = None
    uses: set = field(default_factory=set)  # paths of the files its program read
    changed_at: dict = field(default_factory=dict)  # version -> when its change arrived
    converted: dict = field(default_factory=dict)  # diagnostic key -> LSP diagnostic


class KlingScriptServer(LanguageServer):
    def __init__(self):
        super().__init__("klingc", __version__, text_document_sync_kind=T.TextDocumentSyncKind.Incremental)
        self.docs: dict[str, DocState] = {}
        self.memory: dict = {}    # the scene results of every script checked (cache/scenes.py)
        # KLINGC_LSP_TIMINGS=1: report, as log messages, the time from a change to its diagnostics.
        self.report_timings = bool(os.environ.get("KLINGC_LSP_TIMINGS"))

    # -- documents --------------------------------------------------------------
    def state(self, uri: str) -> DocState:
        st = self.docs.get(uri)
        if st is None:
            st = DocState(uri, _path_of(uri))
            self.docs[uri] = st
        return st

    def document(self, uri: str):
        """The client's open document ``uri`` (``documents.Document``), or None: a document
        that is not open is never read from disk."""
        find = getattr(self.workspace, "document", None)
        return find(uri) if find is not None else None

    def text(self, uri: str) -> Optional[str]:
        doc = self.document(uri)
        return doc.source if doc is not None else None

    def overlays(self) -> dict[Path, str]:
        out = {}
        for uri, st in self.docs.items():
            text = self.text(uri)
            if text is not None:
                out[st.path] = text
        return out

    def encoding(self) -> str:
        enc = getattr(self.workspace, "position_encoding", None)
        return str(getattr(enc, "value", enc) or "utf-16")

    def lines(self, text: str) -> Lines:
        return lines_of(text, self.encoding())

    def roots(self) -> list[Path]:
        out = []
        try:
            for folder in self.workspace.folders.values():
                p = to_fs_path(folder.uri)
                if p:
                    out.append(Path(p))
            if self.workspace.root_path:
                out.append(Path(self.workspace.root_path))
        except Exception:
            pass
        return out

    # -- diagnostics --------------------------------------------------------------
    def diagnose(self, st: DocState, text: str):
        """``klingc check``'s diagnostics of ``text`` (a Compilation), from the scene results."""
        from ..compiler import diagnose
        from ..project import Loader
        return diagnose(st.path, memory=self.memory, loader=Loader({**self.overlays(), st.path: text}))

    def publish(self, st: DocState, version, text: str, program, diags: list[Diagnostic],
                kind: str = "scenes") -> None:
        lines = self.lines(text)
        cache, fresh = st.converted, {}
        out = []
        for d in diags:
            # Offsets do not reach the client, and a line's text decides its columns (and on
            # line 1, a byte-order mark: a unit to the client).
            s = d.span
            key = (d.code, d.message, d.help, s.file, s.line, s.column, s.end_line, s.end_column,
                   tuple((l.span.file, l.span.line, l.span.column, l.message) for l in d.labels),
                   lines.text(s.line), lines.text(s.end_line) if s.end_line != s.line else None,
                   lines.bom and s.line == 1)
            item = cache.get(key) or self.lsp_diagnostic(d, program, lines)
            fresh[key] = item
            out.append(item)
        st.converted = fresh
        self.text_document_publish_diagnostics(T.PublishDiagnosticsParams(st.uri, out, version))
        st.published_version = version
        if self.report_timings and version in st.changed_at:
            ms = (time.perf_counter() - st.changed_at[version]) * 1000
            self.window_log_message(T.LogMessageParams(
                T.MessageType.Log, f"klingc timing: version {version} {kind} {ms:.1f} ms"))

    async def run_check(self, uri: str) -> None:
        """Publish the diagnostics of the current text of ``uri`` (and of a later one, if it
        changed meanwhile)."""
        # Let changes that have already arrived be applied first, so that a burst of
        # typing is checked once, at its latest text (a message takes a few loop turns).
        await asyncio.sleep(0.003)
        while True:
            st = self.docs.get(uri)
            if st is None:
                return
            doc = self.document(uri)
            if doc is None:
                return
            text, version = doc.source, doc.version
            if st.checked == text and not st.stale:
                if st.published_version != version:   # an undo back to the text published
                    st.checked = None
                    continue
                return
            st.stale = False
            try:
                # In a worker thread: the scene results take tens of milliseconds, the full
                # check it falls back to (no cache, 100 syntax errors) much longer.
                checked = await asyncio.get_running_loop().run_in_executor(None, self.diagnose, st, text)
                program = checked.program
                if program.main.doc is None and any(d.span.file != program.main.display
                                                    for d in checked.diagnostics):
                    # The whole-file shortcut keeps no syntax tree, which shows the `use`
                    # line a used file's problem is shown on: take the full check's.
                    program = (await self.checked(uri)).program
            except Exception as e:  # never let a fault take the server down
                log.exception("check failed")
                self.window_log_message(T.LogMessageParams(T.MessageType.Error, f"klingc: check failed ({e})"))
                return
            if self.docs.get(uri) is not st:
                return
            st.uses = set(checked.program.files) - {st.path}
            current = self.document(uri)
            if current is None:
                return
            if current.source == text:
                self.publish(st, current.version, text, program, checked.diagnostics)
                st.checked = text
                return

    def request_check(self, uri: str, delay: float = 0.0, stale: bool = False) -> None:
        """Check ``uri`` again, now or after ``delay`` seconds (``stale``: even if its text
        did not change, for files it uses did)."""
        st = self.docs.get(uri)
        if st is None:
            return
        if stale:
            st.stale = True
            st.generation += 1
        if st.pending is not None:
            st.pending.cancel()
            st.pending = None
        if delay:
            loop = asyncio.get_running_loop()
            st.pending = loop.call_later(delay, self.request_check, uri)
        elif st.task is None or st.task.done():
            st.task = asyncio.ensure_future(self.run_check(uri))

    def on_change(self, uri: str) -> None:
        st = self.state(uri)
        if self.report_timings:
            version = self.document(uri).version
            st.changed_at = {v: t for v, t in st.changed_at.items() if v > (version or 0) - 50}
            st.changed_at[version] = time.perf_counter()
        self.request_check(uri)
        # Scripts that use this file see its unsaved text.
        for other in list(self.docs.values()):
            if other is not st and st.path in other.uses:
                self.request_check(other.uri, DEBOUNCE, stale=True)

    # -- the full check, on request -------------------------------------------------
    def full_check(self, st: DocState, text: str, overlays: dict) -> Base:
        from ..compiler import check
        from ..project import Loader
        return Base(text, check(st.path, loader=Loader({**overlays, st.path: text})))

    async def checked(self, uri: str, fresh: bool = True) -> Optional[Base]:
        """The full check of ``uri``: of its current text, or (``fresh=False``) the latest one."""
        st = self.docs.get(uri)
        if st is None:
            return None
        if not fresh and st.full is not None:
            return st.full
        text = self.text(uri)
        if text is None:
            return None
        generation = st.generation
        if st.full is not None and (st.full.text, st.full.generation) == (text, generation):
            return st.full
        if st.full_job is None or st.full_job[0] != (text, generation):
            loop = asyncio.get_running_loop()
            st.full_job = ((text, generation),
                           loop.run_in_executor(None, self.full_check, st, text, self.overlays()))
        job = st.full_job
        try:
            base = await job[1]
        except Exception as e:  # never let a fault take the server down
            log.exception("check failed")
            self.window_log_message(T.LogMessageParams(T.MessageType.Error, f"klingc: check failed ({e})"))
            return None
        finally:
            if st.full_job is job:
                st.full_job = None
        base.generation = generation
        if self.docs.get(uri) is st and generation == st.generation:
            st.full = base
        return base

    async def program(self, uri: str, fresh: bool = True):
        """A checked program for ``uri`` (see ``checked``)."""
        base = await self.checked(uri, fresh)
        return base.program if base is not None else None

    # -- conversions ------------------------------------------------------------
    def range(self, lines: Lines, span) -> T.Range:
        (l1, c1), (l2, c2) = lines.span_range(span)
        return T.Range(T.Position(l1, c1), T.Position(l2, c2))

    def location(self, path: Path, span, text: str) -> T.Location:
        return T.Location(from_fs_path(str(path)), self.range(self.lines(text), span))

    def lsp_diagnostic(self, d: Diagnostic, program, lines: Lines) -> T.Diagnostic:
        main = program.main
        related = []
        for label in d.labels:
            f = program.file_of_display(label.span.file)
            if f is not None:
                related.append(T.DiagnosticRelatedInformation(self.location(f.path, label.span, f.text),
                                                              label.message))
        message = d.message + (f"\nhelp: {d.help}" if d.help else "")
        if d.span.file == main.display:
            rng = self.range(lines, d.span)
        else:
            # A problem in a used file: shown on the `use` line that brings the file in.
            f = program.file_of_display(d.span.file)
            use = _use_leading_to(program, f.path if f else None)
            rng = self.range(lines, use.span if use is not None else main.doc.span._replace(
                line=1, column=1, end_line=1, end_column=1))
            where = d.span.file
            if f is not None:
                try:
                    where = os.path.relpath(f.path, main.path.parent)
                except ValueError:
                    pass
            message = f"{where}:{d.span.line}:{d.span.column}: {message}"
            if f is not None:
                related.insert(0, T.DiagnosticRelatedInformation(self.location(f.path, d.span, f.text),
                                                                 d.message))
        return T.Diagnostic(rng, message, severity=_SEVERITY[d.severity], code=d.code, source="klingc",
                            related_information=related or None)


def _path_of(uri: str) -> Path:
    p = to_fs_path(uri) if uri.startswith("file:") else None
    if not p:
        name = uri.rsplit("/", 1)[-1].rsplit(":", 1)[-1] or "untitled"
        if not name.endswith(".kls"):
            name += ".kls"
        p = os.path.join(os.getcwd(), name)
    return Path(os.path.abspath(p))


def _use_leading_to(program, path: Optional[Path]):
    """The `use` of the main file through which ``path`` was loaded."""
    if path is None:
        return None
    main = program.main
    for use in main.doc.uses:
        start = program.resolve_path(main, use.path.value)
        seen, todo = set(), [start]
        while todo:
            p = todo.pop()
            if p == path:
                return use
            if p in seen or p not in program.files:
                continue
            seen.add(p)
            f = program.files[p]
            todo.extend(program.resolve_path(f, u.path.value) for u in f.doc.uses)
    return None


server = KlingScriptServer()


# ---------------------------------------------------------------------------
# Document sync

@server.feature(T.INITIALIZE)
def initialize(ls: KlingScriptServer, params: T.InitializeParams):
    # The first diagnostics wait for what the first check loads (the driver's modules,
    # klingc's stamp, the profiles): load it while the client reads this answer and
    # opens its documents, a time the server would otherwise spend waiting.
    from . import documents
    documents.install(ls.protocol)
    threading.Thread(target=_preload, name="klingc-preload", daemon=True).start()


def _preload() -> None:
    try:
        from .. import cache, compiler, lower  # noqa: F401
        from ..cache import scenes  # noqa: F401
        from ..model import profiles
        from ..passes import check, lint, resolve  # noqa: F401
        from ..planner import pricing, scene  # noqa: F401
        from ..syntax import parser

        cache.store()
        profiles.fingerprint()
        parser.get_parser()
    except Exception:  # the first check will load it and report what is wrong
        log.exception("preload failed")


@server.feature(T.TEXT_DOCUMENT_DID_OPEN)
async def did_open(ls: KlingScriptServer, params: T.DidOpenTextDocumentParams):
    st = ls.state(params.text_document.uri)
    if ls.report_timings:
        st.changed_at[params.text_document.version] = time.perf_counter()
    st.checked = None
    ls.request_check(params.text_document.uri)


@server.feature(T.TEXT_DOCUMENT_DID_CHANGE)
def did_change(ls: KlingScriptServer, params: T.DidChangeTextDocumentParams):
    if ls.document(params.text_document.uri) is not None:   # a change to a document not open: ignored
        ls.on_change(params.text_document.uri)


@server.feature(T.TEXT_DOCUMENT_DID_SAVE)
def did_save(ls: KlingScriptServer, params: T.DidSaveTextDocumentParams):
    for st in list(ls.docs.values()):
        ls.request_check(st.uri, DEBOUNCE if st.uri != params.text_document.uri else 0, stale=True)


@server.feature(T.TEXT_DOCUMENT_DID_CLOSE)
def did_close(ls: KlingScriptServer, params: T.DidCloseTextDocumentParams):
    st = ls.docs.pop(params.text_document.uri, None)
    if st is not None and st.pending is not None:
        st.pending.cancel()
    ls.text_document_publish_diagnostics(T.PublishDiagnosticsParams(params.text_document.uri, []))
    for other in list(ls.docs.values()):
        if st is not None and st.path in other.uses:
            ls.request_check(other.uri, DEBOUNCE, stale=True)


@server.feature(T.WORKSPACE_DID_CHANGE_WATCHED_FILES)
def did_change_watched(ls: KlingScriptServer, params: T.DidChangeWatchedFilesParams):
    for st in list(ls.docs.values()):
        ls.request_check(st.uri, DEBOUNCE, stale=True)


# ---------------------------------------------------------------------------
# Language features

def _cursor(ls: KlingScriptServer, text: str, pos: T.Position) -> tuple[int, int]:
    return ls.lines(text).from_lsp(pos.line, pos.character)


@server.feature(T.TEXT_DOCUMENT_COMPLETION,
                T.CompletionOptions(trigger_characters=["@", "(", ",", ":", " "]))
async def completion(ls: KlingScriptServer, params: T.CompletionParams):
    from . import analysis
    uri = params.text_document.uri
    text = ls.text(uri)
    if text is None:   # not open: nothing to complete
        return T.CompletionList(is_incomplete=False, items=[])
    lines = ls.lines(text)
    line, column = lines.from_lsp(params.position.line, params.position.character)
    program = await ls.program(uri, fresh=False)
    items = analysis.complete(program, text, line, column)
    if not items:
        return T.CompletionList(is_incomplete=False, items=[])
    caps = _completion_caps(ls)
    snippets = bool(caps and caps.snippet_support)
    markdown = bool(caps and caps.documentation_format and T.MarkupKind.Markdown in caps.documentation_format)
    out = []
    for it in items:
        start = T.Position(*lines.to_lsp(line, it.start))
        rng = T.Range(start, params.position)
        doc = None
        if it.documentation:
            doc = T.MarkupContent(T.MarkupKind.Markdown, it.documentation) if markdown else it.documentation
        insert = it.insert if it.insert is not None else it.label
        snippet = it.snippet and snippets
        if it.snippet and not snippets:
            insert = _plain(insert)
        out.append(T.CompletionItem(
            label=it.label, kind=_ITEM_KIND.get(it.kind), detail=it.detail or None, documentation=doc,
            sort_text=it.sort or it.label, filter_text=it.label, text_edit=T.TextEdit(rng, insert),
            insert_text_format=T.InsertTextFormat.Snippet if snippet else T.InsertTextFormat.PlainText))
    return T.CompletionList(is_incomplete=False, items=out)


def _completion_caps(ls: KlingScriptServer):
    try:
        return ls.client_capabilities.text_document.completion.completion_item
    except AttributeError:
        return None


def _plain(snippet: str) -> str:
    """A snippet's text without its placeholders: ``${1:Name}`` becomes ``Name``."""
    text = re.sub(r"\$\{\d+:([^}]*)\}", r"\1", snippet)
    return re.sub(r"\$\d+", "", text)


async def _element_under_cursor(ls: KlingScriptServer, uri: str, position):
    """(program, hit) for the element at ``position``: hit is ``analysis.element_at``'s answer,
    None where there is no program or nothing there."""
    from . import analysis
    program = await ls.program(uri)
    if program is None:
        return None, None
    line, column = _cursor(ls, program.main.text, position)
    return program, analysis.element_at(program, line, column)


@server.feature(T.TEXT_DOCUMENT_DEFINITION)
async def definition(ls: KlingScriptServer, params: T.DefinitionParams):
    program, hit = await _element_under_cursor(ls, params.text_document.uri, params.position)
    if hit is None or hit[0] is None:
        return None
    decl = program.elements.get(hit[1])
    if decl is None:
        return None
    return ls.location(decl.file.path, decl.element.name_span, decl.file.text)


async def _occurrences(ls: KlingScriptServer, uri: str, pos: T.Position):
    """The element under the cursor and every occurrence of it in the related scripts."""
    from . import analysis
    from ..project import Loader
    program, hit = await _element_under_cursor(ls, uri, pos)
    if program is None:
        return None, None, []
    if hit is None or hit[0] is None:
        return program, hit, []
    target = hit[0]
    found = analysis.occurrences(program, target)
    loader = Loader(ls.overlays())
    paths = analysis.related_scripts(program.main.path, ls.roots())
    loop = asyncio.get_running_loop()
    others = await loop.run_in_executor(None, analysis.programs_mentioning, target.name, paths, loader,
                                        [program.main.path])
    for other in others:
        found.extend(analysis.occurrences(other, target))
    unique: dict = {}
    for occ in found:
        unique.setdefault((occ.path, occ.span.line, occ.span.column), occ)
    return program, hit, list(unique.values())


@server.feature(T.TEXT_DOCUMENT_REFERENCES)
async def references(ls: KlingScriptServer, params: T.ReferenceParams):
    _, _, found = await _occurrences(ls, params.text_document.uri, params.position)
    include = params.context.include_declaration if params.context else True
    return [ls.location(o.path, o.span, o.text) for o in found if include or not o.declaration]


@server.feature(T.TEXT_DOCUMENT_PREPARE_RENAME)
async def prepare_rename(ls: KlingScriptServer, params: T.PrepareRenameParams):
    program, hit = await _element_under_cursor(ls, params.text_document.uri, params.position)
    if hit is None or hit[0] is None:
        return None
    return T.PrepareRenamePlaceholder(ls.range(ls.lines(program.main.text), hit[2]), hit[1])


@server.feature(T.TEXT_DOCUMENT_RENAME, T.RenameOptions(prepare_provider=True))
async def rename(ls: KlingScriptServer, params: T.RenameParams):
    from . import analysis
    from pygls.exceptions import JsonRpcInvalidParams
    program, hit, found = await _occurrences(ls, params.text_document.uri, params.position)
    if hit is None or hit[0] is None:
        return None
    new = params.new_name[1:] if params.new_name.startswith("@") else params.new_name
    problem = analysis.check_new_name(program, hit[1], new)
    if problem:
        raise JsonRpcInvalidParams(problem)
    changes: dict[str, list[T.TextEdit]] = {}
    for o in found:
        edit = T.TextEdit(ls.range(ls.lines(o.text), o.span), new)
        changes.setdefault(from_fs_path(str(o.path)), []).append(edit)
    return T.WorkspaceEdit(changes=changes)


@server.feature(T.TEXT_DOCUMENT_HOVER)
async def hover(ls: KlingScriptServer, params: T.HoverParams):
    from . import analysis
    base = await ls.checked(params.text_document.uri)
    if base is None:
        return None
    program = base.program
    line, column = _cursor(ls, program.main.text, params.position)
    loop = asyncio.get_running_loop()
    found = await loop.run_in_executor(None, analysis.hover, program, line, column, base.plan)
    if found is None:
        return None
    markdown, span = found
    return T.Hover(T.MarkupContent(T.MarkupKind.Markdown, markdown), ls.range(ls.lines(program.main.text), span))


@server.feature(T.TEXT_DOCUMENT_DOCUMENT_SYMBOL)
async def document_symbols(ls: KlingScriptServer, params: T.DocumentSymbolParams):
    from . import analysis
    from ..syntax.parser import parse
    uri = params.text_document.uri
    st = ls.docs.get(uri)
    text = ls.text(uri)
    if st is None or text is None:   # not open
        return []
    if st.full is not None and st.full.text == text:
        doc = st.full.program.main.doc
    else:
        doc, _ = parse(text, str(st.path))
    lines = ls.lines(text)

    def convert(sym: analysis.Symbol) -> T.DocumentSymbol:
        return T.DocumentSymbol(name=sym.name, kind=_SYMBOL_KIND.get(sym.kind, T.SymbolKind.Object),
                                range=ls.range(lines, sym.span), selection_range=ls.range(lines, sym.selection),
                                detail=sym.detail or None, children=[convert(c) for c in sym.children] or None)

    return [convert(s) for s in analysis.symbols(doc)]


@server.feature(T.TEXT_DOCUMENT_FORMATTING)
def formatting(ls: KlingScriptServer, params: T.DocumentFormattingParams):
    uri = params.text_document.uri
    text = ls.text(uri)
    st = ls.docs.get(uri)
    if st is None or text is None:   # not open: nothing to format
        return []
    try:
        from ..tools.fmt import format_source
    except ImportError:
        return None
    try:
        formatted = format_source(text, str(st.path))
    except Exception:
        log.exception("formatting failed")
        return None
    if formatted is None:
        ls.window_show_message(T.ShowMessageParams(
            T.MessageType.Warning, "klingc fmt: the script has syntax errors; fix them to format it"))
        return None
    if formatted == text:
        return []
    end = ls.lines(text).end()
    return [T.TextEdit(T.Range(T.Position(0, 0), T.Position(*end)), formatted)]


def serve() -> None:
    """Run the server on stdin/stdout until the client says goodbye."""
    import sys
    from .frames import Frames
    logging.basicConfig(level=logging.WARNING, format="klingc lsp: %(levelname)s %(message)s")
    server.start_io(stdin=Frames(sys.stdin.buffer))

"""The language server, end to end: a real LSP client talks to `python -m klingscript lsp` over stdio.

The project used here mixes Korean names, emoji and plain ASCII on the same
lines, so that every position crossing the protocol is checked in UTF-16
units (computed here independently of klingscript.syntax.positions).
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import pytest
import pytest_lsp
from lsprotocol import types as T
from pytest_lsp import ClientServerConfig, LanguageClient

from klingscript import compiler, project
from klingscript.tools.fmt import format_source
from klingscript.lsp.codec import Lines

PUBLISH = "textDocument/publishDiagnostics"

CAST = '''\
character Alex:
    description: "late-20s man, messy brown hair, green hoodie"
    images: "refs/alex_front.png"
    voice: "nervous, fast-talking tenor"
character 지민:
    description: "woman, sharp bob haircut, denim jacket"
location Cafe:
    description: "cozy coffee shop"
'''

EP1 = '''\
title: Pilot
language: English
use "cast.kls"

scene "Liked the photo 📸" at @Cafe:
    Shot 1 (3s): 🎬 @지민 waves at @Alex.
    Shot 2 (3s): 😊😊 @Jamei laughs.
        @Alex (panicked): "I just liked my ex's photo."
    Shot 3: @지민 turns to @Alex.
        @지민 (soft, Korean): "괜찮아? 😢"
'''

EP2 = '''\
use "cast.kls"

scene "Next day" at @Cafe:
    Shot 1 (4s): @Alex waits alone. @지민 arrives.
'''


def utf16(s: str) -> int:
    return len(s.encode("utf-16-le")) // 2


def pos_of(text: str, needle: str, nth: int = 0, offset: int = 0) -> T.Position:
    """The LSP position (UTF-16) of the nth ``needle`` in ``text``, plus ``offset`` code points."""
    idx = -1
    for _ in range(nth + 1):
        idx = text.index(needle, idx + 1)
    idx += offset
    line = text.count("\n", 0, idx)
    line_start = text.rfind("\n", 0, idx) + 1
    return T.Position(line, utf16(text[line_start:idx]))


def apply_edits(text: str, edits) -> str:
    """Apply LSP text edits (UTF-16 positions) to ``text``."""
    lines = text.split("\n")

    def offset(p: T.Position) -> int:
        base = sum(len(l) + 1 for l in lines[: p.line])
        line = lines[p.line] if p.line < len(lines) else ""
        units, i = 0, 0
        while i < len(line) and units < p.character:
            units += 2 if ord(line[i]) > 0xFFFF else 1
            i += 1
        return base + i

    for e in sorted(edits, key=lambda e: (e.range.start.line, e.range.start.character), reverse=True):
        text = text[: offset(e.range.start)] + e.new_text + text[offset(e.range.end):]
        lines = text.split("\n")
    return text


@pytest.fixture(scope="module")
def project_dir(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("lsp")
    (d / "cast.kls").write_text(CAST, encoding="utf-8")
    (d / "ep1.kls").write_text(EP1, encoding="utf-8")
    (d / "ep2.kls").write_text(EP2, encoding="utf-8")
    return d


@pytest_lsp.fixture(
    scope="module",
    config=ClientServerConfig(server_command=[sys.executable, "-m", "klingscript", "lsp"]),
)
async def client(lsp_client: LanguageClient, project_dir):
    caps = pytest_lsp.client_capabilities("visual-studio-code")
    await lsp_client.initialize_session(T.InitializeParams(
        capabilities=caps, root_uri=project_dir.as_uri(),
        workspace_folders=[T.WorkspaceFolder(project_dir.as_uri(), "lsp")]))
    yield
    await lsp_client.shutdown_session()


async def wait_for(client: LanguageClient, uri: str, predicate, limit: float = 60):
    """Wait until the diagnostics published for ``uri`` satisfy ``predicate``."""
    while True:
        diags = client.diagnostics.get(uri)
        if diags is not None and predicate(diags):
            return diags
        await asyncio.wait_for(client.wait_for_notification(PUBLISH), limit)


def open_doc(client: LanguageClient, path: Path, text: str | None = None, version: int = 1) -> str:
    uri = path.as_uri()
    text = path.read_text(encoding="utf-8") if text is None else text
    client.text_document_did_open(T.DidOpenTextDocumentParams(T.TextDocumentItem(uri, "klingscript", version, text)))
    return uri


def codes(diags) -> list[str]:
    return sorted(str(d.code) for d in diags)


aio = pytest.mark.asyncio(loop_scope="module")


# -- diagnostics ----------------------------------------------------------------

@aio
async def test_diagnostics_on_open_match_klingc_check(client: LanguageClient, project_dir):
    path = project_dir / "ep1.kls"
    uri = open_doc(client, path)
    diags = await wait_for(client, uri, lambda ds: "KLS201" in codes(ds))

    checked = compiler.check(path)
    expected = [d for d in checked.diagnostics if d.span.file == checked.program.main.display]
    elsewhere = [d for d in checked.diagnostics if d.span.file != checked.program.main.display]
    assert [d.code for d in elsewhere] == ["KLS501"]  # the cast's image is missing
    assert len(diags) == len(expected) + len(elsewhere)
    on_use = [d for d in diags if d.message.startswith("cast.kls:")]
    assert len(on_use) == 1 and on_use[0].range.start.line == 2  # the `use "cast.kls"` line
    diags = [d for d in diags if d not in on_use]
    lines = EP1.split("\n")
    for got, want in zip(sorted(diags, key=lambda d: (d.range.start.line, d.range.start.character, d.code)),
                         sorted(expected, key=lambda d: (d.span.line, d.span.column, d.code))):
        assert got.code == want.code
        assert got.message.startswith(want.message)
        line = lines[want.span.line - 1]
        assert got.range.start == T.Position(want.span.line - 1, utf16(line[: want.span.column - 1]))
        end_line = lines[want.span.end_line - 1]
        assert got.range.end == T.Position(want.span.end_line - 1, utf16(end_line[: want.span.end_column - 1]))

    typo = next(d for d in diags if d.code == "KLS201")
    # `@Jamei` comes after two emoji (two UTF-16 units each): the range is in UTF-16 units.
    assert typo.range.start == pos_of(EP1, "@Jamei")
    assert typo.range.end == pos_of(EP1, "@Jamei", offset=len("@Jamei"))
    assert typo.range.start.character == len("    Shot 2 (3s): ") + 4 + 1
    assert "did you mean @지민" not in typo.message
    assert typo.severity == T.DiagnosticSeverity.Error and typo.source == "klingc"


@aio
async def test_diagnostics_on_change_use_the_unsaved_buffer(client: LanguageClient, project_dir):
    path = project_dir / "ep1.kls"
    uri = path.as_uri()
    await wait_for(client, uri, lambda ds: "KLS201" in codes(ds))
    # Replace "Jamei" by "Alex" with an incremental edit (UTF-16 range after the emoji).
    start = pos_of(EP1, "@Jamei", offset=1)
    end = pos_of(EP1, "@Jamei", offset=len("@Jamei"))
    client.text_document_did_change(T.DidChangeTextDocumentParams(
        T.VersionedTextDocumentIdentifier(uri=uri, version=2),
        [T.TextDocumentContentChangePartial(T.Range(start, end), "Alex")]))
    diags = await wait_for(client, uri, lambda ds: "KLS201" not in codes(ds))
    assert path.read_text(encoding="utf-8") == EP1  # nothing was saved
    fixed = EP1.replace("@Jamei", "@Alex")
    program = compiler.check(path, loader=project.Loader({path: fixed}))
    assert codes(diags) == sorted(d.code for d in program.diagnostics)

    # Now break it again: an unknown setting value.
    client.text_document_did_change(T.DidChangeTextDocumentParams(
        T.VersionedTextDocumentIdentifier(uri=uri, version=3),
        [T.TextDocumentContentChangePartial(T.Range(T.Position(1, 10), T.Position(1, 17)), "Klingon")]))
    diags = await wait_for(client, uri, lambda ds: "KLS104" in codes(ds))
    bad = next(d for d in diags if d.code == "KLS104")
    assert bad.range.start.line == 1


@aio
async def test_problems_in_a_used_file_show_on_the_use_line(client: LanguageClient, tmp_path):
    (tmp_path / "cast.kls").write_text("character Bo:\n    descripton: \"typo\"\n", encoding="utf-8")
    main = tmp_path / "main.kls"
    main.write_text('use "cast.kls"\n\nscene "A":\n    Shot 1 (3s): @Bo waits.\n', encoding="utf-8")
    uri = open_doc(client, main)
    diags = await wait_for(client, uri, lambda ds: "KLS103" in codes(ds))
    d = next(d for d in diags if d.code == "KLS103")
    assert d.range.start.line == 0
    assert d.message.startswith("cast.kls:2:5:")
    assert d.related_information and d.related_information[0].location.uri == (tmp_path / "cast.kls").as_uri()


# -- completion ---------------------------------------------------------------------

async def complete(client, uri, position):
    result = await client.text_document_completion_async(
        T.CompletionParams(T.TextDocumentIdentifier(uri), position))
    return result.items if isinstance(result, T.CompletionList) else result


@aio
async def test_completion_after_at_lists_elements_of_used_files(client: LanguageClient, project_dir):
    path = project_dir / "ep2.kls"
    text = EP2 + "    Shot 2 (3s): 🎬 @\n"
    uri = open_doc(client, path, text)
    await wait_for(client, uri, lambda ds: True)
    pos = T.Position(4, utf16("    Shot 2 (3s): 🎬 @"))
    items = await complete(client, uri, pos)
    by_label = {i.label: i for i in items}
    assert {"Alex", "지민", "Cafe"} <= set(by_label)
    alex = by_label["Alex"]
    assert alex.kind == T.CompletionItemKind.Class
    assert "character" in alex.detail and "cast.kls" in alex.detail
    assert "messy brown hair" in alex.documentation.value
    assert alex.text_edit.new_text == "Alex"
    assert alex.text_edit.range.start == pos == alex.text_edit.range.end
    # After `at @` a location sorts first.
    text2 = text + 'scene "B" at @\n'
    client.text_document_did_change(T.DidChangeTextDocumentParams(
        T.VersionedTextDocumentIdentifier(uri=uri, version=2), [T.TextDocumentContentChangeWholeDocument(text2)]))
    items = await complete(client, uri, T.Position(5, len('scene "B" at @')))
    assert min(items, key=lambda i: i.sort_text).label == "Cafe"


@aio
async def test_completion_of_settings_values_and_languages(client: LanguageClient, tmp_path):
    text = 'model: kling-v3\nres\nresolution: \ncharacter Mo:\n    \nscene "A":\n    \n    Shot 1 (3s): x\n        Mo (sad, \n'
    path = tmp_path / "c.kls"
    path.write_text(text, encoding="utf-8")
    uri = open_doc(client, path)
    await wait_for(client, uri, lambda ds: True)

    keys = {i.label for i in await complete(client, uri, T.Position(1, 3))}
    assert {"resolution", "aspect", "language", "title"} <= keys and "scene" in keys
    values = {i.label for i in await complete(client, uri, T.Position(2, len("resolution: ")))}
    assert values == {"720p", "1080p", "4k"}
    fields = {i.label for i in await complete(client, uri, T.Position(4, 4))}
    assert fields == {"description", "images", "voice", "voice id", "voice sample"}
    scene_keys = {i.label for i in await complete(client, uri, T.Position(6, 4))}
    assert {"first frame", "sound", "Shot 1"} <= scene_keys
    langs = await complete(client, uri, T.Position(8, len("        Mo (sad, ")))
    labels = {i.label for i in langs}
    assert {"Korean", "Spanish", "V.O."} <= labels
    korean = next(i for i in langs if i.label == "Korean")
    assert "spoken by kling-v3" in korean.detail and "한국어" in korean.detail
    french = next(i for i in langs if i.label == "French")
    assert "not spoken" in french.detail and french.sort_text > korean.sort_text


# -- navigation -------------------------------------------------------------------------

@aio
async def test_definition_across_use_files(client: LanguageClient, project_dir):
    uri = open_doc(client, project_dir / "ep2.kls", EP2, version=10)
    # the cursor in the middle of `@지민`, after `@Alex waits alone. `
    result = await client.text_document_definition_async(T.DefinitionParams(
        T.TextDocumentIdentifier(uri), pos_of(EP2, "@지민", offset=2)))
    loc = result[0] if isinstance(result, list) else result
    assert loc.uri == (project_dir / "cast.kls").as_uri()
    assert loc.range.start == pos_of(CAST, "지민:")
    assert loc.range.end == pos_of(CAST, "지민:", offset=2)


@aio
async def test_references_across_files(client: LanguageClient, project_dir):
    uri = (project_dir / "ep1.kls").as_uri()
    text = EP1.replace("@Jamei", "@Alex")  # the buffer after the earlier edit
    client.text_document_did_change(T.DidChangeTextDocumentParams(
        T.VersionedTextDocumentIdentifier(uri=uri, version=20), [T.TextDocumentContentChangeWholeDocument(text)]))
    result = await client.text_document_references_async(T.ReferenceParams(
        text_document=T.TextDocumentIdentifier(uri), position=pos_of(text, "@Alex", nth=0, offset=1),
        context=T.ReferenceContext(include_declaration=True)))
    got = sorted((Path(r.uri.replace("file://", "")).name, r.range.start.line, r.range.start.character)
                 for r in result)
    expected = sorted(
        [("cast.kls", 0, len("character "))]
        + [("ep1.kls", p.line, p.character) for p in
           (pos_of(text, "@Alex", nth=k, offset=1) for k in range(text.count("@Alex")))]
        + [("ep2.kls", p.line, p.character) for p in
           (pos_of(EP2, "@Alex", nth=k, offset=1) for k in range(EP2.count("@Alex")))])
    assert got == expected


@aio
async def test_rename_everywhere(client: LanguageClient, project_dir):
    uri = (project_dir / "ep1.kls").as_uri()
    text = EP1.replace("@Jamei", "@Alex")
    prep = await client.text_document_prepare_rename_async(T.PrepareRenameParams(
        T.TextDocumentIdentifier(uri), pos_of(text, "@Alex", nth=1, offset=3)))
    assert prep.placeholder == "Alex"
    edit = await client.text_document_rename_async(T.RenameParams(
        T.TextDocumentIdentifier(uri), pos_of(text, "@Alex", nth=1, offset=3), "Alexander"))
    sources = {(project_dir / "cast.kls").as_uri(): CAST, uri: text, (project_dir / "ep2.kls").as_uri(): EP2}
    assert set(edit.changes) == set(sources)
    renamed = {u: apply_edits(sources[u], edits) for u, edits in edit.changes.items()}
    assert renamed[(project_dir / "cast.kls").as_uri()] == CAST.replace("character Alex:", "character Alexander:")
    assert renamed[uri] == text.replace("@Alex", "@Alexander")
    assert renamed[(project_dir / "ep2.kls").as_uri()] == EP2.replace("@Alex", "@Alexander")

    with pytest.raises(Exception):
        await client.text_document_rename_async(T.RenameParams(
            T.TextDocumentIdentifier(uri), pos_of(text, "@Alex", offset=1), "지민"))  # already declared
    with pytest.raises(Exception):
        await client.text_document_rename_async(T.RenameParams(
            T.TextDocumentIdentifier(uri), pos_of(text, "@Alex", offset=1), "Two words"))


# -- hover, symbols, formatting ------------------------------------------------------------

async def hover_text(client, uri, position) -> str | None:
    h = await client.text_document_hover_async(T.HoverParams(T.TextDocumentIdentifier(uri), position))
    return h.contents.value if h else None


@aio
async def test_hover(client: LanguageClient, project_dir):
    uri = (project_dir / "ep1.kls").as_uri()
    text = EP1.replace("@Jamei", "@Alex")
    card = await hover_text(client, uri, pos_of(text, "@Alex", offset=2))
    assert "**character Alex**" in card and "cast.kls" in card
    assert "messy brown hair" in card and "alex_front.png" in card and "fast-talking tenor" in card

    shot1 = await hover_text(client, uri, pos_of(text, "Shot 1"))
    assert "3 s" in shot1 and "as written" in shot1
    shot3 = await hover_text(client, uri, pos_of(text, "Shot 3"))
    assert "inferred" in shot3

    checked = compiler.check(project_dir / "ep1.kls", loader=project.Loader({project_dir / "ep1.kls": text}))
    from klingscript.model.timing import shot_duration
    total = sum(shot_duration(s, "English")[0] for s in checked.program.main.doc.scenes[0].shots)
    scene = await hover_text(client, uri, pos_of(text, "scene"))
    assert f"{total} s" in scene and "3 shots" in scene
    plan = checked.plan
    if plan is not None and plan.jobs:
        credits = sum(j.credits for j in plan.jobs)
        assert f"{credits:g} credits" in scene


@aio
async def test_document_symbols(client: LanguageClient, project_dir):
    uri = (project_dir / "ep1.kls").as_uri()
    symbols = await client.text_document_document_symbol_async(
        T.DocumentSymbolParams(T.TextDocumentIdentifier(uri)))
    scenes = [s for s in symbols if s.kind == T.SymbolKind.Module]
    assert [s.name for s in scenes] == ["Liked the photo 📸"]
    assert [c.name for c in scenes[0].children] == ["Shot 1", "Shot 2", "Shot 3"]
    shot2 = scenes[0].children[1]
    assert shot2.selection_range.start == pos_of(EP1, "Shot 2")


@aio
async def test_formatting(client: LanguageClient, tmp_path):
    messy = 'title:   Pilot\ncharacter Al:\n  description:  "x"\nscene "A":\n  Shot 1 (3s):   @Al waves.\n'
    path = tmp_path / "messy.kls"
    path.write_text(messy, encoding="utf-8")
    uri = open_doc(client, path)
    edits = await client.text_document_formatting_async(T.DocumentFormattingParams(
        T.TextDocumentIdentifier(uri), T.FormattingOptions(4, True)))
    assert apply_edits(messy, edits) == format_source(messy, str(path))

    broken = messy + '    @Al: "never closed\n'
    client.text_document_did_change(T.DidChangeTextDocumentParams(
        T.VersionedTextDocumentIdentifier(uri=uri, version=2), [T.TextDocumentContentChangeWholeDocument(broken)]))
    edits = await client.text_document_formatting_async(T.DocumentFormattingParams(
        T.TextDocumentIdentifier(uri), T.FormattingOptions(4, True)))
    assert not edits


# -- every edit answered from the scene results, end to end ---------------------------------

@pytest_lsp.fixture(
    scope="module",
    config=ClientServerConfig(
        server_command=[sys.executable, "-m", "klingscript", "lsp"],
        server_env={**os.environ, "KLINGC_LSP_TIMINGS": "1"}),
)
async def scene_client(lsp_client: LanguageClient, tmp_path_factory):
    await lsp_client.initialize_session(T.InitializeParams(
        capabilities=pytest_lsp.client_capabilities("visual-studio-code")))
    yield
    await lsp_client.shutdown_session()


async def wait_log(client: LanguageClient, needle: str, limit: float = 60):
    while not any(needle in m.message for m in client.log_messages):
        await asyncio.wait_for(client.wait_for_notification("window/logMessage"), limit)


@aio
async def test_an_edit_is_answered_from_the_scene_results(scene_client: LanguageClient, tmp_path):
    text = _long_script(6)
    path = tmp_path / "long.kls"
    path.write_text(text, encoding="utf-8")
    uri = open_doc(scene_client, path, text)
    await wait_log(scene_client, "version 1 scenes")
    lines = text.split("\n")
    i = next(k for k in range(len(lines) // 2, len(lines)) if lines[k].startswith("        @Dev"))
    col = lines[i].index("@Dev") + 1
    scene_client.text_document_did_change(T.DidChangeTextDocumentParams(
        T.VersionedTextDocumentIdentifier(uri=uri, version=2),
        [T.TextDocumentContentChangePartial(T.Range(T.Position(i, col), T.Position(i, col + 3)), "Dve")]))
    await wait_log(scene_client, "version 2 scenes")
    diags = scene_client.diagnostics[uri]
    new_text = text.replace(lines[i], lines[i].replace("@Dev", "@Dve"), 1)
    program = compiler.check(path, loader=project.Loader({path: new_text}))
    assert codes(diags) == sorted(d.code for d in program.diagnostics)
    typo = next(d for d in diags if d.code == "KLS201")
    assert typo.range.start == T.Position(i, col - 1)


# -- units: positions and the server's checks ---------------------------------------------

@pytest.mark.parametrize("encoding,units", [("utf-16", 6), ("utf-32", 5), ("utf-8", 10)])
def test_codec_encodings(encoding, units):
    lines = Lines("ab지😊 @Al\nnext\n", encoding)
    # `@` is the 6th code point; before it: a, b, a Hangul syllable, an emoji and a space.
    assert lines.to_lsp(1, 6) == (0, units)
    assert lines.from_lsp(0, units) == (1, 6)
    assert lines.to_lsp(2, 3) == (1, 2)


def test_codec_with_a_byte_order_mark():
    lines = Lines("\ufeff@Al waves\nnext")
    assert lines.to_lsp(1, 1) == (0, 1)
    assert lines.from_lsp(0, 1) == (1, 1)
    assert lines.to_lsp(2, 1) == (1, 0)


def _long_script(scenes: int = 12) -> str:
    example = (Path(__file__).resolve().parent.parent / "examples" / "sitcom_coffee_shop.kls").read_text(encoding="utf-8")
    head, body = example.split('scene "The business plan"', 1)
    parts = [head]
    for k in range(scenes):
        parts.append(f'scene "Take {k}"' + body + "\n")
    return "".join(parts)


@pytest.mark.parametrize("edit", ["typo", "insert_line", "delete_line", "new_reference", "bad_duration",
                                  "unterminated", "paste_above", "settings"])
def test_the_servers_diagnostics_equal_the_full_check(tmp_path, edit):
    from klingscript.lsp.server import KlingScriptServer, DocState

    text = _long_script()
    path = tmp_path / "long.kls"
    (tmp_path / "refs").mkdir()
    path.write_text(text, encoding="utf-8")
    server = KlingScriptServer()
    st = DocState(path.as_uri(), path)
    assert server.diagnose(st, text).diagnostics == compiler.check(path).diagnostics
    lines = text.split("\n")
    i = next(k for k in range(len(lines) // 2, len(lines)) if lines[k].startswith("        @Dev"))
    new = list(lines)
    if edit == "typo":
        new[i] = new[i].replace("@Dev", "@Dve")
    elif edit == "insert_line":
        new.insert(i + 1, '        @Priya (tired): "One more thing."')
    elif edit == "delete_line":
        del new[i]
    elif edit == "new_reference":
        new[i] = new[i] + "  # aside"
        new.insert(i, "    Shot 9 (2s): @Nobody enters.")
    elif edit == "bad_duration":
        new[i - 1] = new[i - 1].replace("(3s)", "(2.5s)")
    elif edit == "paste_above":
        k = next(k for k in range(i, 0, -1) if lines[k].startswith("scene"))
        new[k:k] = ['scene "Pasted" at @CoffeeShop:', '    sound: "a"', '    sound: "b"',
                    "    Shot 1 (2s): @Nobody waits.", ""]
    elif edit == "settings":
        new.insert(0, "language: Korean")
    else:
        new[i] = new[i][:-1]
    new_text = "\n".join(new)
    full = compiler.check(path, loader=project.Loader({path: new_text})).diagnostics
    assert server.diagnose(st, new_text).diagnostics == full
    assert path.read_text(encoding="utf-8") == text

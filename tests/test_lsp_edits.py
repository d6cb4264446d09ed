"""The language server after each kind of edit of issue 8 (item 7) publishes what `klingc check` says.

A real client (pytest-lsp) talks to ``python -m klingscript lsp`` over stdio
and edits a script of a few hundred lines the four ways the issue names:
typing in a scene, appending a scene at the end, pasting a 40-line scene into
the middle, and deleting a whole scene. After each edit, every
``publishDiagnostics`` of the edited version (the server may publish a quick
answer and then the full check's) must equal ``compiler.check`` of the same
text: codes, severities, messages (with their help), ranges in UTF-16 units
(computed here, independently of the server's codec) and related
information.

The server answers every edit from the scene results (``cache/scenes.py``)
with its in-memory store. No sleeps: after the first diagnostics of a
version arrive, a hover request, which needs the full check of the current
text, lets the server settle; once its answer is back every publication of
that version has arrived.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import pytest
import pytest_lsp
from lsprotocol import types as T
from pytest_lsp import ClientServerConfig
from pytest_lsp import client as pytest_lsp_client

from klingscript import compiler, project

PUBLISH = T.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS
SEVERITY = {"error": T.DiagnosticSeverity.Error, "warning": T.DiagnosticSeverity.Warning,
            "note": T.DiagnosticSeverity.Information}

aio = pytest.mark.asyncio(loop_scope="module")


def utf16(s: str) -> int:
    return len(s.encode("utf-16-le")) // 2


# -- the script ------------------------------------------------------------------------------
# Twelve scenes (about 270 lines). @Mug and @Lamp are declared and unused (KLS403); @Zed
# appears in one scene only ("Take 3"); "Take 8" has an unknown element and a setting given
# twice (a diagnostic with a label), below the middle, where pasted lines move it.

ELEMENTS = '''\
character Zed:
    description: "old man in a flat cap, 지팡이 in hand"

prop Mug:
    description: "chipped white mug with a cartoon dog"

prop Lamp:
    description: "brass desk lamp with a green shade"

'''


def long_script() -> str:
    example = (Path(__file__).resolve().parent.parent / "examples" / "sitcom_coffee_shop.kls").read_text(encoding="utf-8")
    head, body = example.split('scene "The business plan"', 1)
    parts = [head + ELEMENTS]
    for k in range(12):
        b = body
        if k == 3:
            b = b.replace("@Dev slams his laptop", "@Zed 😊 watches as @Dev slams his laptop")
        if k == 8:
            b = b.replace("@Priya freezes", "@Nobody freezes")
            b = b.replace("    sound:", '    sound: "rain"\n    sound:')
        parts.append(f'scene "Take {k}"' + b + "\n")
    return "".join(parts)


def pasted_scene(name: str) -> list[str]:
    """A 40-line scene that uses @Lamp (so far unused) and has three errors."""
    lines = [f'scene "{name}" at @CoffeeShop:', '    sound: "a kettle whistling"', '    sound: "again"', ""]
    for k in range(1, 13):
        lines.append(f"    Shot {k} (2s): @Tom wipes the counter, take {k}.")
        lines.append(f'        @Priya (dry): "Line {k}, 좋아 😊."' if k != 5 else '        @Ghost (dry): "Boo."')
        lines.append("        @Lamp flickers." if k == 7 else "        @Dev checks his phone.")
    assert len(lines) == 40
    lines[10] = lines[10].replace("(2s)", "(2.5s)")
    return lines


def appended_scene(name: str) -> list[str]:
    return [f'scene "{name}" at @CoffeeShop:', "    Shot 1 (3s): @Dev knocks over @Mug.",
            '        @Dev (sheepish): "Sorry."', "    Shot 2 (3s): @Priya rolls her eyes at @Dve."]


# -- the client -------------------------------------------------------------------------------

def make_client():
    """pytest-lsp's client, also keeping every publication (its version and diagnostics), in order."""
    def record(ls, params: T.PublishDiagnosticsParams):  # pygls passes the client as `ls`
        ls.published.append((params.uri, params.version, params.diagnostics))
        ls.diagnostics[params.uri] = params.diagnostics

    client = pytest_lsp_client.LanguageClient(converter_factory=pytest_lsp_client.default_converter)
    client.published = []
    pytest_lsp_client.register_lsp_features(client, {**pytest_lsp_client.DEFAULT_CLIENT_FEATURES, PUBLISH: record})
    return client


@pytest_lsp.fixture(
    scope="module",
    config=ClientServerConfig(
        server_command=[sys.executable, "-m", "klingscript", "lsp"],
        server_env={**os.environ, "KLINGC_LSP_TIMINGS": "1"},
        client_factory=make_client),
)
async def client(lsp_client: pytest_lsp.LanguageClient):
    await lsp_client.initialize_session(T.InitializeParams(
        capabilities=pytest_lsp.client_capabilities("visual-studio-code")))
    yield
    await lsp_client.shutdown_session()


def expected(path: Path, text: str) -> list[tuple]:
    """What `klingc check` says of ``text``, as the client should see it."""
    checked = compiler.check(path, loader=project.Loader({path: text}))
    main = checked.program.main.display
    lines = text.split("\n")
    uri = path.as_uri()

    def rng(span):
        return ((span.line - 1, utf16(lines[span.line - 1][: span.column - 1])),
                (span.end_line - 1, utf16(lines[span.end_line - 1][: span.end_column - 1])))

    out = []
    for d in checked.diagnostics:
        assert d.span.file == main, d  # the script uses no other file
        related = tuple((uri, rng(l.span), l.message) for l in d.labels)
        out.append((d.code, SEVERITY[d.severity.value], rng(d.span),
                    d.message + (f"\nhelp: {d.help}" if d.help else ""), related))
    return sorted(out)


def received(diags) -> list[tuple]:
    def rng(r: T.Range):
        return ((r.start.line, r.start.character), (r.end.line, r.end.character))

    return sorted((str(d.code), d.severity, rng(d.range), d.message,
                   tuple((i.location.uri, rng(i.location.range), i.message) for i in d.related_information or ()))
                  for d in diags)


class Editor:
    """One open document: the client's copy of its text, edits sent to the server, and the check."""

    def __init__(self, client, path: Path, text: str):
        self.client, self.path, self.uri, self.version = client, path, path.as_uri(), 1
        self.lines = text.split("\n")
        path.write_text(text, encoding="utf-8")
        client.text_document_did_open(T.DidOpenTextDocumentParams(T.TextDocumentItem(self.uri, "klingscript", 1, text)))

    @property
    def text(self) -> str:
        return "\n".join(self.lines)

    def scene(self, name: str) -> tuple[int, int]:
        """The 0-based [start, end) lines of a scene, the blank lines after it included."""
        start = next(i for i, l in enumerate(self.lines) if l.startswith(f'scene "{name}"'))
        end = start + 1
        while end < len(self.lines) - 1 and not self.lines[end][:1].strip():
            end += 1
        return start, end

    def line_with(self, needle: str, after: int = 0) -> int:
        return next(i for i in range(after, len(self.lines)) if needle in self.lines[i])

    async def settled(self) -> list:
        """Every publication of the current version once the server has checked it in full."""
        while not any(u == self.uri and v == self.version for u, v, _ in self.client.published):
            await asyncio.wait_for(self.client.wait_for_notification(PUBLISH), 60)
        await asyncio.wait_for(self.client.text_document_hover_async(
            T.HoverParams(T.TextDocumentIdentifier(self.uri), T.Position(0, 0))), 60)
        return [d for u, v, d in self.client.published if u == self.uri and v == self.version]

    async def check(self, what: str) -> None:
        want = expected(self.path, self.text)
        for n, diags in enumerate(await self.settled()):
            assert received(diags) == want, f"{what}: publication {n + 1} of version {self.version}"

    def _send(self, start: tuple[int, int], end: tuple[int, int], new: str) -> None:
        self.version += 1
        self.client.text_document_did_change(T.DidChangeTextDocumentParams(
            T.VersionedTextDocumentIdentifier(uri=self.uri, version=self.version),
            [T.TextDocumentContentChangePartial(T.Range(T.Position(*start), T.Position(*end)), new)]))

    async def type(self, line: int, column: int, new: str, what: str) -> None:
        """Insert ``new`` before code point ``column`` of ``line`` (0-based)."""
        old = self.lines[line]
        self.lines[line] = old[:column] + new + old[column:]
        at = (line, utf16(old[:column]))
        self.lines = self.text.split("\n")  # ``new`` may hold a line break
        self._send(at, at, new)
        await self.check(what)

    async def insert_lines(self, index: int, new: list[str], what: str) -> None:
        self.lines[index:index] = new
        self._send((index, 0), (index, 0), "".join(l + "\n" for l in new))
        await self.check(what)

    async def delete_lines(self, start: int, end: int, what: str) -> None:
        del self.lines[start:end]
        self._send((start, 0), (end, 0), "")
        await self.check(what)


async def opened(client, tmp_path: Path, name: str) -> Editor:
    editor = Editor(client, tmp_path / f"{name}.kls", long_script())
    await editor.check("open")
    assert {d[0] for d in expected(editor.path, editor.text)} >= {"KLS201", "KLS403", "KLS404"}
    return editor


# -- the four edits -----------------------------------------------------------------------------

@aio
async def test_typing_in_a_scene(client, tmp_path):
    ed = await opened(client, tmp_path, "typing")
    middle = ed.line_with('scene "Take 6"')
    line = ed.line_with('@Dev (triumphant): "', middle)
    column = ed.lines[line].index('"') + 1
    for k, ch in enumerate("Well, "):  # one keystroke at a time, inside dialogue
        await ed.type(line, column + k, ch, f"typing {ch!r}")
    dev = ed.line_with("@Dev slams", middle)
    await ed.type(dev, ed.lines[dev].index("@Dev") + 2, "x", "a typo: @Dxev")  # KLS201
    await ed.type(dev, len(ed.lines[dev]), " @Mug", "the scene starts using @Mug")  # no more KLS403
    shot = ed.line_with("Shot 3 (3s)", middle)
    await ed.type(shot, ed.lines[shot].index("3s") + 1, ".5", "a bad duration")
    # in the scene with errors, below
    nobody = ed.line_with("@Nobody")
    await ed.type(nobody, ed.lines[nobody].index("@Nobody") + 1, "Very", "typing in a scene with errors")
    # the only scene with @Zed stops using it: KLS403
    zed = ed.line_with("@Zed")
    await ed.type(zed, ed.lines[zed].index("@Zed") + 1, "Q", "@Zed unused, @QZed unknown")


@aio
async def test_appending_a_scene(client, tmp_path):
    ed = await opened(client, tmp_path, "append")
    end = len(ed.lines) - 1  # the text ends with a newline
    await ed.insert_lines(end, appended_scene("Coda"), "append a scene that uses @Mug, with a typo")
    end = len(ed.lines) - 1
    await ed.insert_lines(end, [""] + appended_scene("Coda again"), "append a second one")
    # and type in the appended scene
    last = ed.line_with("@Dve", ed.scene("Coda again")[0])
    await ed.type(last, ed.lines[last].index("@Dve") + 2, "e", "typing in the appended scene")


@aio
async def test_pasting_a_40_line_scene_into_the_middle(client, tmp_path):
    ed = await opened(client, tmp_path, "paste")
    at = ed.scene("Take 6")[0]
    await ed.insert_lines(at, pasted_scene("Pasted") + [""], "paste a scene that uses @Lamp, with errors")
    at = ed.scene("Take 2")[0]
    await ed.insert_lines(at, pasted_scene("Pasted again") + [""], "paste another above it")
    # type in the pasted scene: its unknown @Ghost
    ghost = ed.line_with("@Ghost", ed.scene("Pasted again")[0])
    await ed.type(ghost, ed.lines[ghost].index("@Ghost") + 1, "x", "typing in the pasted scene")


@aio
async def test_deleting_a_scene(client, tmp_path):
    ed = await opened(client, tmp_path, "delete")
    await ed.delete_lines(*ed.scene("Take 3"), "delete the only scene with @Zed: KLS403")
    await ed.delete_lines(*ed.scene("Take 8"), "delete the scene with errors")
    # paste a scene, then delete it: the script returns to an earlier text
    before = ed.text
    at = ed.scene("Take 5")[0]
    await ed.insert_lines(at, pasted_scene("Pasted") + [""], "paste a scene")
    await ed.delete_lines(*ed.scene("Pasted"), "delete the pasted scene: @Lamp unused again")
    assert ed.text == before
    last = ed.scene("Take 11")
    await ed.delete_lines(last[0], len(ed.lines) - 1, "delete the last scene")


@aio
async def test_typing_a_new_line_above_a_diagnostic_that_names_a_line(client, tmp_path):
    # "Take 8"'s KLS104 says in its help on which line the setting was first given.
    ed = await opened(client, tmp_path, "newline")
    line = ed.line_with("@Dev slams", ed.scene("Take 6")[0])
    await ed.type(line, len(ed.lines[line]), "\n        @Dev (quietly): \"Fine.\"", "a new line of dialogue")

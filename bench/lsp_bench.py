"""Time the language server as an editor meets it: from an edit to diagnostics.

    python bench/lsp_bench.py [--edits 30] [--reps 5] [--starts 3] [--json results.json]

Starts ``python -m klingscript lsp`` as a subprocess, talks LSP to it over
stdio with pygls's client, and measures, for a feature-length script
(``bench/gen_feature.py``: 150 scenes, about 4,600 lines) and for a typical
one-scene script:

- **open**: ``didOpen`` to the first ``publishDiagnostics``;
- **keystroke** (typing in a scene): an incremental ``didChange`` (one
  character typed into a line of dialogue of the middle scene) to the first
  ``publishDiagnostics`` of that version. On the long script that is the
  scene-local re-check; the row **full re-check** is the time until the full
  check of the same version is published (after the server's debounce).
  The column "in server" is the server's own measure of the same interval
  (from the change's arrival to the diagnostics written out), without the
  client's reading and decoding of the message;
- **typing burst**: characters sent every 40 ms, as a fast typist does; for
  each keystroke, the time until diagnostics of that text (or of a later
  one: the server checks only the latest text) are published;
- the whole-scene edits of issue 8 (``--reps`` times each), each from the
  ``didChange`` to the first ``publishDiagnostics`` of that version:
  **append** a scene at the end of the file, **paste** a 40-line scene into
  the middle (a copy of one of the script's scenes under a new name), and
  **delete** a whole scene (the pasted one, or the one appended before);
- **startup** (feature script, ``--starts`` times): from starting the server
  process, through ``initialize``, to the first diagnostics of the opened
  script; "cold" with an empty klingc cache folder (and a script never
  checked), "warm" with one that a first start filled by checking the same
  file (so the scene results are there, as when an editor reopens a script).

Every edit makes a text the server has not seen in this run (typing only
inserts; each pasted or appended scene has a name of its own), so no answer
can come from the result of an earlier, identical text. After each timed
edit the bench lets the server settle (a hover, which needs the full check of
the current text) before the next one. The klingc cache lives in a
temporary folder, so a run does not depend on earlier runs.

The tables show the median and the worst of each, and issue 8's targets
(<= 50 ms median and <= 100 ms worst for each edit, < 0.5 s for startup).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

from lsprotocol import types as T
from pygls.lsp.client import LanguageClient

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path.insert(0, str(BENCH))

FULL_WAIT = 30.0  # seconds: a safety limit, never reached in a healthy run
EDIT_TARGET = (0.050, 0.100)  # issue 8: median, worst, for each edit at the client
STARTUP_TARGET = 0.5          # issue 8: initialize plus the first diagnostics of the feature script
PASTE_LINES = 40


def feature_script() -> str:
    try:
        import gen_feature
        return gen_feature.generate()
    except ImportError:  # a trimmed checkout: a simpler script of the same size
        out = ["title: Feature", "model: kling-v3", ""]
        names = ["Nora", "Eli", "Marcus", "Ines"]
        for n in names:
            out += [f"character {n}:", f'    description: "{n.lower()}, a detective in a grey coat"']
        out += ["location Street:", '    description: "a rainy street"', ""]
        for s in range(1, 151):
            out += [f'scene "Scene {s}" at @Street:', '    sound: "rain"', ""]
            for k in range(1, 11):
                a, b = names[(s + k) % 4], names[(s + k + 1) % 4]
                out += [f"    Shot {k} (3s): @{a} looks at @{b}.", f'        @{a} (tense): "Not tonight, {b}."']
            out.append("")
        return "\n".join(out) + "\n"


def scene_script() -> str:
    return (REPO / "examples" / "sitcom_coffee_shop.kls").read_text(encoding="utf-8")


def utf16(s: str) -> int:
    return len(s.encode("utf-16-le")) // 2


class Doc:
    """The client's copy of a document, and the incremental changes that edit it."""

    def __init__(self, uri: str, text: str):
        self.uri, self.lines, self.version = uri, text.split("\n"), 1

    @property
    def text(self) -> str:
        return "\n".join(self.lines)

    def _change(self, rng: T.Range, new: str) -> T.DidChangeTextDocumentParams:
        self.version += 1
        return T.DidChangeTextDocumentParams(T.VersionedTextDocumentIdentifier(uri=self.uri, version=self.version),
                                             [T.TextDocumentContentChangePartial(rng, new)])

    def type(self, line: int, column: int, ch: str) -> T.DidChangeTextDocumentParams:
        """Insert ``ch`` before code point ``column`` (0-based) of ``line``."""
        old = self.lines[line]
        self.lines[line] = old[:column] + ch + old[column:]
        at = T.Position(line, utf16(old[:column]))
        return self._change(T.Range(at, at), ch)

    def insert_lines(self, index: int, new: list[str]) -> T.DidChangeTextDocumentParams:
        """Insert whole lines before line ``index`` (which must exist)."""
        self.lines[index:index] = new
        at = T.Position(index, 0)
        return self._change(T.Range(at, at), "".join(l + "\n" for l in new))

    def delete_lines(self, start: int, end: int) -> T.DidChangeTextDocumentParams:
        """Delete lines [start, end); the line ``end`` must exist (the text ends with a newline)."""
        assert end < len(self.lines)
        del self.lines[start:end]
        return self._change(T.Range(T.Position(start, 0), T.Position(end, 0)), "")

    # -- the script's layout ------------------------------------------------------
    def blocks(self) -> list[tuple[int, int]]:
        """Top-level items as [start, end) line ranges (an item's trailing blank lines included)."""
        starts = [i for i, l in enumerate(self.lines) if l and l.lstrip("\ufeff")[:1] not in ("", " ", "\t", "#")]
        return list(zip(starts, starts[1:] + [len(self.lines) - 1]))

    def scenes(self) -> list[tuple[int, int]]:
        return [(s, e) for s, e in self.blocks() if self.lines[s].lstrip("\ufeff").startswith("scene ")]

    def scene_named(self, name: str) -> tuple[int, int]:
        return next((s, e) for s, e in self.scenes() if self.lines[s].startswith(f'scene "{name}"'))

    def scene_copy(self, name: str, length: int = PASTE_LINES) -> list[str]:
        """A copy of the scene closest to ``length`` lines (nearest the middle on ties), renamed."""
        scenes = self.scenes()
        mid = len(scenes) // 2

        def size(r):  # without the blank lines and comments after it (they go with the next item)
            s, e = r
            while e > s + 1 and (not self.lines[e - 1].strip() or self.lines[e - 1].startswith("#")):
                e -= 1
            return e - s
        best = min(range(len(scenes)), key=lambda i: (abs(size(scenes[i]) - length), abs(i - mid)))
        s, _ = scenes[best]
        body = self.lines[s: s + size(scenes[best])]
        return [re.sub(r'^scene "[^"]*"', f'scene "{name}"', body[0])] + body[1:]

    def dialogue_points(self) -> list[tuple[int, int]]:
        """(line, code point after the opening quote) of the dialogue lines of the middle scene."""
        scenes = self.scenes()
        for s, e in scenes[len(scenes) // 2:] + scenes[: len(scenes) // 2]:
            points = [(i, self.lines[i].index('"') + 1) for i in range(s + 1, e)
                      if self.lines[i].startswith("        ") and '"' in self.lines[i] and ":" in self.lines[i]]
            if points:
                return points
        raise SystemExit("no dialogue line to edit")


class Session:
    def __init__(self):
        self.client = LanguageClient("klingscript-bench", "1")
        self.published: list[tuple[float, str, int | None, int]] = []
        self.event = asyncio.Event()

        self.server_times: dict[tuple[int, str], float] = {}

        @self.client.feature(T.WINDOW_LOG_MESSAGE)
        def on_log(params: T.LogMessageParams):
            parts = params.message.split()
            if params.message.startswith("klingc timing:") and len(parts) >= 6:
                self.server_times[(int(parts[3]), parts[4])] = float(parts[5]) / 1000

        @self.client.feature(T.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
        def on_publish(params: T.PublishDiagnosticsParams):
            self.published.append((time.perf_counter(), params.uri, params.version, len(params.diagnostics)))
            self.event.set()

    async def start(self, root: Path, cache: Path):
        env = {**os.environ, "KLINGC_LSP_TIMINGS": "1", "XDG_CACHE_HOME": str(cache)}
        await self.client.start_io(sys.executable, "-m", "klingscript", "lsp", env=env)
        caps = T.ClientCapabilities(general=T.GeneralClientCapabilities(
            position_encodings=[T.PositionEncodingKind.Utf16]))
        await self.client.initialize_async(T.InitializeParams(capabilities=caps, root_uri=root.as_uri()))
        self.client.initialized(T.InitializedParams())

    async def stop(self):
        await self.client.shutdown_async(None)
        self.client.exit(None)
        await self.client.stop()

    async def wait(self, uri: str, version: int, count: int = 1, limit: float = FULL_WAIT, later: bool = False):
        """The times of the first ``count`` publications for (uri, version), or a later version."""
        deadline = time.perf_counter() + limit
        while True:
            hits = [t for t, u, v, _ in self.published
                    if u == uri and v is not None and (v == version or (later and v > version))]
            if len(hits) >= count:
                return hits[:count]
            remaining = deadline - time.perf_counter()
            if remaining <= 0:
                return hits
            self.event.clear()
            try:
                await asyncio.wait_for(self.event.wait(), remaining)
            except asyncio.TimeoutError:
                pass

    async def settle(self, uri: str) -> None:
        """Wait until the server has checked the current text in full (a hover needs that check)."""
        await asyncio.wait_for(self.client.text_document_hover_async(
            T.HoverParams(T.TextDocumentIdentifier(uri), T.Position(0, 0))), FULL_WAIT)

    def server_first(self, version: int) -> float | None:
        """The server's time from the change of ``version`` to its first diagnostics."""
        times = [t for (v, _), t in self.server_times.items() if v == version]
        return min(times) if times else None

    async def timed(self, doc: Doc, change: T.DidChangeTextDocumentParams) -> tuple[float, float | None]:
        """Send ``change``: the time to the first diagnostics of its version, and the server's time."""
        t0 = time.perf_counter()
        self.client.text_document_did_change(change)
        hits = await self.wait(doc.uri, doc.version)
        if not hits:
            raise SystemExit(f"no diagnostics for version {doc.version} within {FULL_WAIT:.0f} s")
        await self.settle(doc.uri)
        return hits[0] - t0, self.server_first(doc.version)


def summary(row: dict, name: str, samples: list[tuple[float, float | None]]) -> None:
    client = [c for c, _ in samples]
    server = [s for _, s in samples if s is not None]
    row[f"{name}_median_s"] = statistics.median(client)
    row[f"{name}_max_s"] = max(client)
    row[f"{name}_server_median_s"] = statistics.median(server) if server else None
    row[f"{name}_count"] = len(client)


async def whole_scene_edits(s: Session, doc: Doc, reps: int, row: dict) -> None:
    """Paste a scene into the middle, delete the scene appended last, append one, delete the pasted one.

    Each text is new: the pasted and appended scenes have names of their own,
    and each deletion removes a scene from a text that has never been without it.
    """
    paste, append, delete = [], [], []
    appended = None
    for k in range(1, reps + 1):
        at = doc.scenes()[len(doc.scenes()) // 2][0]
        while at > 0 and doc.lines[at - 1].startswith("#"):  # before the comments above that scene
            at -= 1
        pasted = f"Pasted scene {k}"
        paste.append(await s.timed(doc, doc.insert_lines(at, doc.scene_copy(pasted) + [""])))
        if appended is not None:
            delete.append(await s.timed(doc, doc.delete_lines(*doc.scene_named(appended))))
        appended = f"Appended scene {k}"
        end = len(doc.lines) - 1  # the text ends with a newline: its last line is empty
        blank = [] if end > 0 and not doc.lines[end - 1].strip() else [""]
        append.append(await s.timed(doc, doc.insert_lines(end, blank + doc.scene_copy(appended))))
        delete.append(await s.timed(doc, doc.delete_lines(*doc.scene_named(pasted))))
    summary(row, "append", append)
    summary(row, "paste", paste)
    summary(row, "delete", delete)


async def measure(name: str, text: str, edits: int, long: bool, reps: int, cache: Path) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        path = root / f"{name}.kls"
        path.write_text(text, encoding="utf-8")
        s = Session()
        await s.start(root, cache)
        uri = path.as_uri()
        doc = Doc(uri, text)
        t0 = time.perf_counter()
        s.client.text_document_did_open(T.DidOpenTextDocumentParams(T.TextDocumentItem(uri, "klingscript", 1, text)))
        opened = (await s.wait(uri, 1))[0] - t0
        # typing in a scene: each keystroke inserts a character (never undoes one), in turn
        # into each dialogue line of the middle scene
        points = doc.dialogue_points()
        first, full, timed = [], [], []
        for k in range(edits):
            line, column = points[k % len(points)]
            t0 = time.perf_counter()
            s.client.text_document_did_change(doc.type(line, column, "x"))
            hits = await s.wait(uri, doc.version)
            first.append(hits[0] - t0)
            timed.append(doc.version)
            if long:
                # a server that follows with a full check publishes the version again
                await s.settle(uri)
                hits = await s.wait(uri, doc.version, count=2, limit=0.0)
                if len(hits) > 1:
                    full.append(hits[1] - t0)
        # a burst of typing: one character every 40 ms, words into one line
        burst = []
        sent = {}
        line, column = points[len(points) // 2]
        for k, ch in enumerate("and so we wait here "):
            sent[doc.version + 1] = time.perf_counter()
            s.client.text_document_did_change(doc.type(line, column + k, ch))
            await asyncio.sleep(0.04)
        for v, t in sent.items():
            hits = await s.wait(uri, v, limit=5.0, later=True)
            if hits:
                burst.append(hits[0] - t)
        await s.wait(uri, doc.version, limit=FULL_WAIT)
        await s.settle(uri)
        # the server's time to the first diagnostics of each timed version (scene-local or full)
        server = [t for t in map(s.server_first, timed) if t is not None]
        lines = text.count("\n")
        row = {"script": name, "lines": lines, "open_s": opened,
               "keystroke_median_s": statistics.median(first), "keystroke_max_s": max(first),
               "server_median_s": statistics.median(server) if server else None,
               "burst_median_s": statistics.median(burst) if burst else None,
               "burst_max_s": max(burst) if burst else None, "burst_answered": len(burst)}
        if full:
            row["full_median_s"] = statistics.median(full)
            row["full_max_s"] = max(full)
        await whole_scene_edits(s, doc, reps, row)
        await s.stop()
    return row


async def startup(text: str, cache: Path, root: Path) -> tuple[float, float]:
    """Start a server and open ``text`` as ``root/feature.kls``: (time to ``initialize``'s
    answer, time to the first diagnostics)."""
    path = root / "feature.kls"
    path.write_text(text, encoding="utf-8")
    s = Session()
    t0 = time.perf_counter()
    await s.start(root, cache)
    initialized = time.perf_counter() - t0
    s.client.text_document_did_open(T.DidOpenTextDocumentParams(
        T.TextDocumentItem(path.as_uri(), "klingscript", 1, text)))
    first = (await s.wait(path.as_uri(), 1))[0] - t0
    await s.stop()
    return initialized, first


async def measure_startup(text: str, starts: int, tmp: Path, row: dict) -> None:
    warm_cache, warm_root = tmp / "warm", tmp / "warm-script"
    warm_root.mkdir()
    await startup(text, warm_cache, warm_root)  # fills the cache folder the warm starts read
    for kind in ("cold", "warm"):
        init, first = [], []
        for k in range(starts):
            if kind == "cold":   # an empty cache folder, a script never checked
                cache, root = tmp / f"cold{k}", tmp / f"cold-script{k}"
                root.mkdir()
            else:                # the script (the same file) checked before, by the first start
                cache, root = warm_cache, warm_root
            i, f = await startup(text, cache, root)
            init.append(i)
            first.append(f)
        row[f"startup_{kind}_initialize_median_s"] = statistics.median(init)
        row[f"startup_{kind}_median_s"] = statistics.median(first)
        row[f"startup_{kind}_max_s"] = max(first)


def ms(x) -> str:
    return "—" if x is None else f"{x * 1000:.0f} ms"


EDITS = [("keystroke", "typing in a scene"), ("append", "append a scene at the end"),
         ("paste", f"paste a {PASTE_LINES}-line scene"), ("delete", "delete a scene")]


def print_tables(rows: list[dict]) -> None:
    print(f"{'script':<10} {'lines':>6} {'open':>8} {'keystroke median/max':>22} {'(in server)':>12} "
          f"{'full re-check median':>21} {'typing burst median/max':>25}")
    for r in rows:
        print(f"{r['script']:<10} {r['lines']:>6} {ms(r['open_s']):>8} "
              f"{ms(r['keystroke_median_s']) + ' / ' + ms(r['keystroke_max_s']):>22} "
              f"{ms(r['server_median_s']):>12} "
              f"{ms(r.get('full_median_s')):>21} "
              f"{ms(r['burst_median_s']) + ' / ' + ms(r['burst_max_s']):>25}")
    print()
    print(f"{'script':<10} {'edit':<32} {'median':>8} {'max':>8} {'in server':>10}   {'target':<22} met")
    for r in rows:
        for key, label in EDITS:
            med, worst = r[f"{key}_median_s"], r[f"{key}_max_s"]
            server = r["server_median_s"] if key == "keystroke" else r[f"{key}_server_median_s"]
            met = "yes" if med <= EDIT_TARGET[0] and worst <= EDIT_TARGET[1] else "no"
            target = f"<= {EDIT_TARGET[0] * 1000:.0f} / <= {EDIT_TARGET[1] * 1000:.0f} ms"
            print(f"{r['script']:<10} {label:<32} {ms(med):>8} {ms(worst):>8} {ms(server):>10}   {target:<22} {met}")
        for kind in ("cold", "warm"):
            if f"startup_{kind}_median_s" not in r:
                continue
            med, worst = r[f"startup_{kind}_median_s"], r[f"startup_{kind}_max_s"]
            label = f"start + first diagnostics ({kind})"
            target = f"< {STARTUP_TARGET * 1000:.0f} ms"
            met = "yes" if med < STARTUP_TARGET else "no"
            init = f"(initialize: {ms(r[f'startup_{kind}_initialize_median_s'])})"
            print(f"{r['script']:<10} {label:<32} {ms(med):>8} {ms(worst):>8} {'—':>10}   {target:<22} {met}  {init}")


async def main_async(args) -> list[dict]:
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        feature = feature_script()
        rows = [await measure("feature", feature, args.edits, True, args.reps, tmp / "cache"),
                await measure("one_scene", scene_script(), args.edits, False, args.reps, tmp / "cache")]
        if args.starts:
            await measure_startup(feature, args.starts, tmp, rows[0])
    print_tables(rows)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--edits", type=int, default=30, help="keystrokes to time on each script")
    ap.add_argument("--reps", type=int, default=5,
                    help="times to paste, append and delete a whole scene on each script")
    ap.add_argument("--starts", type=int, default=3,
                    help="server starts to time with the feature script, with a cold and a warm cache (0: none)")
    ap.add_argument("--json", help="also write the results to this file")
    args = ap.parse_args()
    if args.edits < 1 or args.reps < 1 or args.starts < 0:
        ap.error("--edits and --reps must be at least 1, --starts at least 0")
    rows = asyncio.run(main_async(args))
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()

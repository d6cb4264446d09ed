"""Time the language server as an editor meets it: from a keystroke to diagnostics.

    python bench/lsp_bench.py [--edits 30] [--json results.json]

Starts ``python -m klingscript lsp`` as a subprocess, talks LSP to it over
stdio with pygls's client, and measures, for a feature-length script
(``bench/gen_feature.py``: 150 scenes, about 4,500 lines) and for a typical
one-scene script:

- **open**: ``didOpen`` to the first ``publishDiagnostics``;
- **keystroke**: an incremental ``didChange`` (one character typed into a
  line of dialogue in the middle of the script, or deleted again) to the
  first ``publishDiagnostics`` of that version. On the long script that is
  the scene-local re-check; the row **full re-check** is the time until the
  full check of the same version is published (after the server's debounce);
  The column "in server" is the server's own measure of the same interval
  (from the change's arrival to the diagnostics written out), without the
  client's reading and decoding of the message;
- **typing burst**: characters sent every 40 ms, as a fast typist does; for
  each keystroke, the time until diagnostics of that text (or of a later
  one: the server checks only the latest text) are published.

The table shows the median and the worst of each.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
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

    async def start(self, root: Path):
        env = {**os.environ, "KLINGC_LSP_TIMINGS": "1"}
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


def edit_point(text: str) -> tuple[int, int]:
    """A position inside a quoted dialogue line in the middle of ``text`` (line, UTF-16 character)."""
    lines = text.split("\n")
    for i in range(len(lines) // 2, len(lines)):
        line = lines[i]
        if line.startswith("        ") and '"' in line and ":" in line:
            j = line.index('"') + 1
            return i, len(line[:j].encode("utf-16-le")) // 2
    raise SystemExit("no dialogue line to edit")


def change(uri: str, version: int, line: int, char: int, insert: bool) -> T.DidChangeTextDocumentParams:
    if insert:
        rng, text = T.Range(T.Position(line, char), T.Position(line, char)), "x"
    else:
        rng, text = T.Range(T.Position(line, char), T.Position(line, char + 1)), ""
    return T.DidChangeTextDocumentParams(T.VersionedTextDocumentIdentifier(uri=uri, version=version),
                                         [T.TextDocumentContentChangePartial(rng, text)])


async def measure(name: str, text: str, edits: int, long: bool) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        path = root / f"{name}.kls"
        path.write_text(text, encoding="utf-8")
        s = Session()
        await s.start(root)
        uri = path.as_uri()
        t0 = time.perf_counter()
        s.client.text_document_did_open(T.DidOpenTextDocumentParams(T.TextDocumentItem(uri, "klingscript", 1, text)))
        opened = (await s.wait(uri, 1))[0] - t0
        line, char = edit_point(text)
        version = 1
        first, full, timed = [], [], []
        for k in range(edits):
            version += 1
            t0 = time.perf_counter()
            s.client.text_document_did_change(change(uri, version, line, char, insert=k % 2 == 0))
            hits = await s.wait(uri, version, count=2 if long else 1)
            first.append(hits[0] - t0)
            timed.append(version)
            if long and len(hits) > 1:
                full.append(hits[1] - t0)
        # a burst of typing: one character every 40 ms
        burst = []
        sent = {}
        for k in range(20):
            version += 1
            sent[version] = time.perf_counter()
            s.client.text_document_did_change(change(uri, version, line, char, insert=k % 2 == 0))
            await asyncio.sleep(0.04)
        for v, t in sent.items():
            hits = await s.wait(uri, v, limit=5.0, later=True)
            if hits:
                burst.append(hits[0] - t)
        await s.wait(uri, version, count=2 if long else 1, limit=FULL_WAIT)
        await s.stop()
    # the server's time to the first diagnostics of each timed version (scene-local or full)
    server = [min(t for (v2, _), t in s.server_times.items() if v2 == v)
              for v in timed if any(v2 == v for v2, _ in s.server_times)]
    lines = text.count("\n")
    row = {"script": name, "lines": lines, "open_s": opened,
           "keystroke_median_s": statistics.median(first), "keystroke_max_s": max(first),
           "server_median_s": statistics.median(server) if server else None,
           "burst_median_s": statistics.median(burst) if burst else None,
           "burst_max_s": max(burst) if burst else None, "burst_answered": len(burst)}
    if full:
        row["full_median_s"] = statistics.median(full)
        row["full_max_s"] = max(full)
    return row


def ms(x) -> str:
    return "—" if x is None else f"{x * 1000:.0f} ms"


async def main_async(args) -> list[dict]:
    rows = [await measure("feature", feature_script(), args.edits, long=True),
            await measure("one_scene", scene_script(), args.edits, long=False)]
    print(f"{'script':<10} {'lines':>6} {'open':>8} {'keystroke median/max':>22} {'(in server)':>12} "
          f"{'full re-check median':>21} {'typing burst median/max':>25}")
    for r in rows:
        print(f"{r['script']:<10} {r['lines']:>6} {ms(r['open_s']):>8} "
              f"{ms(r['keystroke_median_s']) + ' / ' + ms(r['keystroke_max_s']):>22} "
              f"{ms(r['server_median_s']):>12} "
              f"{ms(r.get('full_median_s')):>21} "
              f"{ms(r['burst_median_s']) + ' / ' + ms(r['burst_max_s']):>25}")
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--edits", type=int, default=30, help="keystrokes to time on each script")
    ap.add_argument("--json", help="also write the results to this file")
    args = ap.parse_args()
    rows = asyncio.run(main_async(args))
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()

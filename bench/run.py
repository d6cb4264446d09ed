"""Time klingc as a user meets it: whole processes, wall-clock, best of N runs.

    python bench/run.py [--runs 7] [--json results.json] [--no-reference]

Benchmarks:

- ``klingc check`` on a generated feature-length script (bench/gen_feature.py:
  150 scenes, about 4,500 lines) and on a one-scene script;
- for reference, the Fountain parser of screenplain (a widely used Python
  screenplay tool) on Big Fish (4,634 lines) from ``../shared/corpus``, in
  its own virtual environment ``bench/.venv`` (created on first use with
  ``pip install screenplain``). Skipped when ``../shared`` is absent or the
  package cannot be installed.

Each benchmark runs once untimed (to warm the parser-table cache and the
file system cache), then ``--runs`` times, taking turns with the others; the
table shows the best and the median wall time. klingc keeps the parse results
of unchanged files and the compiled templates (``klingscript/cache/``; here in
``bench/out/cache``). Each command is timed
three ways:

- "first run": nothing of klingc's cache (``KLINGSCRIPT_NO_CACHE=1``);
- "after an edit": a writer's loop. Before each run one line of the script
  changes (the first shot of its middle scene), so the script is parsed
  again, and ``build`` renders that scene again; the templates and the
  other scenes' build outputs come from the cache;
- "unchanged": the same script again: its parse result and build outputs
  cached.

Below the table, ``klingc build`` is compared with ``klingc check`` in each
way. More benchmarks go into ``benchmarks()``: a command line (``argv``) or a
function that returns the seconds it measured (``func``), for example a
language-server round trip.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
OUT = BENCH / "out"
SHARED = REPO.parent / "shared"
BIG_FISH = SHARED / "corpus" / "fountain" / "Big-Fish.fountain"
REF_VENV = BENCH / ".venv"

# Processes run as on a user's machine: Python caches compiled bytecode
# (an installed package ships it), even where the caller's environment
# switches that off.
ENV = {k: v for k, v in os.environ.items() if k not in ("PYTHONDONTWRITEBYTECODE", "NO_COLOR")}

sys.path.insert(0, str(BENCH))
import gen_feature  # noqa: E402


@dataclass
class Benchmark:
    name: str
    input: Optional[Path] = None         # the file it reads (for the line count)
    argv: Optional[list[str]] = None     # a whole process to time, or
    func: Optional[Callable[[], float]] = None   # a function returning measured seconds
    before: Optional[Callable[[], None]] = None  # run (untimed) before each run, e.g. an edit
    ok_codes: tuple[int, ...] = (0,)
    env: dict = field(default_factory=dict)   # extra environment variables
    reference: bool = False              # the yardstick the klingc rows are compared with
    times: list[float] = field(default_factory=list)
    skipped: Optional[str] = None

    def once(self) -> float:
        if self.before is not None:
            self.before()
        if self.func is not None:
            return self.func()
        start = time.perf_counter()
        r = subprocess.run(self.argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=REPO,
                           env={**ENV, **self.env})
        elapsed = time.perf_counter() - start
        if r.returncode not in self.ok_codes:
            raise RuntimeError(f"{self.name}: exit {r.returncode}: {r.stderr.decode(errors='replace')[-500:]}")
        return elapsed

    @property
    def lines(self) -> Optional[int]:
        if self.input is None or not self.input.exists():
            return None
        with self.input.open("rb") as f:
            return f.read().count(b"\n")


def klingc_command() -> list[str]:
    """The klingc a user of this checkout runs: .venv first, then PATH, then ``-m``."""
    for candidate in (REPO / ".venv" / "bin" / "klingc", REPO / ".venv" / "Scripts" / "klingc.exe"):
        if candidate.exists():
            return [str(candidate)]
    found = shutil.which("klingc")
    if found:
        return [found]
    return [sys.executable, "-m", "klingscript"]


def write_inputs(out: Path = OUT) -> tuple[Path, Path]:
    out.mkdir(parents=True, exist_ok=True)
    feature, one = out / "feature.kls", out / "one_scene.kls"
    for path, text in ((feature, gen_feature.generate()), (one, gen_feature.one_scene())):
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
    return feature, one


def reference_python() -> tuple[Optional[Path], Optional[str]]:
    """bench/.venv/bin/python with screenplain installed, or the reason it is unavailable."""
    if not BIG_FISH.exists():
        return None, f"{BIG_FISH} is absent"
    py = REF_VENV / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    probe = [str(py), "-c", "import screenplain.parsers.fountain"]
    if py.exists() and subprocess.run(probe, capture_output=True).returncode == 0:
        return py, None
    print(f"setting up {REF_VENV.relative_to(REPO)} with screenplain ...", file=sys.stderr)
    try:
        if not py.exists():
            subprocess.run([sys.executable, "-m", "venv", str(REF_VENV)], check=True, capture_output=True)
        subprocess.run([str(py), "-m", "pip", "install", "--quiet", "screenplain"], check=True,
                       capture_output=True, env=ENV)
    except (subprocess.CalledProcessError, OSError) as e:
        return None, f"could not install screenplain ({e})"
    return py, None


class Editor:
    """Changes one line of ``path`` (a copy of ``source``) before each run: a writer's edit
    to the first shot of the middle scene."""

    def __init__(self, source: Path, path: Path):
        self.lines = source.read_text(encoding="utf-8").split("\n")
        scenes = [i for i, line in enumerate(self.lines) if line.startswith("scene ")]
        start = scenes[len(scenes) // 2] if scenes else 0
        self.at = next((i for i in range(start, len(self.lines))
                        if self.lines[i].lstrip().startswith("Shot ")), None)
        self.path = path
        self.count = 0
        # Each bench run edits differently: an earlier run's edits are in the cache.
        self.run = time.time_ns()
        self()

    def __call__(self) -> None:
        self.count += 1
        lines = list(self.lines)
        if self.at is None:
            lines.insert(0, f"# draft {self.count} of run {self.run}")
        else:
            lines[self.at] += f" Take {self.count} of run {self.run}."
        self.path.write_text("\n".join(lines), encoding="utf-8")


MODES = (("first run", "first"), ("after an edit", "edit"), ("unchanged", "same"))


def benchmarks(no_reference: bool = False, out: Path = OUT) -> list[Benchmark]:
    klingc = klingc_command()
    feature, one = write_inputs(out)
    cache = {"XDG_CACHE_HOME": str(out / "cache")}
    env = {"first": {**cache, "KLINGSCRIPT_NO_CACHE": "1"}, "edit": cache, "same": cache}
    edited = {feature: Editor(feature, out / "feature_edited.kls"),
              one: Editor(one, out / "one_scene_edited.kls")}
    benches = []
    for command, script, what in (("check", feature, "feature script"), ("check", one, "one scene"),
                                  ("build", feature, "feature script")):
        for label, mode in MODES:
            path = edited[script].path if mode == "edit" else script
            argv = [*klingc, command, str(path)]
            if command == "build":
                argv += ["-o", str(out / "build" / mode)]
            benches.append(Benchmark(f"klingc {command}, {what}, {label}", script, argv, env=env[mode],
                                     before=edited[script] if mode == "edit" else None))
    # More go here: language-server round trips (open a document, receive its
    # diagnostics) as `func` benchmarks.
    if not no_reference:
        py, why = reference_python()
        code = ("import sys; from screenplain.parsers import fountain\n"
                "with open(sys.argv[1], encoding='utf-8') as f: fountain.parse(f)")
        ref = Benchmark("screenplain parse, Big Fish", BIG_FISH,
                        [str(py), "-c", code, str(BIG_FISH)] if py else None, reference=True)
        ref.skipped = why
        benches.append(ref)
    return benches


def build_vs_check(benches: list[Benchmark]) -> str:
    """klingc build's time over klingc check's, on the feature script, each way: best (median)."""
    times = {b.name: b.times for b in benches if b.times}
    parts = []
    for label, _ in MODES:
        b = times.get(f"klingc build, feature script, {label}")
        c = times.get(f"klingc check, feature script, {label}")
        if b and c:
            parts.append(f"{label} {min(b) / min(c):.2f}x "
                         f"({statistics.median(b) / statistics.median(c):.2f}x)")
    return "build / check, feature script, best (median): " + ", ".join(parts) if parts else ""


def run(benches: list[Benchmark], runs: int) -> None:
    active = [b for b in benches if not b.skipped]
    for b in active:
        b.once()  # warm-up
    # Round-robin, so that a busy moment on the machine hits every benchmark alike.
    for _ in range(runs):
        for b in active:
            b.times.append(b.once())


def table(benches: list[Benchmark]) -> str:
    ref = next((b for b in benches if b.reference and b.times), None)
    rows = [("benchmark", "lines", "best", "median", "vs reference, best (median)")]
    for b in benches:
        if b.skipped:
            rows.append((b.name, "", "skipped", "", b.skipped))
            continue
        best, med = min(b.times), statistics.median(b.times)
        ratio = "" if ref is None or b is ref else \
            f"{best / min(ref.times):.2f}x ({med / statistics.median(ref.times):.2f}x)"
        lines = b.lines
        rows.append((b.name, f"{lines:,}" if lines else "", f"{best * 1000:.0f} ms", f"{med * 1000:.0f} ms",
                     ratio if b is not ref else "1.00x (reference)"))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = []
    for k, r in enumerate(rows):
        cells = [c.ljust(w) if i in (0, 4) else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths))]
        lines.append("  ".join(cells).rstrip())
        if k == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description="Time klingc check (whole processes, best of N).")
    ap.add_argument("--runs", type=int, default=7, help="timed runs per benchmark (default 7)")
    ap.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    ap.add_argument("--no-reference", action="store_true", help="skip the screenplain reference")
    ap.add_argument("--out", metavar="DIR", default=str(OUT),
                    help="where the generated scripts go (default bench/out)")
    args = ap.parse_args()

    benches = benchmarks(args.no_reference, Path(args.out))
    try:
        run(benches, max(1, args.runs))
    except RuntimeError as e:  # a benchmark failed: its time would mean nothing
        print(f"bench: {e}", file=sys.stderr)
        return 1
    print(f"klingc: {' '.join(klingc_command())}   runs: {args.runs}   cpus: {os.cpu_count()}")
    print(table(benches))
    print(build_vs_check(benches))
    if args.json:
        data = [{"name": b.name, "lines": b.lines, "skipped": b.skipped, "times": b.times,
                 "best": min(b.times) if b.times else None} for b in benches]
        Path(args.json).write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

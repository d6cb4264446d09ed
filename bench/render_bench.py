"""Time ``klingc render`` against the simulator: 200 jobs, a set latency and concurrency.

    python bench/render_bench.py [--jobs 200] [--latency 2.0] [--concurrency 20]
                                 [--poll-interval 0.1] [--json results.json]

The defaults poll 20 times per task, as a render against Kling does (tasks
of a few minutes, a query every 10 seconds).

The simulator runs as its own process (``klingc simulate --clips card``: a
plain clip per duration, so the figures measure the render, not the
animatics). The render itself runs in this process, as ``klingc render``
runs it, without assembling; assembly of the 200 clips is timed separately.

Reported:

- wall time from the first request to the last clip downloaded and checked,
  against the lower bound ``jobs / concurrency * latency`` (no client can do
  better while the account runs ``concurrency`` tasks at once); target:
  within 10% of it;
- HTTP requests per job (creates, queries, downloads);
- queries per job per poll interval: all queries divided by the poll
  intervals that the jobs spent in flight (from creation to the answer that
  said they were done); target: at most 1.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path.insert(0, str(REPO))


def script(jobs: int) -> str:
    lines = ["title: Render benchmark", "model: kling-v3", "resolution: 720p", "audio: off", ""]
    for n in range(1, jobs + 1):
        lines += [f'scene "Stop {n}":', f"    Shot 1 (3s): The night bus pulls up at stop number {n}.", ""]
    return "\n".join(lines)


def start_simulator(latency: float, concurrency: int):
    exe = Path(sys.executable).with_name("klingc")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "klingscript"]
    proc = subprocess.Popen([*cmd, "simulate", "--port", "0", "--quiet", "--clips", "card",
                             "--latency", str(latency), "--concurrency", str(concurrency)],
                            stdout=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    if not line.startswith("Kling simulator listening on "):
        proc.kill()
        raise SystemExit(f"the simulator did not start: {line!r}")
    return proc, line.split()[-1]


class Timing:
    """A progress sink that notes when each job went in flight and when it was seen done."""

    def __init__(self):
        self.sent: dict[str, float] = {}
        self.finished: dict[str, float] = {}

    def start(self, *a):
        pass

    def note(self, text):
        pass

    def close(self):
        pass

    def state(self, key, label, state, detail=""):
        now = time.perf_counter()
        if state == "submitted" and key not in self.sent:
            self.sent[key] = now
        elif state in ("downloading", "failed") and key not in self.finished:
            self.finished[key] = now


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jobs", type=int, default=200)
    ap.add_argument("--latency", type=float, default=2.0)
    ap.add_argument("--concurrency", type=int, default=20)
    ap.add_argument("--poll-interval", type=float, default=0.1)
    ap.add_argument("--json", metavar="FILE")
    args = ap.parse_args()

    import httpx

    from klingscript.compiler import OUTPUTS, compile_script
    from klingscript.runtime.assemble import assemble
    from klingscript.runtime.client import Credentials
    from klingscript.runtime.render import Options, render_plan
    from klingscript.runtime.simulator import DEFAULT_ACCESS_KEY, DEFAULT_SECRET_KEY

    work = Path(tempfile.mkdtemp(prefix="klingc-render-bench-"))
    try:
        src = work / "bench.kls"
        src.write_text(script(args.jobs), encoding="utf-8")
        data = compile_script(src, emit=OUTPUTS).output.plan
        jobs = len(data["jobs"])
        proc, url = start_simulator(args.latency, args.concurrency)
        try:
            timing = Timing()
            options = Options(output=work / "out", api_base=url, concurrency=args.concurrency,
                              poll_interval=args.poll_interval, assemble=False, root=program.root)
            creds = Credentials(DEFAULT_ACCESS_KEY, DEFAULT_SECRET_KEY)
            t0, c0 = time.perf_counter(), time.process_time()
            result = asyncio.run(render_plan(data, src.parent, creds, options, timing))
            wall, cpu = time.perf_counter() - t0, time.process_time() - c0
            stats = httpx.get(url + "/_simulator/stats").json()
        finally:
            proc.terminate()
            proc.wait(timeout=10)
        sim_cpu = resource.getrusage(resource.RUSAGE_CHILDREN)
        sim_cpu = sim_cpu.ru_utime + sim_cpu.ru_stime
        clips = {o.id: work / "out" / "clips" / f"{o.id}.mp4" for o in result.done}
        t1 = time.perf_counter()
        made = assemble(data, clips, work / "out")
        assembly = time.perf_counter() - t1
    finally:
        shutil.rmtree(work, ignore_errors=True)

    bound = jobs / args.concurrency * args.latency
    req = stats["requests"]
    in_flight = sum(timing.finished[k] - timing.sent[k] for k in timing.finished if k in timing.sent)
    windows = in_flight / args.poll_interval
    figures = {
        "jobs": jobs, "done": len(result.done), "latency_s": args.latency, "concurrency": args.concurrency,
        "poll_interval_s": args.poll_interval,
        "wall_s": round(wall, 3), "lower_bound_s": round(bound, 3),
        "over_bound_pct": round((wall / bound - 1) * 100, 1),
        "requests_per_job": round(sum(v for k, v in req.items()) / jobs, 2),
        "creates_per_job": round(req.get("create", 0) / jobs, 2),
        "queries_per_job": round(req.get("query", 0) / jobs, 2),
        "downloads_per_job": round(req.get("download", 0) / jobs, 2),
        "queries_per_job_per_poll_interval": round(req.get("query", 0) / windows, 3) if windows else None,
        "max_creations_per_external_task_id": max(stats["creations"].values(), default=0),
        "render_cpu_s": round(cpu, 2), "simulator_cpu_s": round(sim_cpu, 2),
        "assembly_s": round(assembly, 3), "film": made.film is not None,
    }
    width = max(len(k) for k in figures)
    for k, v in figures.items():
        print(f"{k.ljust(width)}  {v}")
    ok = figures["done"] == jobs and figures["over_bound_pct"] <= 10 and (
        figures["queries_per_job_per_poll_interval"] or 0) <= 1.0
    print("target met" if ok else "TARGET MISSED: within 10% of the bound, at most 1 query per job per interval")
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())

"""Shared pieces of the render and simulator tests (not a test module itself)."""

from __future__ import annotations

import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "examples"

ACCESS = "test-access-key"
SECRET = "S3cr3t-Kling-Key-0123456789-abcdefXYZ"


def build_plan(path: Path, allow_outside: bool = False):
    """``(plan.json data, script folder, project folder)`` for a script, as ``klingc build`` makes it."""
    from klingscript.compiler import OUTPUTS, compile_script

    c = compile_script(path, allow_outside=allow_outside, emit=OUTPUTS)
    assert c.ok, c.diagnostics
    return c.output.plan, c.program.main.path.parent, c.program.root


def credentials():
    from klingscript.runtime.client import Credentials

    return Credentials(ACCESS, SECRET)


def token(secret: str = SECRET, iss: str = ACCESS, exp_in: float = 1800, nbf_in: float = -5) -> str:
    import jwt

    now = time.time()
    return jwt.encode({"iss": iss, "exp": int(now + exp_in), "nbf": int(now + nbf_in)}, secret,
                      algorithm="HS256")


def fast_retry(attempts: int = 8):
    """Backoff that keeps tests quick: a few milliseconds, still exponential with jitter."""
    import random

    from klingscript.runtime.client import RetryPolicy

    return RetryPolicy(attempts=attempts, base=0.002, cap=0.02, rng=random.Random(7), rate_min=0.002)


def render(plan, script_dir, root, sim, folder, **options):
    """Render ``plan`` against the simulator ``sim`` into ``folder``; returns the Result."""
    import asyncio

    from klingscript.runtime.progress import Quiet
    from klingscript.runtime.render import Options, render_plan

    opts = dict(output=Path(folder), api_base=sim.url, concurrency=4, poll_interval=0.02,
                retry=fast_retry(), root=root)
    opts.update(options)
    return asyncio.run(render_plan(plan, script_dir, credentials(), Options(**opts), Quiet()))


def text_script(scenes: int, seconds: int = 3, title: str = "Test film") -> str:
    """A script of ``scenes`` one-shot scenes, text to video only (no images needed)."""
    lines = [f"title: {title}", "model: kling-v3", "resolution: 720p", ""]
    for n in range(1, scenes + 1):
        lines += [f'scene "Scene number {n}":',
                  f"    Shot 1 ({seconds}s): A wide shot of street number {n}. A bus passes by.",
                  f'        Woman (calm): "This is scene {n}."', ""]
    return "\n".join(lines)

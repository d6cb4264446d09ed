"""Shared pieces of the render and simulator tests (not a test module itself)."""

from __future__ import annotations

import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "examples"

ACCESS = "test-access-key"
SECRET = "S3cr3t-Kling-Key-0123456789-abcdefXYZ"


def build_plan(path: Path, allow_outside: bool = False, api: str = "legacy"):
    """``(plan.json data, script folder, project folder)`` for a script, as ``klingc build --api
    API`` makes it (legacy unless asked: these tests render with the access keys)."""
    from klingscript.compiler import OUTPUTS, compile_script

    c = compile_script(path, allow_outside=allow_outside, emit=OUTPUTS, api=api)
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
    return render_with(plan, script_dir, root, sim, folder, credentials(), **options)


def text_script(scenes: int, seconds: int = 3, title: str = "Test film") -> str:
    """A script of ``scenes`` one-shot scenes, text to video only (no images needed)."""
    lines = [f"title: {title}", "model: kling-v3", "resolution: 720p", ""]
    for n in range(1, scenes + 1):
        lines += [f'scene "Scene number {n}":',
                  f"    Shot 1 ({seconds}s): A wide shot of street number {n}. A bus passes by.",
                  f'        Woman (calm): "This is scene {n}."', ""]
    return "\n".join(lines)


API_KEY = "test-api-key-0123456789-abcdefXYZ"


def api_key_credentials():
    from klingscript.runtime.client import Credentials

    return Credentials(api_key=API_KEY)


def current_plan(jobs: int, seconds: int = 3, title: str = "Current film", elements: int = 0,
                 images_dir: str = "refs") -> dict:
    """A plan.json of Kling's current generation (``api: current``), as the build will write it:
    ``jobs`` one-shot scenes of text to video, or omni video with ``elements`` elements."""
    els = []
    for k in range(elements):
        eid = f"el{k:010d}"
        els.append({"id": eid, "name": f"Hero{k}", "kind": "character", "description": "a hero",
                    "endpoint": "/v1/general/advanced-custom-elements",
                    "request": {"element_name": f"Hero{k}", "element_description": "a hero",
                                "reference_type": "image_refer",
                                "element_image_list": {"frontal_image": f"file:{images_dir}/hero_front.png",
                                                       "refer_images": [{"image_url": f"file:{images_dir}/hero_left.png"}]},
                                "tag_list": [{"tag_id": "o_102"}]}})
    out, scenes = [], []
    for n in range(1, jobs + 1):
        jid = f"cur{n:09d}"
        settings = {"duration": seconds, "resolution": "720p", "aspect_ratio": "16:9", "audio": "native"}
        if els:
            contents = [{"type": "prompt", "text": f"@Hero0 walks down street {n}."}]
            contents += [{"type": "element", "element_id": f"element:{e['name']}", "id": e["name"]} for e in els]
            endpoint, request = "/omni-video/kling-3.0-omni", {"contents": contents, "settings": settings}
        else:
            endpoint, request = "/text-to-video/kling-3.0", {"prompt": f"A wide shot of street {n}.",
                                                             "settings": settings}
        request["options"] = {"external_task_id": jid}
        out.append({"id": jid, "scene": n, "scene_title": f"Scene {n}", "part": 1, "parts": 1, "shots": [1],
                    "duration": seconds, "endpoint": endpoint, "depends_on": [e["id"] for e in els],
                    "credits": 9 * seconds, "cost": {"units": 0.9 * seconds, "usd": 0.126 * seconds},
                    "request": request})
        scenes.append({"scene": n, "title": f"Scene {n}", "jobs": 1, "duration": seconds, "credits": 9 * seconds})
    return {"klingscript": "0.1", "api": "current", "source": "current.kls", "title": title,
            "currency": "credits", "elements": els, "jobs": out, "scenes": scenes,
            "totals": {"jobs": jobs, "duration": jobs * seconds, "credits": 9 * seconds * jobs}}


def render_with(plan, script_dir, root, sim, folder, credentials, **options):
    """``render`` with the given credentials (an API key for a current plan)."""
    import asyncio

    from klingscript.runtime.progress import Quiet
    from klingscript.runtime.render import Options, render_plan

    opts = dict(output=Path(folder), api_base=sim.url, concurrency=4, poll_interval=0.02,
                retry=fast_retry(), root=root)
    opts.update(options)
    return asyncio.run(render_plan(plan, script_dir, credentials, Options(**opts), Quiet()))

"""Continuity between parts (issue 10 item 4): `continuity: chain` and `first frame: previous`
in the plan, and through the simulator: each later part sent with the last frame of the
picked take before it, stale parts after a new pick, --retake from the current pick, and a
crash (and kill -9) during a chained render that does not pay twice."""

from __future__ import annotations

import base64
import signal
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from conftest import klingc_command  # noqa: E402
from runtime_support import (ACCESS, API_KEY, SECRET, api_key_credentials, build_plan, render,  # noqa: E402
                             render_with, token)

from klingscript.runtime import chain, ledger as L  # noqa: E402
from klingscript.runtime.simulator import Simulator  # noqa: E402
from klingscript.runtime.takes import chosen, pick  # noqa: E402

SCRIPT = """title: Chained
model: kling-v3
continuity: chain

scene "Street":
    Shot 1 (5s): A wide shot of a street. A bus passes by.
    Shot 2 (5s): A woman waits at the stop.
    Shot 3 (5s): She checks her watch.
    Shot 4 (4s): The bus arrives.

scene "Bus":
    first frame: previous
    Shot 1 (4s): Inside the bus, she sits down.
"""


def simulator(**kw):
    kw.setdefault("latency", 0.05)
    kw.setdefault("concurrency", 8)
    kw.setdefault("seed", 5)
    return Simulator(access_key=ACCESS, secret_key=SECRET, **kw)


def project(tmp_path, text=SCRIPT, api="legacy"):
    path = tmp_path / "film.kls"
    path.write_text(text, encoding="utf-8")
    return (path, *build_plan(path, api=api))


def sent(sim, ext):
    """The body the simulator received for the task of external id ``ext``."""
    (task,) = [t for t in sim._tasks.values() if t.external_task_id == ext]
    return task.body


def frame_of(folder, take):
    """The frame a take's last frame gives (as the render extracts it)."""
    return folder / "frames" / f"{take.sha256[:16]}.jpg"


def test_the_plan_chains_later_parts_and_the_scene_after(tmp_path):
    _, plan, _, _ = project(tmp_path)
    (p1, p2, s2) = plan["jobs"]
    assert (p1["scene"], p1["part"], p2["part"], s2["scene"]) == (1, 1, 2, 2)
    assert "image" not in p1["request"] and p1["endpoint"].endswith("text2video")
    # Part 2 starts from part 1's last frame; scene 2 from the last part of scene 1.
    assert p2["endpoint"].endswith("image2video") and p2["request"]["image"] == "previous:1.1"
    assert s2["endpoint"].endswith("image2video") and s2["request"]["image"] == "previous:1"
    assert chain.placeholders(s2["request"]) == ["previous:1"]
    assert chain.source(plan["jobs"], "previous:1")["id"] == p2["id"]
    assert chain.source(plan["jobs"], "previous:1.1")["id"] == p1["id"]
    # The current generation: contents[] first_frame.
    _, cur, _, _ = project(tmp_path, api="current")
    assert {"type": "first_frame", "url": "previous:1.1"} in cur["jobs"][1]["request"]["contents"]


def test_a_part_that_fits_otherwise_is_split_so_its_frame_is_valid(tmp_path):
    """Kling 3.0 takes no first frame with structured multi-shot: chained, the later part is a
    single shot (or text multi-shot) where a split allows it."""
    _, plan, _, _ = project(tmp_path, SCRIPT.replace("Shot 4 (4s)", "Shot 4 (4s)").replace(
        '\nscene "Bus"', '    Shot 5 (4s): She steps on.\n\nscene "Bus"'))
    later = [j for j in plan["jobs"] if j["scene"] == 1 and j["part"] > 1]
    assert later and all(len(j["shots"]) == 1 for j in later)


def test_chained_render_sends_the_last_frame_of_the_take_before(tmp_path):
    _, plan, d, root = project(tmp_path)
    p1, p2, s2 = plan["jobs"]
    out = tmp_path / "out"
    with simulator() as sim:
        r = render(plan, d, root, sim, out)
        assert r.code == 0, [(o.label, o.message) for o in r.failed]
        with L.Ledger.open_readonly(out) as led:
            t1, t2, t3 = (chosen(led, out, j["id"]) for j in (p1, p2, s2))
        for job, before, mine in ((p2, t1, t2), (s2, t2, t3)):
            frame = frame_of(out, before)
            assert frame.is_file()
            assert base64.b64decode(sent(sim, job["id"])["image"]) == frame.read_bytes()
            assert mine.first_frame == f"frames/{frame.name}"
        assert t1.first_frame is None
        # The render waited: part 1 was created before part 2, part 2 before scene 2.
        order = [t.external_task_id for t in sorted(sim._tasks.values(), key=lambda t: int(t.task_id))]
        assert order == [p1["id"], p2["id"], s2["id"]]
        assert sum(sim.creations.values()) == 3


def test_current_generation_sends_contents_first_frame(tmp_path):
    _, plan, d, root = project(tmp_path, api="current")
    p1, p2, _ = plan["jobs"]
    out = tmp_path / "out"
    with simulator(api_key=API_KEY) as sim:
        r = render_with(plan, d, root, sim, out, api_key_credentials())
        assert r.code == 0, [(o.label, o.message) for o in r.failed]
        with L.Ledger.open_readonly(out) as led:
            t1 = chosen(led, out, p1["id"])
        (first,) = [c for c in sent(sim, p2["id"])["contents"] if c["type"] == "first_frame"]
        assert base64.b64decode(first["url"]) == frame_of(out, t1).read_bytes()


def test_a_new_pick_makes_the_part_after_stale_and_retake_renders_it_from_the_pick(tmp_path, capsys):
    from klingscript.cli import main

    path, plan, d, root = project(tmp_path)
    p1, p2, s2 = plan["jobs"]
    out = tmp_path / "out"
    with simulator() as sim:
        assert render(plan, d, root, sim, out).code == 0
        assert render(plan, d, root, sim, out, retake=("1.1",)).code == 0     # part 1 take 2
        with L.Ledger.open_readonly(out) as led:
            entries = led.entries()
            by = {e.id: e for e in entries}
            part2 = chosen(led, out, p2["id"])
            # Part 2 started from take 1; part 1's latest (used) take is now take 2: stale.
            assert chain.stale(led, out, entries, by[p2["id"]], part2).id == p1["id"]
            assert chain.stale(led, out, entries, by[s2["id"]], chosen(led, out, s2["id"])) is None
        capsys.readouterr()
        assert main(["status", str(out)]) == 0
        status = capsys.readouterr().out
        assert "stale" in status and status.count("stale") == 1
        pick(out, "1.1", 1)                      # back to take 1: part 2 is current again
        with L.Ledger.open_readonly(out) as led:
            entries = led.entries()
            assert chain.stale(led, out, entries, {e.id: e for e in entries}[p2["id"]],
                               chosen(led, out, p2["id"])) is None
        pick(out, "1.1", 2)
        r = render(plan, d, root, sim, out, retake=("1.2",))
        assert r.code == 0 and r.asked["takes"] == 1
        with L.Ledger.open_readonly(out) as led:
            t1 = chosen(led, out, p1["id"])
            new = chosen(led, out, p2["id"])
            entries = led.entries()
            assert t1.take == 2 and new.take == 2
            assert new.first_frame == f"frames/{frame_of(out, t1).name}"
            assert chain.stale(led, out, entries, {e.id: e for e in entries}[p2["id"]], new) is None
        assert base64.b64decode(sent(sim, f"{p2['id']}-t2")["image"]) == frame_of(out, t1).read_bytes()
        # Scene 2 started from part 2's take 1: now that part 2 has take 2, it is the stale one.
        capsys.readouterr()
        assert main(["status", str(out)]) == 0
        status = capsys.readouterr().out
        assert status.count("stale") == 1 and "scene 2" in [l for l in status.splitlines() if "stale" in l][0]


def test_a_part_whose_previous_part_failed_is_not_sent(tmp_path):
    _, plan, d, root = project(tmp_path)
    p1, p2, s2 = plan["jobs"]
    with simulator(concurrency=1) as sim:
        sim.fail_next(1, "the model could not follow the prompt (test)")
        r = render(plan, d, root, sim, tmp_path / "out")
        assert r.code == 3
        why = {o.id: o.message for o in r.failed}
        assert set(why) == {p1["id"], p2["id"], s2["id"]}
        assert "has no take" in why[p2["id"]] and "scene 1 part 1/2" in why[p2["id"]]
        assert set(sim.creations) == {p1["id"]}              # nothing chained was paid for
        again = render(plan, d, root, sim, tmp_path / "out")
        assert again.code == 0, [(o.label, o.message) for o in again.failed]
        assert sim.creations[p2["id"]] == 1 and sim.creations[s2["id"]] == 1


def test_a_crash_after_a_chained_part_was_sent_resumes_without_paying_twice(tmp_path):
    import httpx

    from klingscript.runtime.render import Images, materialize

    _, plan, d, root = project(tmp_path)
    p1, p2, s2 = plan["jobs"]
    out = tmp_path / "out"
    with simulator() as sim:
        assert render(dict(plan, jobs=[p1]), d, root, sim, out).code == 0
        # The crash: part 2's frame extracted and recorded, its intent recorded, its request sent.
        with L.Ledger.open(out) as led:
            led.sync_plan(plan)
            frames, rel = chain.frames_for(led, out, plan["jobs"], p2)
            e = led.intend(p2["id"])
            led.update(p2["id"], first_frame=rel)
        body = materialize(p2["request"], e.external_task_id, Images(d, root, False), {}, frames=frames)
        assert httpx.post(sim.url + p2["endpoint"], json=body,
                          headers={"Authorization": f"Bearer {token()}"}).status_code == 200
        r = render(plan, d, root, sim, out)
        assert r.code == 0, [(o.label, o.message) for o in r.failed]
        assert sim.creations == {p1["id"]: 1, p2["id"]: 1, s2["id"]: 1}
        assert sim.duplicates.get(p2["id"], 0) == 0
        with L.Ledger.open_readonly(out) as led:
            assert chosen(led, out, p2["id"]).first_frame == rel
            assert len(led.takes(p2["id"])) == 1


def test_killed_during_a_chained_render_then_resumed(tmp_path):
    import random

    path, plan, _, _ = project(tmp_path)
    out = tmp_path / "out"
    rng = random.Random(11)
    env = {k: v for k, v in __import__("os").environ.items() if not k.startswith("KLING")}
    env.update(KLING_ACCESS_KEY=ACCESS, KLING_SECRET_KEY=SECRET, NO_COLOR="1")
    with simulator(latency=0.2, concurrency=3) as sim:
        args = [*klingc_command(), "render", str(path), "--api", "legacy", "-o", str(out), "--api-base",
                sim.url, "--concurrency", "3", "--poll-interval", "0.05", "--progress", "plain"]
        kills = 0
        for _ in range(4):
            seen = sim.stats()["total_requests"]
            proc = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            sim.wait_for_requests(seen + rng.randint(1, 8), timeout=20)
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                kills += 1
            proc.wait(timeout=20)
            assert max(sim.creations.values(), default=0) <= 1
        final = subprocess.run(args, env=env, capture_output=True, text=True, timeout=120)
        assert final.returncode == 0, final.stdout + final.stderr
        assert kills >= 2
        assert sim.creations == {j["id"]: 1 for j in plan["jobs"]}
    with L.Ledger.open_readonly(out) as led:
        p2 = chosen(led, out, plan["jobs"][1]["id"])
        assert p2.first_frame == f"frames/{chosen(led, out, plan['jobs'][0]['id']).sha256[:16]}.jpg"


def test_review_shows_the_chained_frame_and_a_stale_part(tmp_path):
    from klingscript.cli import main

    path, plan, d, root = project(tmp_path, api="current")   # as `klingc review FILE` builds it
    out = tmp_path / "out"
    with simulator(api_key=API_KEY) as sim:
        assert render_with(plan, d, root, sim, out, api_key_credentials()).code == 0
        assert main(["review", str(path), "-o", str(out)]) == 0
        page = (out / "review.html").read_text(encoding="utf-8")
        assert "first frame: the last frame of scene 1 part 1/2" in page and "stale:" not in page
        assert render_with(plan, d, root, sim, out, api_key_credentials(), retake=("1.1",)).code == 0
        assert main(["review", str(path), "-o", str(out)]) == 0
        page = (out / "review.html").read_text(encoding="utf-8")
        assert page.count("stale: it starts from a take of scene 1 part 1/2") == 1
        assert "--retake 1.2" in page

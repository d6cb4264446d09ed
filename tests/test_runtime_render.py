"""klingc render against the in-process simulator: whole films, faults, crashes, budgets, secrets."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from conftest import klingc_command  # noqa: E402
from runtime_support import (ACCESS, EXAMPLES, SECRET, build_plan, fast_retry,  # noqa: E402
                             render, text_script)

from klingscript.runtime import ledger as L  # noqa: E402
from klingscript.runtime.assemble import probe  # noqa: E402
from klingscript.runtime.render import BudgetExceeded, Limiter, poll_delay  # noqa: E402
from klingscript.runtime.simulator import Simulator  # noqa: E402

EXAMPLE_FILES = sorted(EXAMPLES.glob("*.kls")) + sorted((EXAMPLES / "series").glob("episode*.kls"))


def simulator(**kw):
    kw.setdefault("latency", 0.08)
    kw.setdefault("concurrency", 8)
    kw.setdefault("seed", 11)
    return Simulator(access_key=ACCESS, secret_key=SECRET, **kw)


def assert_film_matches_plan(result, plan):
    assert result.film is not None and result.film.exists()
    info = probe(result.film)
    total = plan["totals"]["duration"]
    # AAC starts with one frame of encoder delay: the film may run that much (< 0.1 s) longer.
    assert total - 0.01 <= info.duration <= total + 0.1
    import av

    with av.open(str(result.film)) as c:
        v = c.streams.video[0]
        assert abs(float(v.duration * v.time_base) - total) < 0.01


def script(tmp_path, scenes=3, seconds=3, name="film.kls"):
    path = tmp_path / name
    path.write_text(text_script(scenes, seconds), encoding="utf-8")
    return path


# Random faults: a request gives up only after this many in a row. At a 30% fault rate, 8 tries
# (the default) fail one request in ~15,000, often enough across a suite run to make a test flaky.
PATIENT = 20


def failures(result):
    return [(o.label, o.message) for o in result.failed], result.message


def max_creations(sim):
    """The most tasks created for one external_task_id; a create repeating one counts as a second."""
    most = max(sim.creations.values(), default=0)
    return most + (1 if sim.duplicates else 0)


# -- whole films -------------------------------------------------------------------------------

def test_render_every_example(tmp_path):
    assert EXAMPLE_FILES, "examples/ is empty"
    element_ids = set()
    with simulator() as sim:
        for path in EXAMPLE_FILES:
            plan, script_dir, root = build_plan(path)
            element_ids |= {e["id"] for e in plan["elements"]}
            folder = tmp_path / path.stem
            result = render(plan, script_dir, root, sim, folder)
            assert result.code == 0, (path.name, [(o.label, o.message) for o in result.failed], result.message)
            assert len(result.done) == len(plan["jobs"])
            assert_film_matches_plan(result, plan)
            scenes = sorted(p.name for p in (folder / "scenes").glob("*.mp4"))
            assert len(scenes) == len({j["scene"] for j in plan["jobs"]})
            assert all(name[:2].isdigit() and name[2] == "-" for name in scenes)
            for job in plan["jobs"]:
                assert abs(probe(folder / "clips" / f"{job['id']}.mp4").duration - job["duration"]) < 0.1
        assert max_creations(sim) == 1
        # Every element was created once, and only elements with images were.
        assert element_ids and all(sim.creations[k] == 1 for k in element_ids)


def test_second_run_does_nothing_and_edits_rerender_only_what_changed(tmp_path):
    path = script(tmp_path, scenes=3)
    with simulator() as sim:
        plan, d, root = build_plan(path)
        assert render(plan, d, root, sim, tmp_path / "out").code == 0
        before = dict(sim.creations)
        again = render(plan, d, root, sim, tmp_path / "out")
        assert again.code == 0 and sim.creations == before and again.spent_now == 0
        assert sim.stats()["requests"].get("create", 0) == len(plan["jobs"])
        # Edit scene 2 only.
        path.write_text(path.read_text().replace("street number 2", "avenue number 2"), encoding="utf-8")
        edited, d, root = build_plan(path)
        changed = {j["id"] for j in edited["jobs"]} - {j["id"] for j in plan["jobs"]}
        assert len(changed) == 1
        result = render(edited, d, root, sim, tmp_path / "out")
        assert result.code == 0
        assert set(sim.creations) - set(before) == changed
        assert result.spent_now == sum(j["credits"] for j in edited["jobs"] if j["id"] in changed)
        assert_film_matches_plan(result, edited)


# -- faults ----------------------------------------------------------------------------------------

def test_a_429_storm_is_ridden_out(tmp_path):
    path = script(tmp_path, scenes=6)
    plan, d, root = build_plan(path)
    with simulator(concurrency=2, throttle_rate=0.3) as sim:
        sim.inject("429", count=6, path="/v1/videos")
        result = render(plan, d, root, sim, tmp_path / "out", concurrency=6, retry=fast_retry(PATIENT))
        stats = sim.stats()["requests"]
    assert result.code == 0, failures(result)
    assert stats.get("http-429", 0) >= 6                # 1302s and, with 6 asked for and 2 allowed, 1303s
    assert max_creations(sim) == 1
    assert_film_matches_plan(result, plan)


def test_server_errors_are_retried(tmp_path):
    path = script(tmp_path, scenes=4)
    plan, d, root = build_plan(path)
    with simulator(error_rate=0.25) as sim:
        for where in ("/v1/videos", "/results"):
            sim.inject("500", count=2, path=where)
            sim.inject("503", count=1, path=where)
        result = render(plan, d, root, sim, tmp_path / "out", retry=fast_retry(PATIENT))
        stats = sim.stats()["requests"]
    assert result.code == 0, [(o.label, o.message) for o in result.failed]
    assert stats.get("http-500", 0) + stats.get("http-502", 0) + stats.get("http-503", 0) >= 3
    assert max_creations(sim) == 1
    assert_film_matches_plan(result, plan)


def test_dropped_connections_never_create_twice(tmp_path):
    path = script(tmp_path, scenes=5)
    plan, d, root = build_plan(path)
    with simulator(drop_rate=0.25, seed=5) as sim:
        sim.inject("drop-after", count=2, path="/v1/videos")   # created, answer lost
        sim.inject("drop", count=2, path="/results")           # half a clip, then nothing
        result = render(plan, d, root, sim, tmp_path / "out", retry=fast_retry(PATIENT))
    assert result.code == 0, [(o.label, o.message) for o in result.failed]
    assert len(sim.creations) == len(plan["jobs"])
    assert max_creations(sim) == 1
    assert_film_matches_plan(result, plan)
    assert not list((tmp_path / "out" / "clips").glob(".*.part"))


def test_failed_tasks_leave_the_others_going_and_are_sent_again_next_time(tmp_path):
    path = script(tmp_path, scenes=3)
    plan, d, root = build_plan(path)
    first = plan["jobs"][0]["id"]
    with simulator(concurrency=1) as sim:
        sim.fail_next(1, "the model could not follow the prompt (test)")
        # One task at a time, so the first job is the first task the simulator creates.
        result = render(plan, d, root, sim, tmp_path / "out", concurrency=1)
        assert result.code == 3
        assert [o.id for o in result.failed] == [first]
        assert result.failed[0].message == "the model could not follow the prompt (test)"
        assert len(result.done) == 2 and result.film is None
        with L.Ledger.open(tmp_path / "out") as led:
            assert led.get(first).state == "failed"
        again = render(plan, d, root, sim, tmp_path / "out")
        assert again.code == 0
        assert sim.creations[first] == 1 and sim.creations[f"{first}-t2"] == 1   # take 2
        assert max_creations(sim) == 1
        assert_film_matches_plan(again, plan)


def test_rejected_request_fails_its_job_with_klings_message(tmp_path):
    path = script(tmp_path, scenes=2)
    plan, d, root = build_plan(path)
    plan["jobs"][1]["request"]["duration"] = "99"            # a request Kling refuses
    with simulator() as sim:
        result = render(plan, d, root, sim, tmp_path / "out")
    assert result.code == 3
    (bad,) = result.failed
    assert bad.id == plan["jobs"][1]["id"] and bad.state == "rejected"
    assert "duration" in bad.message and "1201" in bad.message
    assert sim.stats()["requests"]["rejected"] == 1          # never retried


def test_wrong_keys_stop_the_render(tmp_path):
    path = script(tmp_path, scenes=3)
    plan, d, root = build_plan(path)
    with Simulator(latency=0.05, access_key=ACCESS, secret_key="another-secret-another-secret-xx") as sim:
        result = render(plan, d, root, sim, tmp_path / "out")
    assert result.code == 3
    assert "check KLING_ACCESS_KEY / KLING_SECRET_KEY" in result.message
    assert sim.creations == {}


# -- crashes -----------------------------------------------------------------------------------------

def cli_env(**extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith("KLING")}
    env.update(KLING_ACCESS_KEY=ACCESS, KLING_SECRET_KEY=SECRET, NO_COLOR="1")
    env.update(extra)
    return env


def test_killed_at_random_moments_then_resumed(tmp_path):
    path = script(tmp_path, scenes=6)
    plan, _, _ = build_plan(path)
    out = tmp_path / "out"
    rng = random.Random(2024)
    with simulator(latency=0.25, concurrency=3) as sim:
        args = [*klingc_command(), "render", str(path), "--api", "legacy", "-o", str(out), "--api-base", sim.url,
                "--concurrency", "3", "--poll-interval", "0.05", "--progress", "plain"]
        kills = 0
        for _ in range(6):
            seen = sim.stats()["total_requests"]
            proc = subprocess.Popen(args, env=cli_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            # Kill after a random number of the render's requests (0: while it starts up).
            sim.wait_for_requests(seen + rng.randint(0, 14), timeout=20)
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                kills += 1
            proc.wait(timeout=20)
            assert max_creations(sim) <= 1
        final = subprocess.run(args, env=cli_env(), capture_output=True, text=True, timeout=60)
        assert final.returncode == 0, final.stdout + final.stderr
        assert kills >= 3
        assert max_creations(sim) == 1
        assert set(sim.creations) == {j["id"] for j in plan["jobs"]}
    assert "film: " in final.stdout
    assert abs(probe(out / "film.mp4").duration - plan["totals"]["duration"]) < 0.1
    with L.Ledger.open(out) as led:
        assert all(e.state == "done" for e in led.entries())


def test_resume_finds_a_task_created_just_before_a_crash(tmp_path):
    path = script(tmp_path, scenes=1)
    plan, d, root = build_plan(path)
    job = plan["jobs"][0]
    out = tmp_path / "out"
    with simulator() as sim:
        # The crash: the intent was recorded and the request sent, the answer never recorded.
        out.mkdir()
        with L.Ledger.open(out) as led:
            led.sync_plan(plan)
            led.intend(job["id"])
        from klingscript.runtime.render import Images, materialize
        import httpx
        from runtime_support import token

        body = materialize(job["request"], job["id"], Images(d, root, False), {})
        r = httpx.post(sim.url + job["endpoint"], json=body, headers={"Authorization": f"Bearer {token()}"})
        assert r.status_code == 200
        result = render(plan, d, root, sim, out)
    assert result.code == 0
    assert sim.creations == {job["id"]: 1}
    assert result.spent_now == 0          # it was paid for by the run that crashed


# -- budget -----------------------------------------------------------------------------------------------

def test_budget_cap_spends_nothing(tmp_path):
    path = script(tmp_path, scenes=3)
    plan, d, root = build_plan(path)
    total = plan["totals"]["credits"]
    with simulator() as sim:
        with pytest.raises(BudgetExceeded) as e:
            render(plan, d, root, sim, tmp_path / "out", max_credits=total - 1)
        assert sim.stats()["total_requests"] == 0
        assert f"would spend {total} credits" in str(e.value)
        # Allowed when it fits; a later run counts only what is still to spend.
        assert render(plan, d, root, sim, tmp_path / "out", max_credits=total).code == 0
        assert render(plan, d, root, sim, tmp_path / "out", max_credits=0).code == 0


def test_budget_cap_from_the_command_line(tmp_path):
    path = script(tmp_path, scenes=2)
    with simulator() as sim:
        proc = subprocess.run([*klingc_command(), "render", str(path), "--api", "legacy", "-o", str(tmp_path / "out"),
                               "--api-base", sim.url, "--max-credits", "10"],
                              env=cli_env(), capture_output=True, text=True, timeout=60)
        assert proc.returncode == 1
        assert "over --max-credits 10; nothing was sent" in proc.stderr
        assert sim.stats()["total_requests"] == 0


# -- secrets --------------------------------------------------------------------------------------------------

def test_the_secret_key_appears_in_no_file_and_no_output(tmp_path):
    path = script(tmp_path, scenes=2)
    out = tmp_path / "out"
    with simulator(error_rate=0.2) as sim:
        ok = subprocess.run([*klingc_command(), "render", str(path), "--api", "legacy", "-o", str(out), "--api-base", sim.url,
                             "--poll-interval", "0.05"], env=cli_env(), capture_output=True, timeout=60)
        # Wrong keys too: the error message must not carry them either.
        bad = subprocess.run([*klingc_command(), "render", str(path), "--api", "legacy", "-o", str(tmp_path / "out2"),
                              "--api-base", sim.url, "--poll-interval", "0.05"],
                             env=cli_env(KLING_SECRET_KEY=SECRET[::-1]), capture_output=True, timeout=60)
        status = subprocess.run([*klingc_command(), "status", str(out)], env=cli_env(), capture_output=True,
                                timeout=60)
    assert ok.returncode == 0, ok.stderr.decode()
    assert bad.returncode == 3 and b"check KLING_ACCESS_KEY / KLING_SECRET_KEY" in bad.stdout + bad.stderr
    secrets = (SECRET.encode(), SECRET[::-1].encode())
    for proc in (ok, bad, status):
        for s in secrets:
            assert s not in proc.stdout and s not in proc.stderr
    files = [p for folder in (out, tmp_path / "out2") for p in folder.rglob("*") if p.is_file()]
    assert any(p.name == L.FILENAME for p in files) and any(p.suffix == ".mp4" for p in files)
    for p in files:
        data = p.read_bytes()
        for s in secrets:
            assert s not in data, p


def test_missing_credentials_exit_2(tmp_path):
    """A legacy plan takes either credential: the message names both (a current one: KLING_API_KEY)."""
    path = script(tmp_path, scenes=1)
    env = {k: v for k, v in os.environ.items() if not k.startswith("KLING")}
    proc = subprocess.run([*klingc_command(), "render", str(path), "--api", "legacy", "-o", str(tmp_path / "o")], env=env,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert "no Kling credentials are set" in proc.stderr
    assert "KLING_API_KEY" in proc.stderr and "KLING_ACCESS_KEY and KLING_SECRET_KEY" in proc.stderr


def test_render_refuses_a_folder_that_is_not_a_render(tmp_path):
    path = script(tmp_path, scenes=1)
    other = tmp_path / "mine"
    other.mkdir()
    (other / "notes.txt").write_text("keep me")
    proc = subprocess.run([*klingc_command(), "render", str(path), "-o", str(other), "--simulate"],
                          env=cli_env(), capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "not a klingc render folder" in proc.stderr
    assert (other / "notes.txt").read_text() == "keep me"


def test_simulate_flag_and_status_table(tmp_path):
    out = tmp_path / "out"
    proc = subprocess.run([*klingc_command(), "render", str(EXAMPLES / "sitcom_coffee_shop.kls"), "-o", str(out),
                           "--simulate", "--latency", "0.1", "--poll-interval", "0.05"],
                          env=cli_env(), capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert f"film: {out / 'film.mp4'}" in proc.stdout
    status = subprocess.run([*klingc_command(), "status", str(out)], env=cli_env(), capture_output=True, text=True,
                            timeout=60)
    assert status.returncode == 0
    assert "scene 1 part 1/2" in status.stdout and "done" in status.stdout
    assert "2 of 2 jobs done (25s)" in status.stdout
    missing = subprocess.run([*klingc_command(), "status", str(tmp_path)], env=cli_env(), capture_output=True,
                             text=True, timeout=60)
    assert missing.returncode == 2 and "not a klingc render folder" in missing.stderr


# -- scheduling -----------------------------------------------------------------------------------------------

def test_polls_at_most_once_per_interval(tmp_path):
    path = script(tmp_path, scenes=4)
    plan, d, root = build_plan(path)
    latency, interval = 0.3, 0.05
    with simulator(latency=latency, concurrency=4) as sim:
        result = render(plan, d, root, sim, tmp_path / "out", poll_interval=interval)
        queries = sim.stats()["requests"]["query"]
    assert result.code == 0
    # A task runs `latency` seconds; it can be queried at most once per interval (+1 for the last).
    assert queries <= len(plan["jobs"]) * (latency / interval + 2)


def test_limiter_grants_in_script_order_and_adapts():
    async def main():
        lim = Limiter(2)
        order = []
        await lim.acquire(0)
        await lim.acquire(1)

        async def want(n):
            await lim.acquire(n)
            order.append(n)

        tasks = [asyncio.ensure_future(want(n)) for n in (5, 3, 4)]
        await asyncio.sleep(0)
        lim.release()
        lim.release()
        await asyncio.sleep(0)
        lim.release()
        await asyncio.gather(*tasks)
        assert order == [3, 4, 5]
        lim.lower()                               # in use 2 -> limit 1
        assert lim.limit == 1
        lim.release()
        lim.release()
        assert lim.limit == 2                     # a task finished without a 1303: room for one more
    asyncio.run(main())


def test_poll_delay_backs_off_for_long_tasks():
    assert poll_delay(10, 0, 0, 60) == 10
    assert poll_delay(10, 20, 30, 60) == 10
    grown = [poll_delay(10, n, 300, 60) for n in range(12, 30)]
    assert grown == sorted(grown) and grown[0] > 10 and grown[-1] == 30


def test_a_task_the_api_no_longer_knows_is_sent_again(tmp_path):
    path = script(tmp_path, scenes=2)
    plan, d, root = build_plan(path)
    out = tmp_path / "out"
    out.mkdir()
    with L.Ledger.open(out) as led:
        led.sync_plan(plan)
        for job in plan["jobs"]:
            led.intend(job["id"])
            led.update(job["id"], state="processing", task_id="4040404")    # e.g. a restarted simulator
    with simulator() as sim:
        result = render(plan, d, root, sim, out)
    assert result.code == 0
    assert sim.creations == {j["id"]: 1 for j in plan["jobs"]}


def test_a_folder_rendered_with_another_service_is_refused(tmp_path):
    from klingscript.runtime.render import ServiceChanged

    path = script(tmp_path, scenes=1)
    plan, d, root = build_plan(path)
    with simulator() as sim:
        assert render(plan, d, root, sim, tmp_path / "out", service="simulator").code == 0
        with pytest.raises(ServiceChanged) as e:
            render(plan, d, root, sim, tmp_path / "out", service="https://api-singapore.klingai.com")
        assert "made with the simulator (--simulate)" in str(e.value)
        assert sim.stats()["requests"]["create"] == 1

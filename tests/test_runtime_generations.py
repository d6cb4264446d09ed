"""The render on Kling's two generations: credentials, batched polling, elements and voices that
Kling forgot, account errors, billing, budgets, callbacks."""

from __future__ import annotations

import asyncio
import json
import shutil
import sys
from pathlib import Path

import httpx
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from runtime_support import (ACCESS, API_KEY, EXAMPLES, SECRET, api_key_credentials, build_plan,  # noqa: E402
                             credentials, current_plan, fast_retry, render, render_with)

from klingscript.runtime import client as C  # noqa: E402
from klingscript.runtime import ledger as L  # noqa: E402
from klingscript.runtime.costs import Budget, BudgetError, BudgetUnknown, parse_budget  # noqa: E402
from klingscript.runtime.render import BudgetExceeded  # noqa: E402
from klingscript.runtime.simulator import Simulator  # noqa: E402


def simulator(**kw):
    kw.setdefault("latency", 0.08)
    kw.setdefault("concurrency", 8)
    kw.setdefault("seed", 5)
    kw.setdefault("clips", "card")
    return Simulator(access_key=ACCESS, secret_key=SECRET, api_key=API_KEY, **kw)


def spy_bodies(sim) -> list:
    """Every (endpoint, body) the simulator is asked to create, as it arrives."""
    bodies: list = []
    original = sim._check_body

    def spy(endpoint, body):
        bodies.append((endpoint, body))
        return original(endpoint, body)

    sim._check_body = spy
    return bodies


def project(tmp_path) -> Path:
    """A project folder with the example reference images (for elements)."""
    shutil.copytree(EXAMPLES / "refs", tmp_path / "refs")
    return tmp_path


# -- credentials ---------------------------------------------------------------------------------

def test_an_api_key_serves_both_generations_access_keys_only_legacy():
    key = C.Credentials.from_env({"KLING_API_KEY": API_KEY}, generation="current")
    assert key.api_key == API_KEY and key.serves("current") and key.serves("legacy")
    assert API_KEY not in repr(key) and key.redact(f"a {API_KEY} b") == "a <redacted> b"
    keys = C.Credentials.from_env({"KLING_ACCESS_KEY": ACCESS, "KLING_SECRET_KEY": SECRET}, generation="legacy")
    assert keys.serves("legacy") and not keys.serves("current")
    with pytest.raises(C.MissingCredentials) as e:
        C.Credentials.from_env({"KLING_ACCESS_KEY": ACCESS, "KLING_SECRET_KEY": SECRET}, generation="current")
    assert "KLING_API_KEY" in str(e.value) and "legacy" in str(e.value)
    with pytest.raises(C.MissingCredentials) as e:
        C.Credentials.from_env({}, generation="legacy")
    assert all(v in str(e.value) for v in ("KLING_API_KEY", "KLING_ACCESS_KEY", "KLING_SECRET_KEY"))


def test_a_current_plan_without_an_api_key_sends_nothing(tmp_path):
    with simulator() as sim:
        with pytest.raises(C.MissingCredentials) as e:
            render_with(current_plan(2), tmp_path, tmp_path, sim, tmp_path / "out", credentials())
        assert "KLING_API_KEY" in str(e.value)
        assert sim.total_requests == 0
    assert not (tmp_path / "out").exists()


def test_the_api_key_is_sent_as_the_bearer_value_on_both_generations():
    seen = []

    def answer(request):
        seen.append((request.url.path, request.headers["Authorization"]))
        if request.url.path.startswith("/v1/"):
            data = {"task_id": "t1", "task_status": "submitted", "task_info": {"external_task_id": "e"}}
        else:
            data = {"id": "t2", "status": "submitted", "external_id": "e"}
        return httpx.Response(200, json={"code": 0, "message": "ok", "data": data})

    async def main():
        async with C.KlingClient("https://k.test", api_key_credentials(),
                                 transport=httpx.MockTransport(answer)) as api:
            await api.create("/v1/videos/text2video", {"prompt": "x", "external_task_id": "e"})
            t = await api.create("/text-to-video/kling-3.0", {"prompt": "x", "options": {"external_task_id": "e"}})
            return t

    t = asyncio.run(main())
    assert t.task_id == "t2" and t.status == "submitted"
    assert seen == [("/v1/videos/text2video", f"Bearer {API_KEY}"), ("/text-to-video/kling-3.0", f"Bearer {API_KEY}")]


# -- errors as documented -------------------------------------------------------------------------

@pytest.mark.parametrize("code, words", [(1100, "abnormal account status"), (1101, "recharge"),
                                         (1102, "resource pack"), (1103, "permission")])
def test_account_errors_stop_at_once_and_are_not_retried(code, words):
    calls = []

    def answer(request):
        calls.append(request)
        status = 403 if code == 1103 else 429
        return httpx.Response(status, json={"code": code, "message": "account problem", "request_id": "r"})

    async def main():
        async with C.KlingClient("https://k.test", credentials(), retry=fast_retry(),
                                 transport=httpx.MockTransport(answer)) as api:
            await api.create("/v1/videos/text2video", {"prompt": "x", "external_task_id": "e"})

    with pytest.raises(C.AccountError) as e:
        asyncio.run(main())
    assert isinstance(e.value, C.Stop) and e.value.code == code
    assert words in str(e.value) and "rate" not in str(e.value).lower()
    assert len(calls) == 1


def test_rate_limits_wait_a_second_or_more_exponentially_with_jitter():
    import random

    policy = C.RetryPolicy(rng=random.Random(3))
    waits = [policy.rate_delay(n) for n in range(5)]
    assert waits[0] >= 1.0
    for n, w in enumerate(waits):
        assert 2 ** n <= w <= 1.5 * 2 ** n
    assert len({round(w / 2 ** n, 6) for n, w in enumerate(waits)}) > 1      # jittered


def test_a_render_stops_on_an_account_error_and_sends_nothing_more(tmp_path):
    plan = current_plan(6)
    with simulator(account_error=1102, account_error_after=3) as sim:
        result = render_with(plan, tmp_path, tmp_path, sim, tmp_path / "out", api_key_credentials(),
                             concurrency=2)
        stopped_at = sim.total_requests
        assert result.code == 3
        assert "resource pack" in result.message and "1102" in result.message
        # no job was tried again after the 1102: one refused request per job in flight at most
        assert stopped_at <= 3 + 2
        assert sum(sim.creations.values()) <= 3


def test_a_1201_fails_only_its_job_naming_the_field(tmp_path):
    plan = current_plan(3)
    plan["jobs"][1]["request"]["settings"]["duration"] = 99
    with simulator() as sim:
        result = render_with(plan, tmp_path, tmp_path, sim, tmp_path / "out", api_key_credentials(),
                             assemble=False)
    failed = [(o.id, o.state, o.message) for o in result.failed]
    assert len(failed) == 1 and failed[0][1] == "rejected"
    assert "settings.duration" in failed[0][2] and "1201" in failed[0][2]


# -- the current generation: batched polling, billing --------------------------------------------------

def test_fifty_current_tasks_are_polled_in_batches(tmp_path):
    interval = 0.05
    plan = current_plan(50)
    with simulator(latency=0.6, concurrency=60) as sim:
        result = render_with(plan, tmp_path, tmp_path, sim, tmp_path / "out", api_key_credentials(),
                             concurrency=50, poll_interval=interval, assemble=False)
        assert result.code == 0, [(o.label, o.message) for o in result.failed]
        batches = list(sim.batch_queries)
        queries = sim.requests["query"]
    assert queries == len(batches)                    # every query was a batched GET /tasks
    assert max(batches) >= 40                          # many tasks per query
    # Each query covers all the tasks in flight: per job and per poll interval, 1/len(batch).
    per_job_per_interval = queries / sum(batches)
    assert per_job_per_interval <= 0.1, (queries, batches)


def test_billing_is_recorded_and_status_shows_estimated_and_charged(tmp_path, capsys):
    plan = current_plan(2, seconds=4)
    folder = tmp_path / "out"
    with simulator() as sim:
        result = render_with(plan, tmp_path, tmp_path, sim, folder, api_key_credentials(), assemble=False)
    assert result.code == 0
    with L.Ledger.open_readonly(folder) as ledger:
        jobs = [e for e in ledger.entries() if e.kind == "job"]
    # 720p with native audio: 0.9 units a second (the simulator's figure)
    assert [(e.charged, e.charge_unit) for e in jobs] == [(3.6, "units"), (3.6, "units")]
    assert json.loads(jobs[0].billing)[0]["charge_type"] == "unit"
    assert result.charged == {"units": pytest.approx(7.2)}
    from klingscript.cli import main

    assert main(["status", str(folder), "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["charged"] == {"units": 7.2}
    assert data["estimated"]["units"] == pytest.approx(7.2) and data["estimated"]["credits"] == 72
    row = next(r for r in data["entries"] if r["kind"] == "job")
    assert row["charged"] == 3.6 and row["units"] == 3.6
    assert main(["status", str(folder)]) == 0
    table = capsys.readouterr().out
    assert "charged by Kling: 7.2 units" in table and "3.6 u" in table
    for f in folder.rglob("*"):                           # the API key reaches no file
        if f.is_file():
            assert API_KEY.encode() not in f.read_bytes(), f


def test_legacy_final_unit_deduction_is_recorded(tmp_path):
    from runtime_support import text_script

    path = tmp_path / "film.kls"
    path.write_text(text_script(1, 3), encoding="utf-8")
    plan, d, root = build_plan(path)
    with simulator() as sim:
        result = render(plan, d, root, sim, tmp_path / "out", assemble=False)
    assert result.code == 0
    with L.Ledger.open_readonly(tmp_path / "out") as ledger:
        job = next(e for e in ledger.entries() if e.kind == "job")
    assert job.charge_unit == "units" and job.charged == pytest.approx(3 * 0.9)
    assert json.loads(job.billing) == "2.7"


def test_callback_url_is_passed_as_klings_option(tmp_path):
    with simulator() as sim:
        bodies = spy_bodies(sim)
        result = render_with(current_plan(1), tmp_path, tmp_path, sim, tmp_path / "out", api_key_credentials(),
                             callback_url="https://example.test/kling-hook", assemble=False)
    assert result.code == 0
    assert bodies[0][1]["options"] == {"external_task_id": "cur000000001",
                                       "callback_url": "https://example.test/kling-hook"}


# -- budgets ---------------------------------------------------------------------------------------------

def test_budgets_read_units_dollars_and_credits():
    assert parse_budget("40u") == Budget(40, "units") == parse_budget("40 units")
    assert parse_budget("$5") == Budget(5, "usd") == parse_budget("5usd") == parse_budget("USD 5")
    assert parse_budget("300") == Budget(300, "credits")
    with pytest.raises(BudgetError):
        parse_budget("five dollars")


def test_budget_in_units_and_dollars_applies_to_what_the_render_adds(tmp_path):
    plan = current_plan(3, seconds=5)              # 4.5 units, $0.63 a job
    with simulator() as sim:
        with pytest.raises(BudgetExceeded) as e:
            render_with(plan, tmp_path, tmp_path, sim, tmp_path / "a", api_key_credentials(),
                        budget=parse_budget("10u"))
        assert "13.5 units" in str(e.value) and "--budget 10 units" in str(e.value)
        with pytest.raises(BudgetExceeded) as e:
            render_with(plan, tmp_path, tmp_path, sim, tmp_path / "b", api_key_credentials(),
                        budget=parse_budget("$1.5"))
        assert "$1.89" in str(e.value)
        assert sim.total_requests == 0
        ok = render_with(plan, tmp_path, tmp_path, sim, tmp_path / "c", api_key_credentials(),
                         budget=parse_budget("14u"), assemble=False)
        assert ok.code == 0
        # Nothing is left to add: a tiny budget passes now.
        again = render_with(plan, tmp_path, tmp_path, sim, tmp_path / "c", api_key_credentials(),
                            budget=parse_budget("0u"), assemble=False)
        assert again.code == 0


def test_a_budget_in_units_needs_unit_estimates(tmp_path):
    plan = current_plan(1)
    del plan["jobs"][0]["cost"]
    with simulator() as sim:
        with pytest.raises(BudgetUnknown) as e:
            render_with(plan, tmp_path, tmp_path, sim, tmp_path / "a", api_key_credentials(),
                        budget=parse_budget("10u"))
        assert "units" in str(e.value) and sim.total_requests == 0


# -- elements and voices Kling no longer has -----------------------------------------------------------

def test_resume_after_the_simulator_restarts_makes_the_elements_again(tmp_path):
    """Today's failure: every job of the resumed render failed with 1201."""
    root = project(tmp_path)
    plan = current_plan(4, elements=1)
    folder = tmp_path / "out"
    with simulator() as sim:
        first = render_with(plan, root, root, sim, folder, api_key_credentials(), service="simulator",
                            assemble=False)
        assert first.code == 0
    # A job's clip is lost; the element is now unknown to a fresh simulator.
    with L.Ledger.open(folder) as ledger:
        job = ledger.get(plan["jobs"][0]["id"])
        (folder / job.file).unlink()
        element_before = ledger.get("el0000000000").element_id
    with simulator() as sim2:
        again = render_with(plan, root, root, sim2, folder, api_key_credentials(), service="simulator",
                            assemble=False)
        assert again.code == 0, [(o.label, o.message) for o in again.failed]
        assert sim2.requests.get("rejected", 0) == 0
        assert sim2.creations["el0000000000-2"] == 1            # made once more, under a new external id
    with L.Ledger.open_readonly(folder) as ledger:
        el = ledger.get("el0000000000")
    assert el.state == "done" and el.attempt == 2 and el.element_id is not None and element_before


def test_elements_forgotten_mid_render_are_made_again_and_the_jobs_go_on(tmp_path):
    root = project(tmp_path)
    plan = current_plan(6, elements=1)
    with simulator(forget_elements_after=2) as sim:
        result = render_with(plan, root, root, sim, tmp_path / "out", api_key_credentials(), concurrency=1,
                             assemble=False)
        assert result.code == 0, [(o.label, o.message) for o in result.failed]
        assert sim.forgotten == 1
        assert sim.creations["el0000000000"] == 1 and sim.creations["el0000000000-2"] == 1


def test_an_element_gone_twice_in_one_render_fails_its_jobs_clearly(tmp_path):
    root = project(tmp_path)
    plan = current_plan(5, elements=1)
    with simulator(forget_elements_after=1) as sim:
        original = sim._create

        def create(endpoint, body, account):
            task, new = original(endpoint, body, account)
            if sim.videos_created == 3 and new:
                sim.forget_elements()            # a second time
            return task, new

        sim._create = create
        result = render_with(plan, root, root, sim, tmp_path / "out", api_key_credentials(), concurrency=1,
                             assemble=False)
    assert result.code == 3
    assert any("not an element of this account" in o.message for o in result.failed)
    assert sim.creations["el0000000000-2"] == 1 and "el0000000000-3" not in sim.creations   # once, not twice


def _voice_plan(tmp_path, sample: str = "voices/hero.wav") -> dict:
    plan = current_plan(2, elements=1)
    plan["elements"][0]["voice_sample"] = sample
    plan["elements"][0]["voice_cost"] = {"units": 0.05}
    return plan


def _wav(path: Path, seconds: float = 6.0) -> None:
    import wave

    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(b"\0\0" * int(8000 * seconds))


def _voice_project(tmp_path):
    root = project(tmp_path)
    _wav(root / "voices" / "hero.wav")
    return root, _voice_plan(tmp_path), tmp_path / "out"


def test_a_voice_sample_makes_a_custom_voice_once_and_binds_it_to_the_element(tmp_path):
    root, plan, folder = _voice_project(tmp_path)
    with simulator() as sim:
        bodies = spy_bodies(sim)
        result = render_with(plan, root, root, sim, folder, api_key_credentials(), assemble=False)
        assert result.code == 0, [(o.label, o.message) for o in result.failed]
        again = render_with(plan, root, root, sim, folder, api_key_credentials(), assemble=False)
        assert again.code == 0
        voices = [b for e, b in bodies if e == "/v1/general/custom-voices"]
        assert len(voices) == 1 and voices[0]["voice_name"] == "Hero0"
        voice_key = voices[0]["external_task_id"]
        assert voice_key.startswith("voice-") and sim.creations[voice_key] == 1
        element = next(b for e, b in bodies if e == "/v1/general/advanced-custom-elements")
        assert element["element_voice_id"] in sim._voices
    with L.Ledger.open_readonly(folder) as ledger:
        v = ledger.get(voice_key)
    assert v.kind == "voice" and v.state == "done" and v.charged == 0.05 and v.units == 0.05


def test_a_voice_id_is_bound_as_written(tmp_path):
    root = project(tmp_path)
    plan = current_plan(1, elements=1)
    plan["elements"][0]["voice_id"] = "829824295735410756"          # one of the simulator's presets
    with simulator() as sim:
        bodies = spy_bodies(sim)
        result = render_with(plan, root, root, sim, tmp_path / "out", api_key_credentials(), assemble=False)
    assert result.code == 0
    assert next(b for e, b in bodies if "elements" in e)["element_voice_id"] == "829824295735410756"


def test_a_forgotten_voice_is_made_again_for_a_new_element(tmp_path):
    root, plan, folder = _voice_project(tmp_path)
    with simulator() as sim:
        assert render_with(plan, root, root, sim, folder, api_key_credentials(), service="simulator",
                           assemble=False).code == 0
    with L.Ledger.open(folder) as ledger:               # the clips must be made again
        for j in plan["jobs"]:
            ledger.update(j["id"], state="pending", file=None, sha256=None, task_id=None)
    with simulator() as sim2:
        result = render_with(plan, root, root, sim2, folder, api_key_credentials(), service="simulator",
                             assemble=False)
        assert result.code == 0, [(o.label, o.message) for o in result.failed]
        made = [k for k in sim2.creations if k.startswith("voice-")]
        assert len(made) == 1 and made[0].endswith("-2")


def test_a_voice_sample_outside_the_project_is_refused_before_sending(tmp_path):
    root = project(tmp_path / "p")
    plan = _voice_plan(tmp_path, sample="../elsewhere.wav")
    _wav(tmp_path / "elsewhere.wav")
    with simulator() as sim:
        result = render_with(plan, root, root, sim, tmp_path / "out", api_key_credentials(), assemble=False)
        assert result.code == 3
        assert all("outside the project folder" in o.message for o in result.failed)
        assert "/v1/general/custom-voices" not in str(sim.creations)


def test_klingc_voices_lists_presets_and_custom_voices(tmp_path, capsys):
    from klingscript.commands.voices import fetch

    with simulator() as sim:
        with httpx.Client(base_url=sim.url, headers={"Authorization": f"Bearer {API_KEY}"}) as http:
            import base64
            import io
            import wave

            buf = io.BytesIO()
            with wave.open(buf, "wb") as w:
                w.setnchannels(1), w.setsampwidth(2), w.setframerate(8000), w.writeframes(b"\0\0" * 48000)
            r = http.post("/v1/general/custom-voices", json={
                "voice_name": "Mara", "voice_url": base64.b64encode(buf.getvalue()).decode()})
            assert r.json()["code"] == 0
        rows = asyncio.run(fetch(sim.url, api_key_credentials()))
    assert {r["source"] for r in rows} == {"preset", "custom"}
    assert any(r["name"] == "Mara" and r["source"] == "custom" for r in rows)
    assert all(r["id"] for r in rows)
    from klingscript.cli import main

    assert main(["voices", "--simulate"]) == 0
    out = capsys.readouterr().out
    assert "Warm narrator" in out and "preset" in out

"""Helper processes (klingscript/parallel.py): the same output as without them, and no
failure of a helper ever shows."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from conftest import EXAMPLES, feature_generator, files_of
from klingscript import parallel

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="helpers need os.fork")

@pytest.fixture
def helpers(monkeypatch):
    """Helpers on, in this process, as on the command line."""
    monkeypatch.setenv("KLINGSCRIPT_WORKERS", "2")
    parallel.enable()
    if not parallel.can_fork():   # klingc forks only while it runs no other thread
        parallel.disable()
        pytest.skip("another thread runs in this test process")
    yield
    parallel.wait_all()
    parallel.disable()


def test_builds_are_the_same_with_and_without_helpers(klingc, tmp_path):
    feature = tmp_path / "feature.kls"
    feature.write_text(feature_generator().generate(), encoding="utf-8")
    # Scripts of two jobs or more (a helper takes no single job), built without the
    # cache (whose build memo would spare the second build its work).
    scripts = [EXAMPLES / "sitcom_coffee_shop.kls", EXAMPLES / "series" / "episode2.kls", feature]
    for script in scripts:
        outs = {}
        for workers in ("1", "2"):
            out = tmp_path / f"{script.stem}-{workers}"
            r = klingc("build", str(script), "-o", str(out), cwd=script.parent,
                       env={"KLINGSCRIPT_WORKERS": workers, "KLINGSCRIPT_NO_CACHE": "1"})
            assert r.returncode == 0, (script.name, r.stderr[-2000:])
            outs[workers] = files_of(out)
        assert outs["1"] == outs["2"], script.name
        assert any(name.startswith("requests/") for name in outs["1"])


def plan_of(path: Path):
    from klingscript.compiler import check

    return check(str(path)).plan


def finished(plan, workers):
    from klingscript.backends.prompts import Renderer
    from klingscript.planner import finish, plan_json

    done = finish(plan, Renderer(), workers=workers, requests=True, texts=True)
    return done, plan_json(done, texts=True)


@pytest.mark.parametrize("how", ["raises", "exits", "sends nothing back"])
def test_a_helper_that_fails_changes_nothing(helpers, monkeypatch, how):
    from klingscript import planner as P

    plan = plan_of(EXAMPLES / "sitcom_coffee_shop.kls")   # two jobs: the helper takes them
    assert len(plan.jobs) >= 2
    _, expected = finished(plan, 1)
    real = P._build_requests

    def broken(items, plan, texts):
        if how == "raises":
            raise RuntimeError("a helper that breaks")
        if how == "exits":
            os._exit(7)
        list(items)
        return real(iter(()), plan, texts)   # an answer that lacks every job

    monkeypatch.setattr(P, "_build_requests", broken)
    done, out = finished(plan, 2)
    assert all(j.built is not None for j in done.jobs)
    assert out.plan == expected.plan and out.texts == expected.texts and out.prompts == expected.prompts


def test_the_helper_builds_every_request(helpers):
    import klingscript.planner as P

    plan = plan_of(EXAMPLES / "sitcom_coffee_shop.kls")
    calls = []
    real = P._job_requests
    # Counted in this process only: requests built here would mean the helper's were not taken.
    P._job_requests = lambda jobs, texts: calls.append(len(jobs)) or real(jobs, texts)
    try:
        done, out = finished(plan, 2)
    finally:
        P._job_requests = real
    assert sum(calls) == 0
    _, expected = finished(plan, 1)
    assert out.plan == expected.plan and out.texts == expected.texts


def test_feeder_passes_items_in_order_past_a_full_pipe(helpers):
    def consume(items, factor):
        total = sum(i for i in range(300_000))  # busy before reading: the pipe fills meanwhile
        return [len(x) * factor for x in items], total

    feeder = parallel.Feeder(consume, 2)
    chunks = ["x" * (1000 + i) for i in range(400)]   # ~600 KB, several pipe buffers
    for chunk in chunks:
        feeder.send(chunk)
    lengths, total = feeder.result()
    assert lengths == [2 * len(c) for c in chunks]
    assert total == sum(range(300_000))


def test_no_helpers_unless_enabled_and_alone(monkeypatch):
    monkeypatch.setenv("KLINGSCRIPT_WORKERS", "2")
    assert parallel.workers(1000) == 1            # not enabled: an in-process caller
    parallel.enable()
    try:
        assert parallel.workers(1000) == 2
        monkeypatch.setenv("KLINGSCRIPT_WORKERS", "1")
        assert parallel.workers(1000) == 1
        monkeypatch.delenv("KLINGSCRIPT_WORKERS")
        assert parallel.workers(parallel.MIN_JOBS - 1) == 1
    finally:
        parallel.disable()


def test_background_work_is_done_before_exit(helpers, tmp_path):
    target = tmp_path / "written"
    parallel.in_background(target.write_text, "done")
    parallel.wait_all()
    assert target.read_text() == "done"


def test_a_helper_started_meanwhile_does_not_hold_a_feeder_open(helpers, tmp_path):
    # A helper forked while a feeder's pipe is open must not keep that pipe open: the
    # feeder's helper would then never see the end of its items.
    feeder = parallel.Feeder(lambda items: sum(1 for _ in items))
    feeder.send("one")
    pipe = feeder._out.fileno()
    report = tmp_path / "report"

    def look():
        try:
            os.fstat(pipe)
            report.write_text("open")
        except OSError:
            report.write_text("closed")

    parallel.in_background(look)
    parallel.wait_all()
    feeder.send("two")
    assert feeder.result() == 2
    assert report.read_text() == "closed"

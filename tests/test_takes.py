"""Takes, retakes and picks (issue 10 items 1 and 2): every generation kept, --takes N,
--retake, a crash during a retake, budgets over takes, klingc pick, status over all takes."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from runtime_support import ACCESS, EXAMPLES, SECRET, build_plan, render, text_script  # noqa: E402

from klingscript.runtime import ledger as L  # noqa: E402
from klingscript.runtime.render import BudgetExceeded  # noqa: E402
from klingscript.runtime.simulator import Simulator  # noqa: E402
from klingscript.runtime.takes import PickError, film_clips, pick  # noqa: E402


def simulator(**kw):
    kw.setdefault("latency", 0.05)
    kw.setdefault("concurrency", 8)
    kw.setdefault("seed", 3)
    return Simulator(access_key=ACCESS, secret_key=SECRET, **kw)


def project(tmp_path, scenes=3, seconds=3):
    path = tmp_path / "film.kls"
    path.write_text(text_script(scenes, seconds), encoding="utf-8")
    return (path, *build_plan(path))


def takes_of(folder, jid):
    with L.Ledger.open_readonly(folder) as led:
        return [(t.take, t.state, t.external_task_id, t.file) for t in led.takes(jid)]


def test_takes_n_makes_n_successful_takes_each_kept_in_its_own_file(tmp_path):
    _, plan, d, root = project(tmp_path, scenes=2)
    out = tmp_path / "out"
    with simulator() as sim:
        first = render(plan, d, root, sim, out, takes=2)
        assert first.code == 0, [(o.label, o.message) for o in first.failed]
        for j in plan["jobs"]:
            jid = j["id"]
            assert takes_of(out, jid) == [(1, "done", jid, f"clips/{jid}.mp4"),
                                          (2, "done", f"{jid}-t2", f"clips/{jid}-t2.mp4")]
            assert (out / "clips" / f"{jid}.mp4").is_file() and (out / "clips" / f"{jid}-t2.mp4").is_file()
        assert sim.creations == {**{j["id"]: 1 for j in plan["jobs"]}, **{f"{j['id']}-t2": 1 for j in plan["jobs"]}}
        assert first.asked["takes"] == 4 and first.asked["credits"] == 4 * plan["jobs"][0]["credits"]
        assert first.spent_now == 4 * plan["jobs"][0]["credits"]
        again = render(plan, d, root, sim, out, takes=2)      # already has them: nothing sent
        assert again.code == 0 and again.asked["takes"] == 0 and again.spent_now == 0
        assert sum(sim.creations.values()) == 4
    # without a pick, the latest take is used
    assert film_clips(out, plan) == {j["id"]: out / "clips" / f"{j['id']}-t2.mp4" for j in plan["jobs"]}


def test_retake_scene_and_part(tmp_path):
    plan, d, root = build_plan(EXAMPLES / "sitcom_coffee_shop.kls")       # scene 1 has two parts
    p1, p2 = plan["jobs"]
    out = tmp_path / "out"
    with simulator() as sim:
        assert render(plan, d, root, sim, out, assemble=False).code == 0
        r = render(plan, d, root, sim, out, retake=("1.2",), assemble=False)
        assert r.code == 0 and r.asked["takes"] == 1
        assert sim.creations[f"{p2['id']}-t2"] == 1 and f"{p1['id']}-t2" not in sim.creations
        r = render(plan, d, root, sim, out, retake=("1",), assemble=False)   # every part: one more each
        assert r.code == 0 and r.asked["takes"] == 2
        assert sim.creations[f"{p1['id']}-t2"] == 1 and sim.creations[f"{p2['id']}-t3"] == 1
        with pytest.raises(PickError, match="no scene 4"):
            render(plan, d, root, sim, out, retake=("4",))
    assert [t[0] for t in takes_of(out, p2["id"])] == [1, 2, 3]


def test_a_crash_during_a_retake_resumes_without_paying_twice(tmp_path):
    _, plan, d, root = project(tmp_path, scenes=1)
    jid = plan["jobs"][0]["id"]
    out = tmp_path / "out"
    with simulator() as sim:
        assert render(plan, d, root, sim, out).code == 0
        # The crash: a retake was asked, its intent recorded and its request sent; nothing more.
        with L.Ledger.open(out) as led:
            led.update(jid, retake=2)
            led.new_take(jid)
            e = led.intend(jid)
        assert e.external_task_id == f"{jid}-t2"
        import httpx

        from klingscript.runtime.render import Images, materialize
        from runtime_support import token

        body = materialize(plan["jobs"][0]["request"], e.external_task_id, Images(d, root, False), {})
        assert httpx.post(sim.url + plan["jobs"][0]["endpoint"], json=body,
                          headers={"Authorization": f"Bearer {token()}"}).status_code == 200
        r = render(plan, d, root, sim, out, retake=("1",))          # the same command again
        # (the estimate counts the take whose request may not have reached Kling; it had)
        assert r.code == 0 and r.spent_now == 0 and r.asked["takes"] == 1
        assert sim.creations == {jid: 1, f"{jid}-t2": 1}
        # A render that died after the retake's clip was saved, before it finished: no third take.
        with L.Ledger.open(out) as led:
            led.update(jid, retake=2)
        r = render(plan, d, root, sim, out, retake=("1",))
        assert r.code == 0 and sim.creations == {jid: 1, f"{jid}-t2": 1}
        # Asked again once that render is over: a new take.
        assert render(plan, d, root, sim, out, retake=("1",)).code == 0
        assert sim.creations[f"{jid}-t3"] == 1
    assert [t[:2] for t in takes_of(out, jid)] == [(1, "done"), (2, "done"), (3, "done")]


def test_the_budget_covers_every_take_asked(tmp_path):
    _, plan, d, root = project(tmp_path, scenes=2)
    out = tmp_path / "out"
    one = plan["jobs"][0]["credits"]
    with simulator() as sim:
        with pytest.raises(BudgetExceeded) as x:
            render(plan, d, root, sim, out, takes=2, max_credits=3 * one)
        assert x.value.to_spend == 4 * one and not sim.creations      # nothing was sent
        assert render(plan, d, root, sim, out, max_credits=2 * one).code == 0
        with pytest.raises(BudgetExceeded):
            render(plan, d, root, sim, out, retake=("1", "2"), max_credits=one)
        assert render(plan, d, root, sim, out, retake=("2",), max_credits=one).code == 0
        assert sum(sim.creations.values()) == 3


def test_a_failed_take_is_kept_and_the_next_generation_is_a_new_take(tmp_path):
    _, plan, d, root = project(tmp_path, scenes=1)
    jid = plan["jobs"][0]["id"]
    out = tmp_path / "out"
    with simulator() as sim:
        sim.fail_next(1, "the model could not follow the prompt (test)")
        assert render(plan, d, root, sim, out).code == 3
        assert render(plan, d, root, sim, out).code == 0
    assert [t[:3] for t in takes_of(out, jid)] == [(1, "failed", jid), (2, "done", f"{jid}-t2")]
    with pytest.raises(PickError, match="take 1 of scene 1 has no clip"):
        pick(out, "1", 1)


def test_pick_chooses_the_take_of_scene_files_and_film_and_survives_rerenders_and_edits(tmp_path):
    path, plan, d, root = project(tmp_path, scenes=2)
    out = tmp_path / "out"
    j1, j2 = (j["id"] for j in plan["jobs"])
    with simulator() as sim:
        assert render(plan, d, root, sim, out, takes=2).code == 0
        done = pick(out, "1", 1)
        assert done.take.take == 1 and done.film == out / "film.mp4"
        assert film_clips(out, plan)[j1] == out / "clips" / f"{j1}.mp4"
        assert film_clips(out, plan)[j2] == out / "clips" / f"{j2}-t2.mp4"
        assert render(plan, d, root, sim, out).code == 0              # a re-render keeps the pick
        assert film_clips(out, plan)[j1] == out / "clips" / f"{j1}.mp4"
        # An edit of scene 2: new job for it, the pick of scene 1 stays.
        path.write_text(path.read_text().replace("street number 2", "avenue number 2"), encoding="utf-8")
        edited, d, root = build_plan(path)
        assert edited["jobs"][0]["id"] == j1 and edited["jobs"][1]["id"] != j2
        assert render(edited, d, root, sim, out).code == 0
        assert film_clips(out, edited)[j1] == out / "clips" / f"{j1}.mp4"
        # a retake of scene 1 makes take 3; the pick stays on take 1
        assert render(edited, d, root, sim, out, retake=("1",)).code == 0
        assert film_clips(out, edited)[j1] == out / "clips" / f"{j1}.mp4"
    for where, take, words in (("3", 1, "no scene 3"), ("1.2", 1, "not a part 2"), ("1", 7, "no take 7"),
                               ("x", 1, "not a scene")):
        with pytest.raises(PickError, match=words):
            pick(out, where, take)


def test_pick_on_a_split_scene_needs_its_part(tmp_path):
    plan, d, root = build_plan(EXAMPLES / "sitcom_coffee_shop.kls")
    out = tmp_path / "out"
    with simulator() as sim:
        assert render(plan, d, root, sim, out, takes=2, assemble=False).code == 0
    with pytest.raises(PickError, match="scene 1 has 2 parts: name one, as 1.1 to 1.2"):
        pick(out, "1", 1)
    done = pick(out, "1.2", 1)
    assert done.film is not None and film_clips(out, plan)[plan["jobs"][1]["id"]].name == f"{plan['jobs'][1]['id']}.mp4"


def test_pick_and_status_on_the_command_line(tmp_path, capsys):
    from klingscript.cli import main

    path, plan, d, root = project(tmp_path, scenes=1)
    jid = plan["jobs"][0]["id"]
    out = tmp_path / "out"
    credits = plan["jobs"][0]["credits"]
    with simulator() as sim:
        assert render(plan, d, root, sim, out, takes=3).code == 0
        # Three versions of scene 1: each edit makes a new job; the old takes still count.
        for n in (1, 2):
            path.write_text(path.read_text().replace("A bus passes by", f"A bus passes by {n} times"
                                                     ).replace(f"passes by {n - 1} times", ""), encoding="utf-8")
            edited, d, root = build_plan(path)
            assert render(edited, d, root, sim, out).code == 0
        assert sum(sim.creations.values()) == 5
    capsys.readouterr()
    assert main(["status", str(out), "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["spent"] == 5 * credits and data["takes"] == 5 and data["takes_of_earlier_versions"] == 4
    assert main(["status", str(out), "--all", "--format", "json"]) == 0
    old = next(r for r in json.loads(capsys.readouterr().out)["entries"] if r["id"] == jid)
    assert [t["take"] for t in old["takes"]] == [1, 2, 3] and old["used_take"] == 3
    assert main(["status", str(out)]) == 0
    table = capsys.readouterr().out
    assert f"{5 * credits} credits spent on 5 takes (4 of earlier versions of the script)" in table
    # pick on the command line
    assert main(["pick", str(out), "1", "2"]) == 2
    assert "has no take 2" in capsys.readouterr().err
    assert main(["pick", str(tmp_path / "nowhere"), "1", "1"]) == 2
    assert main(["pick", str(out), "1", "1"]) == 0
    said = capsys.readouterr().out
    assert "take 1 picked" in said and f"film: {out / 'film.mp4'}" in said

"""klingc build, prompt and cost as a user runs them: output folders, golden files for every
example, atomic and deterministic writes, nothing written on errors, exit codes."""

from __future__ import annotations

import json
import shutil
import textwrap
from pathlib import Path

import pytest

from conftest import EXAMPLES, TESTS, files_of
from klingscript.cli import main

EXAMPLE_FILES = sorted(EXAMPLES.glob("*.kls")) + sorted((EXAMPLES / "series").glob("*.kls"))
GOLDEN = TESTS / "golden" / "build"


def _id(p: Path) -> str:
    return p.relative_to(EXAMPLES).with_suffix("").as_posix()


def run(args, monkeypatch, capsys, cwd):
    monkeypatch.chdir(cwd)
    monkeypatch.setenv("NO_COLOR", "1")
    capsys.readouterr()
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


# The goldens of each API generation: the default (current) and `--api legacy` (what every
# build wrote before issue 9, with the changes its commits name).
GOLDENS = {"current": GOLDEN, "legacy": TESTS / "golden" / "build_legacy"}


@pytest.mark.parametrize("api", sorted(GOLDENS))
@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=_id)
def test_example_builds_as_golden(path, api, tmp_path, monkeypatch, capsys, golden, update_golden):
    out = tmp_path / "out"
    code, stdout, stderr = run(["build", path.name, "-o", out, "--api", api], monkeypatch, capsys, path.parent)
    assert code == 0, stderr
    assert "error" not in stderr
    built = files_of(out)
    assert "plan.json" in built
    plan = json.loads(built["plan.json"])
    assert sorted(f"requests/{j['id']}.json" for j in plan["jobs"]) == sorted(
        f for f in built if f.startswith("requests/"))
    assert sorted({j["prompt_file"] for j in plan["jobs"]}) == sorted(f for f in built if f.startswith("prompts/"))
    assert plan["api"] == api
    folder = GOLDENS[api] / _id(path)
    if update_golden and folder.exists():
        for stale in set(files_of(folder)) - set(built):
            (folder / stale).unlink()
    for rel, data in built.items():
        golden(folder / rel, data.decode("utf-8"))
    if not update_golden:
        assert set(files_of(folder)) == set(built), "golden files differ from the built ones"


def test_sitcom_cost_and_split(tmp_path, monkeypatch, capsys):
    code, out, _ = run(["cost", "sitcom_coffee_shop.kls", "--format", "json"], monkeypatch, capsys, EXAMPLES)
    assert code == 0
    data = json.loads(out)
    assert [(j["part"], j["parts"], j["shots"]) for j in data["jobs"]] == [(1, 2, [1, 2, 3, 4]), (2, 2, [5, 6, 7, 8])]
    # Kling 3.0 Omni, 1080p with native audio: 1.0 unit ($0.14) a second; ~12 credits (estimate)
    assert data["totals"] == {"jobs": 2, "duration": 25, "credits": 25 * 12, "units": 25, "usd": 3.5}
    assert [j["cost"] for j in data["jobs"]] == [{"units": 12, "usd": 1.68, "credits": 144},
                                                 {"units": 13, "usd": 1.82, "credits": 156}]
    assert data["pricing"]["credits"] == "estimate" and data["pricing"]["units_as_of"]
    code, _, _ = run(["build", "sitcom_coffee_shop.kls", "-o", tmp_path / "b"], monkeypatch, capsys, EXAMPLES)
    plan = json.loads((tmp_path / "b" / "plan.json").read_text(encoding="utf-8"))
    assert plan["totals"] == data["totals"] and plan["scenes"] == data["scenes"]
    assert [j["credits"] for j in plan["jobs"]] == [j["credits"] for j in data["jobs"]]


def test_cost_table_is_plain_text_off_a_terminal(monkeypatch, capsys):
    code, out, _ = run(["cost", "fantasy_hero.kls"], monkeypatch, capsys, EXAMPLES)
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == ["job", "scene", "part", "shots", "seconds", "output", "units/s", "units", "USD",
                                "~credits"]
    assert lines[2].split()[1:] == ["1", "1/1", "1-4", "15s", "1080p", "audio", "1", "15", "2.10", "180"]
    assert lines[-1] == "total: 1 job, 15s, 15 units ($2.10), ~180 credits (estimate)"
    assert "\x1b[" not in out


def test_cost_of_a_series_gives_each_script_and_the_total(monkeypatch, capsys):
    # issue 11: `klingc cost ep1.kls ep2.kls`.
    eps = ["series/episode1.kls", "series/episode2.kls"]
    alone = []
    for ep in eps:
        code, out, _ = run(["cost", ep], monkeypatch, capsys, EXAMPLES)
        assert code == 0
        alone.append(out)
    code, out, _ = run(["cost", *eps], monkeypatch, capsys, EXAMPLES)
    assert code == 0
    assert out == (f"== {eps[0]} ==\n{alone[0]}\n== {eps[1]} ==\n{alone[1]}\n"
                   "all 2 scripts: 3 jobs, 35s, 35 units ($4.90), ~420 credits (estimate)\n")
    code, out, _ = run(["cost", "--format", "json", *eps], monkeypatch, capsys, EXAMPLES)
    data = json.loads(out)
    one = [json.loads(run(["cost", "--format", "json", ep], monkeypatch, capsys, EXAMPLES)[1]) for ep in eps]
    assert data["scripts"] == one
    assert data["totals"] == {"jobs": 3, "duration": 35, "credits": 420, "units": 35, "usd": 4.9}


def test_cost_of_several_scripts_with_an_error_gives_no_figures(tmp_path, monkeypatch, capsys):
    (tmp_path / "bad.kls").write_text('scene "S":\n    Shot 1 (3s): @Nobody waits.\n', encoding="utf-8")
    shutil.copy(EXAMPLES / "fantasy_hero.kls", tmp_path)
    for d in ("refs", "frames"):
        shutil.copytree(EXAMPLES / d, tmp_path / d)
    code, out, err = run(["cost", "fantasy_hero.kls", "bad.kls"], monkeypatch, capsys, tmp_path)
    assert (code, out) == (1, "") and "KLS201" in err
    code, out, err = run(["cost", "fantasy_hero.kls", "missing.kls", "bad.kls"], monkeypatch, capsys, tmp_path)
    assert (code, out) == (2, "") and "missing.kls" in err and "KLS201" in err


@pytest.mark.parametrize("command", ["build", "render", "prompt", "review"])
def test_a_command_of_one_script_says_so(command, klingc, tmp_path):
    r = klingc(command, "a.kls", "b.kls", cwd=tmp_path)
    assert r.returncode == 2
    assert (f"klingc: `klingc {command}` takes one script, and was given 2 (a.kls, b.kls); run it once for each "
            "(`klingc check` and `klingc cost` take several)") in r.stderr
    assert "unrecognized" not in r.stderr and "Traceback" not in r.stderr


def test_cost_with_own_pricing(tmp_path, monkeypatch, capsys):
    pricing = tmp_path / "p.toml"
    pricing.write_text('currency = "coins"\n[per_second."720p"]\nsilent = 1\naudio = 2\n'
                       '[per_second."1080p"]\nsilent = 3\naudio = 5\n', encoding="utf-8")
    code, out, _ = run(["cost", "fantasy_hero.kls", "--pricing", pricing], monkeypatch, capsys, EXAMPLES)
    assert code == 0 and out.splitlines()[-1] == "total: 1 job, 15s, 75 coins"
    pricing.write_text("per_second = 3\n", encoding="utf-8")
    code, _, err = run(["cost", "fantasy_hero.kls", "--pricing", pricing], monkeypatch, capsys, EXAMPLES)
    assert code == 2 and "per_second" in err
    code, _, err = run(["cost", "fantasy_hero.kls", "--pricing", tmp_path / "none.toml"], monkeypatch, capsys,
                       EXAMPLES)
    assert code == 2 and "no such pricing file" in err


def test_prompt_prints_paste_ready_pages(monkeypatch, capsys):
    code, out, _ = run(["prompt", "living_room.kls"], monkeypatch, capsys, EXAMPLES)
    assert code == 0
    assert out.startswith("=== Scene 1: Meet the family ===")
    assert "--- Shot 1 (3s) ---" in out and "--- Shot 4 (4s) ---" in out
    assert "@Grace opens the front door" in out and "<<<" not in out
    code, out, _ = run(["prompt", "series/episode2.kls", "--scene", "2"], monkeypatch, capsys, EXAMPLES)
    assert code == 0 and out.startswith("=== Scene 2: Back at the office ===")
    assert "Scene 1" not in out
    code, _, err = run(["prompt", "series/episode2.kls", "--scene", "3"], monkeypatch, capsys, EXAMPLES)
    assert code == 2 and "no scene 3" in err


BROKEN = textwrap.dedent('''\
    character Ana:
        description: "woman with a red umbrella"
    scene "Rain":
        Shot 1 (2s): @Anna opens her umbrella.
    ''')
GOOD = 'scene "Rain":\n    Shot 1 (4s): Rain on the window.\n'


@pytest.mark.parametrize("command", ["build", "prompt", "cost"])
def test_errors_print_diagnostics_and_write_nothing(command, tmp_path, monkeypatch, capsys):
    (tmp_path / "broken.kls").write_text(BROKEN, encoding="utf-8")
    code, out, err = run([command, "broken.kls"], monkeypatch, capsys, tmp_path)
    assert code == 1
    assert "broken.kls:4:18: error[KLS201]: no element named @Anna" in err
    assert "error[KLS302]" not in err        # the scene with an error is not planned
    assert out == ""
    assert not (tmp_path / "build").exists()


def test_planner_errors_stop_the_build(tmp_path, monkeypatch, capsys):
    (tmp_path / "short.kls").write_text('scene "Blink":\n    Shot 1 (2s): Mia blinks.\n', encoding="utf-8")
    code, _, err = run(["build", "short.kls"], monkeypatch, capsys, tmp_path)
    assert code == 1 and "error[KLS302]" in err
    assert not (tmp_path / "build").exists()


def test_build_default_folder_rebuild_and_replace(tmp_path, monkeypatch, capsys):
    (tmp_path / "rain.kls").write_text(GOOD, encoding="utf-8")
    code, out, _ = run(["build", "rain.kls"], monkeypatch, capsys, tmp_path)
    target = tmp_path / "build" / "rain"
    assert code == 0 and out.startswith(str(Path("build") / "rain") + ": 1 job, 4s,")
    first = files_of(target)
    assert set(first) >= {"plan.json", "prompts/scene01.txt"}
    code, _, _ = run(["build", "rain.kls"], monkeypatch, capsys, tmp_path)
    assert code == 0 and files_of(target) == first                         # byte-identical
    (tmp_path / "rain.kls").write_text(GOOD.replace("window", "door"), encoding="utf-8")
    code, _, _ = run(["build", "rain.kls"], monkeypatch, capsys, tmp_path)
    again = files_of(target)
    assert code == 0 and again != first and len([f for f in again if f.startswith("requests/")]) == 1
    assert sorted(p.name for p in (tmp_path / "build").iterdir()) == ["rain"]   # no temporary folders left


def test_build_refuses_to_replace_a_folder_that_is_not_a_build(tmp_path, monkeypatch, capsys):
    (tmp_path / "rain.kls").write_text(GOOD, encoding="utf-8")
    keep = tmp_path / "notes"
    keep.mkdir()
    (keep / "todo.txt").write_text("mine", encoding="utf-8")
    code, _, err = run(["build", "rain.kls", "-o", "notes"], monkeypatch, capsys, tmp_path)
    assert code == 2 and "not a klingc build folder" in err
    assert (keep / "todo.txt").read_text(encoding="utf-8") == "mine"


def test_unreadable_input_and_bad_templates(tmp_path, monkeypatch, capsys):
    code, _, err = run(["build", "missing.kls"], monkeypatch, capsys, tmp_path)
    assert code == 2 and "no such file" in err
    (tmp_path / "rain.kls").write_text(GOOD, encoding="utf-8")
    code, _, err = run(["build", "rain.kls", "--templates", "nowhere"], monkeypatch, capsys, tmp_path)
    assert code == 2 and "no such template folder" in err
    (tmp_path / "tpl").mkdir()
    (tmp_path / "tpl" / "job.j2").write_text("{{ scene.nonsense.deeper }}", encoding="utf-8")
    code, _, err = run(["build", "rain.kls", "--templates", "tpl"], monkeypatch, capsys, tmp_path)
    assert code == 2 and "template" in err and "Traceback" not in err
    assert not (tmp_path / "build").exists()


def test_own_templates_change_the_prompts(tmp_path, monkeypatch, capsys):
    (tmp_path / "rain.kls").write_text(GOOD, encoding="utf-8")
    (tmp_path / "tpl").mkdir()
    (tmp_path / "tpl" / "job.j2").write_text(
        '{% for s in job.shots %}RAINY {{ s.text }}{% endfor %}', encoding="utf-8")
    code, _, _ = run(["build", "rain.kls", "--templates", "tpl", "-o", "out"], monkeypatch, capsys, tmp_path)
    assert code == 0
    plan = json.loads((tmp_path / "out" / "plan.json").read_text(encoding="utf-8"))
    assert plan["jobs"][0]["request"]["prompt"] == "RAINY Rain on the window."


def test_build_through_the_command_line(tmp_path, klingc):
    """A fresh process: the console script, exit code and summary line."""
    (tmp_path / "rain.kls").write_text(GOOD, encoding="utf-8")
    r = klingc("build", "rain.kls", "-o", "out", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    # Kling 3.0, 720p with native audio: 0.9 units a second (4 s: 3.6 units, $0.504)
    assert r.stdout.strip() == "out: 1 job, 4s, 3.6 units ($0.50), ~36 credits (estimate)"
    assert "Traceback" not in r.stderr


def test_a_request_that_breaks_an_api_rule_is_kls308_once(tmp_path, monkeypatch, capsys):
    """The last check before sending: the request models apply Kling's rules once per request and
    hand the problems to the build, which reports each as KLS308 and writes nothing."""
    from klingscript.backends import rules

    calls = []
    real = rules.video_problems

    def breaks(name, body, p):
        calls.append(name)
        return real(name, body, p) + ["duration: not today"]

    monkeypatch.setattr(rules, "video_problems", breaks)
    monkeypatch.setenv("KLINGSCRIPT_NO_CACHE", "1")
    (tmp_path / "rain.kls").write_text(GOOD, encoding="utf-8")
    code, out, err = run(["build", "rain.kls", "--api", "legacy"], monkeypatch, capsys, tmp_path)
    assert code == 1 and out == "" and "Traceback" not in err
    assert ('rain.kls:1:7: error[KLS308]: the request of scene 1, part 1 breaks a Kling API rule: '
            'duration: not today') in err
    assert err.count("KLS308") == 1 and len(calls) == 1
    assert not (tmp_path / "build").exists()


def test_a_current_request_that_breaks_an_api_rule_is_kls308_once(tmp_path, monkeypatch, capsys):
    """The same for the current generation's models (backends/current.py)."""
    from klingscript.backends import rules

    calls = []
    real = rules.current_problems

    def breaks(endpoint, body, profile=None):
        calls.append(endpoint)
        return real(endpoint, body, profile) + ["settings.duration: not today"]

    monkeypatch.setattr(rules, "current_problems", breaks)
    monkeypatch.setenv("KLINGSCRIPT_NO_CACHE", "1")
    (tmp_path / "rain.kls").write_text(GOOD, encoding="utf-8")
    code, out, err = run(["build", "rain.kls"], monkeypatch, capsys, tmp_path)
    assert code == 1 and out == "" and "Traceback" not in err
    assert ('rain.kls:1:7: error[KLS308]: the request of scene 1, part 1 breaks a Kling API rule: '
            'settings.duration: not today') in err
    assert err.count("KLS308") == 1 and calls == ["/text-to-video/kling-3.0"]


def test_web_app_pages_list_the_images_to_upload_for_each_element(monkeypatch, capsys):
    # issue 11: a writer in the web app creates each @Element from its image files.
    from klingscript.compiler import PROMPTS, compile_script

    c = compile_script(EXAMPLES / "series" / "episode1.kls", emit=PROMPTS)
    elements = c.production.elements
    for job in c.plan.jobs:
        lines = job.web.splitlines()
        named = next(l for l in lines if l.startswith("Elements: "))[len("Elements: "):].split(", ")
        uploads = [l for l in lines if l.startswith("Images to upload for ")]
        assert uploads == [f"Images to upload for {n}: {', '.join(elements[n[1:]].images)}" for n in named]
        assert len(uploads) == 3 and all(".png" in u for u in uploads)

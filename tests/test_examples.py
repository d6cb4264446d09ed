"""The bundled examples: each one checks clean through the real command line,
ships real images within the model's limits, and the spec's error example
renders exactly in the spec's format."""

from __future__ import annotations

import json
import re
import shutil
import textwrap
from pathlib import Path

import pytest

from conftest import EXAMPLES, REPO, feature_generator

EXAMPLE_FILES = sorted(EXAMPLES.glob("*.kls")) + sorted((EXAMPLES / "series").glob("*.kls"))
EXPECTED = {
    "villa_terrace.kls", "truck_driver.kls", "family_couch.kls", "rooftop_korean.kls",
    "fantasy_hero.kls", "living_room.kls", "sitcom_coffee_shop.kls",
    "series/cast.kls", "series/episode1.kls", "series/episode2.kls",
}


def _rel(p: Path) -> str:
    return p.relative_to(EXAMPLES).as_posix()


def test_all_examples_present():
    assert {_rel(p) for p in EXAMPLE_FILES} >= EXPECTED


@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=_rel)
def test_example_checks_clean(path, klingc):
    """No errors and no warnings: an example is a script a user can copy."""
    r = klingc("check", "--format", "json", path.name, cwd=path.parent)
    assert r.returncode == 0, r.stdout + r.stderr
    diags = json.loads(r.stdout)
    serious = [d for d in diags if d["severity"] in ("error", "warning")]
    assert serious == [], serious
    assert "Traceback" not in r.stderr


def test_examples_check_together(klingc, golden):
    """The demo command: every example in one run, with the notes it prints."""
    r = klingc("check", *[_rel(p) for p in EXAMPLE_FILES], cwd=EXAMPLES)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "error" not in r.stdout
    golden("golden/examples_check.txt", r.stdout)


def _image_paths() -> list[Path]:
    from klingscript.syntax.parser import parse
    paths = []
    for f in EXAMPLE_FILES:
        doc, _ = parse(f.read_text(encoding="utf-8"), str(f))
        for el in doc.elements:
            for field in el.fields:
                if field.key == "images":
                    paths += [f.parent / v.value for v in field.values]
        for scene in doc.scenes:
            for s in scene.settings:
                if s.key in ("first frame", "last frame"):
                    paths += [f.parent / v.value for v in s.values]
    return paths


def test_example_images_are_real_and_within_limits():
    """Every image an example names exists, is a PNG within Kling's image limits, and is small."""
    from PIL import Image

    from klingscript.model import profiles

    limits = profiles.load("kling-v3-omni").images
    paths = _image_paths()
    assert len(paths) >= 10
    for p in paths:
        assert p.is_file(), p
        assert p.stat().st_size < 40_000, f"{p} is {p.stat().st_size} bytes"
        with Image.open(p) as im:
            assert im.format == "PNG"
            w, h = im.size
        assert min(w, h) >= max(512, limits.min_side_px), (p, w, h)
        assert limits.min_aspect <= w / h <= limits.max_aspect, (p, w, h)


def test_sitcom_needs_two_jobs():
    """The sitcom is longer than one job can carry, so the planner must split it."""
    from klingscript.model import profiles
    from klingscript.syntax.parser import parse
    from klingscript.model.timing import shot_duration

    doc, diags = parse((EXAMPLES / "sitcom_coffee_shop.kls").read_text(encoding="utf-8"), "sitcom")
    assert diags == []
    profile = profiles.load("kling-v3-omni")
    (scene,) = doc.scenes
    durations = [shot_duration(s, "English")[0] for s in scene.shots]
    assert len(durations) == 8
    assert 20 <= sum(durations) <= 28
    assert len(durations) > profile.shots_per_job or sum(durations) > profile.job_max
    # Two jobs of whole shots fit: 4 + 4 shots, each within the job's duration range.
    first, second = sum(durations[:4]), sum(durations[4:])
    assert profile.job_min <= first <= profile.job_max
    assert profile.job_min <= second <= profile.job_max


# The error example of spec section 6, reproduced: a cast file whose line 14
# misspells @Jamie (declared on line 5) inside a shot.
CAST_WITH_TYPO = textwrap.dedent('''\
    # Cast and cold open
    character Alex:
        description: "late-20s man, messy brown hair, green hoodie"

    character Jamie:
        description: "woman, sharp bob haircut, denim jacket"
    character Sam:
        description: "tall bearded man, flannel shirt"

    scene "Liked the photo":
        Shot 1 (3s): Mid-shot. @Jamie and @Sam sit on the couch.
        Shot 2 (3s): @Alex rushes in.
        Shot 3 (2s): @Jamie turns to @Alex.
            @Jamei: "How bad?"
    ''')

SPEC_ERROR = textwrap.dedent('''\
    cast.kls:14:9: error[KLS201]: no element named @Jamei
       |
    14 |         @Jamei: "How bad?"
       |         ^^^^^^
       = help: did you mean @Jamie? (declared at cast.kls:5:11)
    ''')


def test_spec_error_example_renders_in_spec_format(tmp_path, klingc):
    (tmp_path / "cast.kls").write_text(CAST_WITH_TYPO, encoding="utf-8")
    r = klingc("check", "cast.kls", cwd=tmp_path)
    assert r.returncode == 1
    assert r.stdout.startswith(SPEC_ERROR), r.stdout
    assert "\x1b[" not in r.stdout


def test_examples_are_in_canonical_layout(klingc):
    """The examples are what `klingc fmt` writes, so a user's first fmt changes nothing."""
    r = klingc("fmt", "--check", *[_rel(p) for p in EXAMPLE_FILES], cwd=EXAMPLES)
    assert r.returncode == 0, r.stdout + r.stderr


def test_readme_tour_output_is_current(tmp_path, klingc):
    """The README's tour script checks exactly as the README shows."""
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    script = re.search(r"```kls\n(.*?)```", readme, re.S).group(1)
    shown = re.search(r"```text\n\$ klingc check pilot\.kls\n(.*?)```", readme, re.S).group(1)
    (tmp_path / "refs").mkdir()
    shutil.copy(EXAMPLES / "refs" / "coffee_shop.png", tmp_path / "refs")
    (tmp_path / "pilot.kls").write_text(script, encoding="utf-8")
    r = klingc("check", "pilot.kls", cwd=tmp_path)
    assert r.returncode == 1
    assert r.stdout == shown, "README.md's tour output is out of date:\n" + r.stdout


# The benchmark's generated feature script must stay a valid script, or the
# benchmark would time an early stop instead of a full check.

def test_generated_feature_is_deterministic_and_checks_clean(tmp_path, klingc):
    gen = feature_generator()
    text = gen.generate()
    assert text == gen.generate()
    assert 4_000 <= text.count("\n") <= 5_000
    assert text.count('scene "') == 150
    assert "한국어" in text or "Korean" in text
    (tmp_path / "feature.kls").write_text(text, encoding="utf-8")
    (tmp_path / "one.kls").write_text(gen.one_scene(), encoding="utf-8")
    r = klingc("check", "--format", "json", "feature.kls", "one.kls", cwd=tmp_path)
    assert r.returncode == 0, r.stdout[:2000]
    assert [d for d in json.loads(r.stdout) if d["severity"] != "note"] == []


def test_bench_runs(tmp_path):
    import subprocess
    import sys
    r = subprocess.run([sys.executable, str(REPO / "bench" / "run.py"), "--runs", "1", "--no-reference",
                        "--out", str(tmp_path)], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert "klingc check, feature script" in r.stdout
    assert "klingc check, one scene" in r.stdout
    assert "build / check, feature script, best (median): first run" in r.stdout

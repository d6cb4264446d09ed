"""The planner against brute force.

For random shot lists (up to 12 shots) every way of cutting the scene into
consecutive jobs is tried; the valid ones are those whose every job satisfies
the model profile, measured exactly: durations, shots per structured job,
reference inputs and frames (none with structured multi-shot), and the real
prompt lengths rendered from the Jinja2 templates as the request sends them, on
both API generations (``api: current`` and ``api: legacy``): the current
generation's whole ``shot n, m, words;`` prompt, and the ``Avoid:`` line that
``negative:`` adds where the request has no negative field. The planner (which measures prompts with its fast plain renderer
and bounds) must find exactly the split that the brute force finds best in the
documented order (``klingscript/planner/split.py``): the fewest jobs, then the
smallest longest job, then the smallest sum of squared durations, then the
earlier jobs get the extra shots (the last job starts latest, then the one
before it, and so on).
"""

from __future__ import annotations

import itertools
import textwrap
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from klingscript.backends.prompts import Renderer
from klingscript.compiler import check
from klingscript.diagnostics.model import Severity
from klingscript.lower import lower
from klingscript.planner.pricing import load_pricing
from klingscript.planner.scene import ScenePlanner, make_plan
from klingscript.planner.split import split

WORDS = ("the", "rain", "falls", "on", "a", "quiet", "street", "while", "neon", "signs", "flicker",
         "slowly", "camera", "pans", "across", "crowded", "market", "stalls", "lanterns", "glow")
NAMES = ("Ann", "Ben", "Cai", "Dov", "Eve", "Fay", "Gus", "Hal", "Ivy")


def compositions(n: int):
    """Every way to cut 0..n-1 into consecutive non-empty groups."""
    for cuts in itertools.product((False, True), repeat=n - 1):
        groups, start = [], 0
        for k, cut in enumerate(cuts, 1):
            if cut:
                groups.append((start, k))
                start = k
        groups.append((start, n))
        yield groups


def order(durations, groups) -> tuple:
    """A split's place in the documented order of preference (smaller is better): the number
    of jobs, the longest job, the sum of squared durations, then the jobs' starts from the
    last job back, latest first."""
    sums = [sum(durations[i:j]) for i, j in groups]
    return (len(groups), max(sums), sum(s * s for s in sums), tuple(-i for i, _ in reversed(groups)))


def brute_force(durations, valid):
    """The best valid split in the documented order, tried against every split, or None."""
    best = None
    for groups in compositions(len(durations)):
        if all(valid(i, j) for i, j in groups):
            if best is None or order(durations, groups) < order(durations, best):
                best = groups
    return best


# -- the splitting algorithm on abstract constraints ----------------------------------

@st.composite
def abstract_cases(draw):
    n = draw(st.integers(1, 12))
    durations = draw(st.lists(st.integers(1, 16), min_size=n, max_size=n))
    job_min = draw(st.integers(1, 5))
    job_max = draw(st.integers(max(job_min, 6), 16))
    per_job = draw(st.integers(1, 7))
    weight = draw(st.lists(st.integers(0, 5), min_size=n, max_size=n))  # e.g. reference inputs
    budget = draw(st.integers(3, 12))
    return durations, job_min, job_max, per_job, weight, budget


@settings(max_examples=300, deadline=None)
@given(abstract_cases())
def test_split_matches_brute_force(case):
    durations, job_min, job_max, per_job, weight, budget = case
    n = len(durations)

    def valid(i, j):
        return (job_min <= sum(durations[i:j]) <= job_max and j - i <= per_job
                and sum(weight[i:j]) <= budget)

    ends = [[j for j in range(i + 1, n + 1) if valid(i, j)] for i in range(n)]
    got = split(durations, ends)
    want = brute_force(durations, valid)
    if want is None:
        assert got is None
        return
    assert got == want


def test_split_breaks_ties_towards_balance():
    def ends_for(durations, most=15, per_job=6):
        n = len(durations)
        return [[j for j in range(i + 1, n + 1)
                 if 3 <= sum(durations[i:j]) <= most and j - i <= per_job] for i in range(n)]

    eight = [3, 3, 3, 3, 4, 3, 3, 3]               # the sitcom: 25 s in 8 shots
    assert split(eight, ends_for(eight)) == [(0, 4), (4, 8)]   # 12 s + 13 s, not 15 s + 10 s
    six = [5] * 6
    assert split(six, ends_for(six)) == [(0, 3), (3, 6)]
    uneven = [10, 2, 2, 2, 10]
    groups = split(uneven, ends_for(uneven))
    sums = [sum(uneven[i:j]) for i, j in groups]
    assert len(groups) == 2 and max(sums) == 14
    assert split([2], ends_for([2])) is None
    assert split([14, 2, 14], ends_for([14, 2, 14])) is None


# Each tie-break of the documented order decides one of these cases: given the
# splits that ``ends`` allows, it alone picks the answer (and the brute force agrees).

def _pinned(durations, ends, want):
    ends = [list(row) for row in ends]
    assert brute_force(durations, lambda i, j: j in ends[i]) == want
    assert split(durations, ends) == want


def test_split_fewest_jobs_first():
    # One 12 s job, though three jobs of 4 s would be shorter and more even.
    _pinned([4, 4, 4], [[1, 2, 3], [2, 3], [3]], [(0, 3)])
    # Two jobs (10 s + 10 s) rather than three.
    _pinned([4, 6, 6, 4], [[1, 2], [2, 3], [3, 4], [4]], [(0, 2), (2, 4)])


def test_split_smallest_longest_job_before_squares():
    # 5 s + 5 s + 1 s (longest 5 s, squares 51) against 6 s + 3 s + 2 s (longest 6 s, squares
    # 49): the smaller longest job wins although its squares are more.
    _pinned([5, 1, 3, 1, 1], [[1, 2], [4], [3], [5], [5]], [(0, 1), (1, 4), (4, 5)])


def test_split_smallest_sum_of_squares_when_longest_ties():
    # 6 s + 4 s + 4 s (squares 68) against 6 s + 6 s + 2 s (squares 76), both longest 6 s.
    _pinned([6, 4, 2, 2], [[1], [2, 3], [4], [4]], [(0, 1), (1, 2), (2, 4)])


def test_split_earlier_jobs_get_the_extra_shots():
    # 6 s + 4 s or 4 s + 6 s: the first job takes the third shot.
    _pinned([2, 2, 2, 2, 2], [[2, 3], [], [5], [5], []], [(0, 3), (3, 5)])
    # Three jobs of 3 + 1 + 2 shots or 2 + 3 + 1 (1 s each, equal on every other count): the
    # last job starts latest, and then the one before it, rather than the first being longest.
    _pinned([1] * 6, [[2, 3], [], [5], [4], [6], [6]], [(0, 2), (2, 5), (5, 6)])


# -- the planner on real scripts, measured with the real templates ---------------------

@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    from PIL import Image

    root = tmp_path_factory.mktemp("planner")
    (root / "refs").mkdir()
    Image.new("RGB", (400, 400), (90, 120, 150)).save(root / "refs" / "a.png")
    Image.new("RGB", (400, 400), (150, 120, 90)).save(root / "refs" / "b.png")
    return root


@st.composite
def scripts(draw):
    omni = draw(st.booleans())
    api = draw(st.sampled_from(("current", "legacy")))
    mode = draw(st.sampled_from(("api", "api", "text")))
    n = draw(st.integers(1, 12))
    shots = []
    for k in range(1, n + 1):
        seconds = draw(st.integers(1, 15))
        # (70-80 words make shots of about 500 characters: six of them fit 512 each but not,
        # in Kling's shot form, the 3,072 of a whole current prompt)
        size = draw(st.sampled_from((3, 8, 15, 40, 70, 75, 80, 90)))
        words = " ".join(draw(st.lists(st.sampled_from(WORDS), min_size=size, max_size=size)))
        who = draw(st.lists(st.sampled_from(NAMES), max_size=4, unique=True))
        mentions = " ".join("@" + w for w in who)
        line = f"    Shot {k} ({seconds}s): {mentions} {words}."
        if who and draw(st.booleans()):
            line += f'\n        @{who[0]} (calm): "We should go."'
        shots.append(line)
    style = " ".join(draw(st.lists(st.sampled_from(WORDS), min_size=0, max_size=30)))
    elements = []
    for name in NAMES:
        images = ""
        if omni:
            count = draw(st.integers(0, 2))
            if count:
                images = "\n    images: " + ", ".join(('"refs/a.png"', '"refs/b.png"')[:count])
        elements.append(f'character {name}:\n    description: "person called {name.lower()} '
                        f'in a grey coat"\n    voice: "soft"{images}')
    head = textwrap.dedent(f"""\
        title: Random
        model: {"kling-v3-omni" if omni else "kling-v3"}
        api: {api}
        multishot: {mode}
        """)
    if style:
        head += f'style: "{style}"\n'
    negative = " ".join(draw(st.lists(st.sampled_from(WORDS), min_size=0, max_size=40)))
    if negative:
        head += f'negative: "{negative}"\n'
    frames = ""
    if draw(st.booleans()):   # frames in every mode: the planner keeps them off structured jobs
        frames = '    first frame: "refs/a.png"\n'
        if draw(st.booleans()):
            frames += '    last frame: "refs/b.png"\n'
    body = "\n".join(elements) + '\n\nscene "Random":\n    sound: "wind"\n' + frames + "\n".join(shots) + "\n"
    return head + "\n" + body


def _words(text: str) -> str:
    """A shot's words in Kling's documented form: one line, no semicolon."""
    return " ".join(text.replace(";", ",").split())


def _sent(api: str, kind: str, prompt, multi, negative):
    """What Kling measures of a job's prompt, written out from Kling's pages and klingc's
    documented choices (not from the planner): (the whole prompt or None, every shot's text).
    Current: structured shots as `shot n, m, words;` in one prompt of at most 3,072 characters,
    each shot's words at most 512; no negative field, so `negative:` is an `Avoid: ....` line
    (after the first shot's words). Legacy: `multi_prompt[].prompt` each at most 512, the prompt
    at most 2,500; `negative_prompt` on text and image to video, else the `Avoid:` line."""
    line = f"Avoid: {negative.strip().rstrip('.')}." if negative else None
    inline = line if line and (api == "current" or kind == "omni") else None
    if multi:
        shots = [[i, text, d] for i, text, d in multi]
        if inline:
            shots[0][1] += (" " if api == "current" else "\n") + inline
        if api == "current":
            words = [_words(t) for _, t, _ in shots]
            whole = " ".join(f"shot {i}, {d}, {w};" for (i, _, d), w in zip(shots, words))
            return whole, words
        return None, [t for _, t, _ in shots]
    return (f"{prompt}\n{inline}" if inline else prompt), []


def _exact(planner: ScenePlanner, n: int):
    """Whether shots i..j-1 make a valid job, measured with the Jinja2 templates."""
    scene = planner.scene
    p = scene.profile
    api = scene.settings.api
    # On the current API generation `multishot: text` is Kling's shot form: structured shots.
    text_mode = scene.settings.multishot == "text" and api == "legacy"

    def valid(i, j):
        shots = scene.shots[i:j]
        if not p.job_min <= sum(s.seconds for s in shots) <= p.job_max:
            return False
        if len(shots) > 1 and not text_mode and len(shots) > p.shots_per_job:
            return False
        names = planner.names(i, j)
        imaged = [x for x in names if planner.elements[x].images]
        # Kling's input limits, from the profile: a first frame goes with the first job, a
        # last frame with the last; no last frame without a first; with a frame, at most
        # `elements_with_frame_max` elements; a last frame with at most
        # `end_frame_images_max` images (frames and one-image elements).
        first = scene.first_frame if i == 0 else None
        last = scene.last_frame if j == n else None
        frames = (first is not None) + (last is not None)
        if last is not None and first is None and not p.frames.last_alone:
            return False
        kling_elements = [x for x in imaged if len(planner.elements[x].images) >= p.element.kling_images_min]
        pictures = len(imaged) - len(kling_elements) + frames
        if imaged and len(imaged) + frames > p.max_inputs:
            return False
        if imaged and frames and len(kling_elements) > p.references.elements_with_frame_max:
            return False
        if imaged and last is not None and pictures > p.api.end_frame_images_max:
            return False
        # A frame does not go with structured multi-shot (the profile's rule).
        if frames and len(shots) > 1 and not text_mode and not p.frames.with_multishot:
            return False
        kind, _ = planner.endpoint(names, first, last)
        kling, images = planner.lists(names, kind)
        prompt, multi = planner.prompts(i, j, planner.refs("api", kling, images))
        whole, texts = _sent(api, kind, prompt, multi, scene.settings.negative)
        if whole is not None and len(whole) > p.prompt_max:
            return False
        return all(len(text) <= p.shot_prompt_max for text in texts)

    return valid


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
@given(script=scripts())
def test_planner_matches_brute_force(project, script):
    path = project / "random.kls"
    path.write_text(script, encoding="utf-8")
    checked = check(path)
    assert not [d for d in checked.diagnostics if d.severity is Severity.ERROR
                and d.code not in ("KLS302", "KLS305", "KLS306", "KLS308")], checked.diagnostics
    production = lower(checked.program)
    (scene,) = production.scenes
    plan = make_plan(production)
    exact = ScenePlanner(scene, production, Renderer(), load_pricing())
    n = len(scene.shots)
    durations = [s.seconds for s in scene.shots]
    valid = _exact(exact, n)
    want = brute_force(durations, valid)
    errors = [d for d in plan.diagnostics if d.severity is Severity.ERROR]
    if want is None:
        assert plan.jobs == () and errors, "brute force finds no valid split, the planner must say why"
        return
    assert not errors, errors
    groups = [(job.shots[0].number - 1, job.shots[-1].number) for job in plan.jobs]
    assert [s.number for job in plan.jobs for s in job.shots] == list(range(1, n + 1))
    assert groups == want
    assert [job.duration for job in plan.jobs] == [sum(durations[i:j]) for i, j in want]
    assert [job.part for job in plan.jobs] == list(range(1, len(groups) + 1))
    # every job of the split it proposes is a request Kling's rules accept
    from klingscript.backends.emit import finish
    built = finish(plan, Renderer(), requests=True)
    assert all(not job.built[2] for job in built.jobs), [job.built[2] for job in built.jobs]

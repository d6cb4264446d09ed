"""The planner: scenes become Kling generation jobs.

Every scene becomes one or more jobs, in script order; a shot is never cut in
two. A scene that one job cannot carry is split into the fewest jobs that
each satisfy the scene's model profile:

- the job's duration within the profile's range (3-15 s on Kling 3.0);
- at most ``shots.per_job`` shots in a structured multi-shot job;
- the prompt within ``prompt.max_chars``, and each shot's prompt within
  ``prompt.shot_max_chars`` in a structured job;
- at most ``references.max_inputs`` reference inputs (elements, reference
  images and frames) in an omni job.

Ties between splits with the fewest jobs go to the most balanced one: the
smallest longest part, then the smallest sum of squared part durations (the
least variance); a tie after that gives the earlier parts the extra shots.
The preamble, scene sound, location and style go into every part; a first
frame goes with the first part and a last frame with the last.

A job of one shot is sent as a single prompt; a job of several shots as
structured multi-shot (``multishot: api``) or as ``Shot N (Ds): ...`` lines in
one prompt (``multishot: text``).

``make_plan`` returns the jobs and the diagnostics of compilation (KLS302,
KLS305, KLS306, KLS308, and the KLS404 note for a split scene). Building the
API requests and ``plan.json`` (``plan_json``) needs the request models and is
done only by ``klingc build``.
"""

import json
from pathlib import Path
from typing import NamedTuple, Sequence

from .. import lower as L
from ..diagnostics.codes import make
from ..diagnostics.model import Diagnostic, Severity

FORMAT_VERSION = "0.1"


# -- splitting ----------------------------------------------------------------

def split(durations: Sequence[int], ends: Sequence[Sequence[int]]) -> list[tuple[int, int]] | None:
    """The best split of shots ``0..n-1`` into consecutive groups, or None.

    ``ends[i]`` lists every ``j`` such that shots ``i..j-1`` make a valid job.
    The best split has the fewest groups; then the smallest longest group
    (in seconds); then the smallest sum of squared group durations; then the
    earlier groups are the longer ones.
    """
    n = len(durations)
    if n == 0:
        return []
    prefix = [0]
    for d in durations:
        prefix.append(prefix[-1] + d)
    INF = float("inf")
    starts: list[list[int]] = [[] for _ in range(n + 1)]   # j -> every i with (i, j) valid
    for i in range(n):
        for j in ends[i]:
            starts[j].append(i)
    # Fewest groups for each prefix.
    count = [INF] * (n + 1)
    count[0] = 0
    for j in range(1, n + 1):
        for i in starts[j]:
            if count[i] + 1 < count[j]:
                count[j] = count[i] + 1
    if count[n] == INF:
        return None
    k_best = int(count[n])
    # With exactly k groups: the smallest longest group, then the smallest sum of squares.
    longest = [[INF] * (n + 1) for _ in range(k_best + 1)]
    longest[0][0] = 0
    for k in range(1, k_best + 1):
        row, prev = longest[k], longest[k - 1]
        for j in range(1, n + 1):
            best = INF
            for i in starts[j]:
                if prev[i] < INF:
                    v = max(prev[i], prefix[j] - prefix[i])
                    if v < best:
                        best = v
            row[j] = best
    limit = longest[k_best][n]
    squares = [[INF] * (n + 1) for _ in range(k_best + 1)]
    squares[0][0] = 0
    for k in range(1, k_best + 1):
        row, prev = squares[k], squares[k - 1]
        for j in range(1, n + 1):
            best = INF
            for i in starts[j]:
                d = prefix[j] - prefix[i]
                if d <= limit and prev[i] < INF:
                    v = prev[i] + d * d
                    if v < best:
                        best = v
            row[j] = best
    groups: list[tuple[int, int]] = []
    j = n
    for k in range(k_best, 0, -1):
        target = squares[k][j]
        chosen = None
        for i in sorted(starts[j], reverse=True):  # the last group as short as possible
            d = prefix[j] - prefix[i]
            if d <= limit and squares[k - 1][i] + d * d == target:
                chosen = i
                break
        assert chosen is not None
        groups.append((chosen, j))
        j = chosen
    groups.reverse()
    return groups


def reachable(n: int, ends: Sequence[Sequence[int]]) -> list[bool]:
    """Which shot positions a sequence of valid groups can reach from the start."""
    reach = [False] * (n + 1)
    reach[0] = True
    for i in range(n):
        if reach[i]:
            for j in ends[i]:
                reach[j] = True
    return reach


# -- jobs -----------------------------------------------------------------------

class Job(NamedTuple):
    scene: L.Scene
    part: int
    parts: int
    shots: tuple[L.Shot, ...]
    duration: int
    endpoint: str                # API path
    kind: str                    # "text2video", "image2video" or "omni"
    structured: bool             # multi_shot with multi_prompt
    names: tuple[str, ...]       # every declared element the job mentions, first mention first
    kling_elements: tuple[str, ...]   # element_list, in order (<<<element_k>>>)
    ref_images: tuple[str, ...]       # elements sent as one reference image, in order (<<<image_k>>>)
    ref_image_paths: tuple[str, ...]  # their images (the frontal one), in the same order
    first_frame: L.Frame | None
    last_frame: L.Frame | None
    prompt: str | None
    multi_prompt: tuple[tuple[int, str, int], ...]   # (index, prompt, seconds)
    web: str | None              # the paste-ready page for the web app (set by `finish`)
    credits: float
    # (request, job id, API-rule problems, JSON text or None), when `finish` built it too
    built: tuple | None = None

    @property
    def settings(self) -> L.Settings:
        return self.scene.settings

    @property
    def profile(self):
        return self.scene.profile

    @property
    def shot_numbers(self) -> list[int]:
        return [s.number for s in self.shots]

    @property
    def inputs(self) -> int:
        frames = (self.first_frame is not None) + (self.last_frame is not None)
        return len(self.kling_elements) + len(self.ref_images) + (frames if self.kind == "omni" else 0)


class Plan(NamedTuple):
    production: L.Production
    jobs: tuple[Job, ...]
    diagnostics: tuple[Diagnostic, ...]
    pricing: dict
    # (request, element id, endpoint, API-rule problems) of each of `elements`, when `finish` built them
    built_elements: tuple | None = None

    @property
    def elements(self) -> list[L.Element]:
        """The elements that become Kling elements, in order of first use."""
        seen: list[str] = []
        for job in self.jobs:
            for name in job.kling_elements:
                if name not in seen:
                    seen.append(name)
        return [self.production.elements[n] for n in seen]


# -- pricing --------------------------------------------------------------------

class PricingError(Exception):
    """A pricing file that cannot be read or lacks a rate."""


def load_pricing(path: str | Path | None = None) -> dict:
    from ..resources import data_toml

    if path is None:
        data = data_toml("pricing.toml")
    else:
        import tomllib

        try:
            with open(path, "rb") as f:
                data = tomllib.load(f)
        except FileNotFoundError:
            raise PricingError(f"{path}: no such pricing file") from None
        except OSError as e:
            raise PricingError(f"{path}: cannot read ({e.strerror or e})") from None
        except tomllib.TOMLDecodeError as e:
            raise PricingError(f"{path}: not a valid TOML file ({e})") from None
    table = data.get("per_second")
    if not isinstance(table, dict) or not table:
        raise PricingError(f"{path or 'pricing.toml'}: needs a [per_second.\"720p\"] table "
                           f"with `silent` and `audio` credits per second")
    for res, rates in table.items():
        for key in ("silent", "audio"):
            value = rates.get(key) if isinstance(rates, dict) else None
            if not isinstance(value, (int, float)) or isinstance(value, bool) or value < 0:
                raise PricingError(f"{path or 'pricing.toml'}: per_second.\"{res}\".{key} must be "
                                   f"a number of credits per second")
    return data


def rate(pricing: dict, resolution: str, audio: str) -> float:
    table = pricing["per_second"].get(resolution)
    if table is None:
        raise PricingError(f"the pricing has no rate for {resolution} "
                           f"(it has {', '.join(pricing['per_second'])})")
    return table["audio" if audio == "on" else "silent"]


def number(x: float):
    """Credits as written in output: whole numbers without a decimal point."""
    if isinstance(x, float) and x.is_integer():
        return int(x)
    return round(x, 4) if isinstance(x, float) else x


# -- planning a scene -------------------------------------------------------------

def _shots_label(shots: Sequence[L.Shot]) -> str:
    if len(shots) == 1:
        return f"Shot {shots[0].number}"
    return f"Shots {shots[0].number}–{shots[-1].number}"


class _Candidate(NamedTuple):
    ok: bool
    reason: str                  # why not, for a writer
    code: str                    # the code of the reason (KLS302/305/306)
    span: object | None          # where the reason points, when it is one shot


class ScenePlanner:
    def __init__(self, scene: L.Scene, production: L.Production, renderer, pricing: dict):
        self.scene = scene
        self.production = production
        self.elements = production.elements
        self.renderer = renderer
        self.pricing = pricing
        self.profile = scene.profile
        self.diags: list[Diagnostic] = []
        p = self.profile
        self.job_min, self.job_max = p.job_min, p.job_max
        self.per_job = p.shots_per_job
        self.prompt_max, self.shot_prompt_max = p.prompt_max, p.shot_prompt_max
        self.max_inputs = p.max_inputs
        self.text_mode = scene.settings.multishot == "text"
        refer_min = int(p.element.get("refer_images_min", 1))
        self.element_min_images = 1 + refer_min
        self.shot_names = [self._names_of(shot) for shot in scene.shots]
        self.head_names = self._head_names()
        self._cache: dict = {}
        self._shot_prompts: dict = {}
        self._longest: list[int] | None = None

    # -- element bookkeeping --
    def _names_of(self, shot: L.Shot) -> list[str]:
        out: list[str] = []
        for m in L.shot_mentions(shot):
            if m.declared and m.name not in out:
                out.append(m.name)
        return out

    def _head_names(self) -> list[str]:
        out: list[str] = []
        if self.scene.location is not None and self.scene.location.declared:
            out.append(self.scene.location.name)
        for line in self.scene.preamble:
            for m in L._line_mentions(line):
                if m.declared and m.name not in out:
                    out.append(m.name)
        return out

    def names(self, i: int, j: int) -> list[str]:
        out = list(self.head_names)
        for k in range(i, j):
            for name in self.shot_names[k]:
                if name not in out:
                    out.append(name)
        return out

    def is_kling_element(self, name: str) -> bool:
        return len(self.elements[name].images) >= self.element_min_images

    def imaged(self, names) -> list[str]:
        return [n for n in names if self.elements[n].images]

    def endpoint(self, names, first, last) -> tuple[str, str]:
        eps = self.profile.endpoints
        if self.imaged(names) and eps.get("omni"):
            return "omni", eps["omni"]
        if (first or last) and eps.get("image2video"):
            return "image2video", eps["image2video"]
        if not first and not last and eps.get("text2video"):
            return "text2video", eps["text2video"]
        if eps.get("omni"):
            return "omni", eps["omni"]
        for kind in ("image2video", "text2video"):
            if eps.get(kind):
                return kind, eps[kind]
        return "text2video", ""

    def frames(self, i: int, j: int, n: int):
        first = self.scene.first_frame if i == 0 else None
        last = self.scene.last_frame if j == n else None
        return first, last

    def lists(self, names, kind):
        if kind != "omni":
            return (), ()
        imaged = self.imaged(names)
        kling = tuple(n for n in imaged if self.is_kling_element(n))
        images = tuple(n for n in imaged if not self.is_kling_element(n))
        return kling, images

    def refs(self, mode: str, kling=(), images=()):
        from ..backends.prompts import Refs

        tokens = {}
        if mode == "api":
            tokens.update({n: f"<<<element_{k}>>>" for k, n in enumerate(kling, 1)})
            tokens.update({n: f"<<<image_{k}>>>" for k, n in enumerate(images, 1)})
        return Refs(self.elements, mode, tokens)

    # -- prompts --
    def shortest(self, k: int) -> int:
        """The length of shot k's prompt where it is shortest: not first, its cast introduced before."""
        shot = self.scene.shots[k]
        names = set(self.names(0, len(self.scene.shots)))
        kind = "omni" if self.imaged(list(names)) and self.profile.endpoints.get("omni") else "text2video"
        kling, images = self.lists(self.shot_names[k], kind)
        refs = self.refs("api", kling, images)
        return len(self.renderer.shot(self.scene, shot, 2, False, refs, names, names))

    def longest(self, k: int) -> int:
        """The length of shot k's prompt where it is longest (see ``_candidate``)."""
        if self._longest is None:
            names = self.names(0, len(self.scene.shots))
            kind = "omni" if self.imaged(names) and self.profile.endpoints.get("omni") else "text2video"
            kling, images = self.lists(names, kind)
            refs = self.refs("api", kling, images)
            self._longest = [len(self.renderer.shot(self.scene, shot, 1, True, refs))
                             for shot in self.scene.shots]
        return self._longest[k]


    def shot_prompts(self, i: int, j: int, refs) -> tuple[tuple[int, str, int], ...]:
        """The multi_prompt of the structured job of shots i..j-1."""
        from ..backends.prompts import cast_names

        out = []
        described: set = set(self.head_names)
        voiced: set = set()
        for L_ in self.scene.preamble:
            if isinstance(L_, L.Speech) and L_.element is not None:
                voiced.add(L_.element)
        for idx, k in enumerate(range(i, j), 1):
            shot = self.scene.shots[k]
            first = idx == 1
            before_d = frozenset(described) if not first else frozenset()
            before_v = frozenset(voiced) if not first else frozenset()
            used = self.head_names + self.shot_names[k]
            key = (k, idx, first, before_d & set(used), before_v & set(used),
                   tuple((n, refs.tokens.get(n), refs.imaged(n)) for n in used), refs.mode)
            text = self._shot_prompts.get(key)
            if text is None:
                text = self._shot_prompts[key] = self.renderer.shot(
                    self.scene, shot, idx, first, refs, before_d, before_v)
            out.append((idx, text, shot.seconds))
            names, speakers = cast_names(shot)
            described |= names
            voiced |= speakers
        return tuple(out)

    def prompts(self, i: int, j: int, refs):
        """(prompt, multi_prompt) of the job of shots i..j-1 (all shots for a shotless scene)."""
        scene = self.scene
        shots = scene.shots[i:j]
        if len(shots) > 1 and not self.text_mode:
            return None, self.shot_prompts(i, j, refs)
        return self.renderer.single(scene, shots, refs, numbered=len(shots) > 1), ()

    # -- feasibility --
    def candidate(self, i: int, j: int, n: int) -> _Candidate:
        key = (i, j)
        hit = self._cache.get(key)
        if hit is not None:
            return hit
        result = self._candidate(i, j, n)
        self._cache[key] = result
        return result

    def _candidate(self, i: int, j: int, n: int) -> _Candidate:
        shots = self.scene.shots[i:j]
        duration = sum(s.seconds for s in shots) if shots else (self.scene.seconds or 0)
        one = shots[0].span if len(shots) == 1 else None

        def label() -> str:  # only a failed candidate needs it
            return _shots_label(shots) if shots else "the scene"

        if duration < self.job_min:
            return _Candidate(False, f"{label()} {'is' if len(shots) <= 1 else 'are'} {duration}s, "
                              f"under the {self.job_min}s a job lasts at least", "KLS302", one)
        if duration > self.job_max:
            return _Candidate(False, f"{label()} {'is' if len(shots) <= 1 else 'are'} {duration}s, "
                              f"over the {self.job_max}s a job lasts at most", "KLS302", one)
        if len(shots) > 1 and not self.text_mode and len(shots) > self.per_job:
            return _Candidate(False, f"{label()} are {len(shots)} shots, over the {self.per_job} "
                              f"a structured multi-shot job takes", "KLS302", None)
        names = self.names(i, j)
        first, last = self.frames(i, j, n if shots else 0)
        kind, _ = self.endpoint(names, first, last)
        kling, images = self.lists(names, kind)
        if kind == "omni":
            frames = (first is not None) + (last is not None)
            inputs = len(kling) + len(images) + frames
            if inputs > self.max_inputs:
                what = ["@" + n for n in kling + images]
                what += [f"the {k}" for k, f in (("first frame", first), ("last frame", last)) if f]
                return _Candidate(False, f"{label()} need{'s' if len(shots) <= 1 else ''} "
                                  f"{inputs} reference inputs ({', '.join(what)}), over the "
                                  f"{self.max_inputs} {self.profile.label} takes", "KLS306", one)
        if not self.renderer.exact and shots and (len(shots) == 1 or not self.text_mode):
            # A shot's prompt is longest as the first of its job, with every cast member
            # described and numbered scene-wide: when that fits, every placement fits.
            for k in range(i, j):
                if self.longest(k) > (self.shot_prompt_max if len(shots) > 1 else self.prompt_max):
                    break
            else:
                return _Candidate(True, "", "", None)
        refs = self.refs("api", kling, images)
        prompt, multi = self.prompts(i, j, refs)
        if prompt is not None and len(prompt) > self.prompt_max:
            return _Candidate(False, f"{label()} make{'s' if len(shots) <= 1 else ''} a prompt of "
                              f"{len(prompt):,} characters, over the {self.prompt_max:,} Kling takes",
                              "KLS305", one)
        for idx, text, _ in multi:
            if len(text) > self.shot_prompt_max:
                shot = shots[idx - 1]
                return _Candidate(False, f"the prompt of Shot {shot.number} is {len(text):,} characters, "
                                  f"over the {self.shot_prompt_max} Kling takes for one shot of a "
                                  f"structured job", "KLS305", shot.span)
        return _Candidate(True, "", "", None)

    # -- the plan --
    def plan(self) -> list[Job]:
        scene = self.scene
        if not scene.shots:
            return self._shotless()
        n = len(scene.shots)
        if self.candidate(0, n, n).ok:
            groups = [(0, n)]  # one job: no split has fewer, so there is nothing to search
        else:
            durations = [s.seconds for s in scene.shots]
            ends: list[list[int]] = []
            for i in range(n):
                row = []
                total = 0
                for j in range(i + 1, n + 1):
                    total += durations[j - 1]
                    if total > self.job_max and j > i + 1:
                        break
                    if self.candidate(i, j, n).ok:
                        row.append(j)
                ends.append(row)
            groups = split(durations, ends)
            if groups is None:
                self._explain(ends, durations)
                return []
        jobs = [self._job(i, j, n, part, len(groups)) for part, (i, j) in enumerate(groups, 1)]
        if len(jobs) > 1:
            parts = "; ".join(f"{_shots_label(j.shots)} ({j.duration}s)" for j in jobs)
            why = []
            if scene.duration > self.job_max:
                why.append(f"{scene.duration}s is over the {self.job_max}s of one job")
            if n > self.per_job and not self.text_mode:
                why.append(f"{n} shots are over the {self.per_job} of one structured job")
            fewest = max(-(-scene.duration // self.job_max),
                         -(-n // self.per_job) if not self.text_mode else 1)
            if len(jobs) > fewest:
                why.append("prompt lengths or reference inputs need more jobs (the first shot of each "
                           "job carries the scene's location, sound, preamble and style)")
            reason = f" ({' and '.join(why)})" if why else ""
            self.diags.append(make(
                "KLS404", scene.title_span,
                f'scene "{scene.title}" is split into {len(jobs)} jobs{reason}: {parts}',
                help="each job repeats the scene's location, sound, preamble and style"))
        self._combinations(jobs)
        return jobs

    def _shotless(self) -> list[Job]:
        scene = self.scene
        c = self.candidate(0, 0, 0)
        if not c.ok:
            span = scene.title_span
            seconds = scene.seconds or 0
            if c.code == "KLS302":
                if seconds > self.job_max:
                    message = (f'scene "{scene.title}" has no shots, so it is one job, and it lasts '
                               f'{seconds}s{" (inferred: it has no duration)" if scene.inferred else ""}; '
                               f"a {self.profile.label} job lasts {self.job_min} to {self.job_max} seconds")
                    help = ("write it as shots (`Shot 1 (8s): …`) so klingc can split it into jobs, "
                            f"or make it ({self.job_max}s) at most")
                else:
                    message = (f'scene "{scene.title}" lasts {seconds}s'
                               f'{" (inferred: it has no duration)" if scene.inferred else ""}; '
                               f"a {self.profile.label} job lasts {self.job_min} to {self.job_max} seconds")
                    help = (f"give it a duration of {self.job_min}s or more: "
                            f'`scene "{scene.title}" ({self.job_min}s):`')
                self.diags.append(make("KLS302", span, message, help=help))
            else:
                self.diags.append(make(c.code, span, f'scene "{scene.title}": {c.reason}',
                                       help=_fix_help(c.code, self)))
            return []
        jobs = [self._job(0, 0, 0, 1, 1)]
        self._combinations(jobs)
        return jobs

    def _job(self, i: int, j: int, n: int, part: int, parts: int) -> Job:
        scene = self.scene
        shots = scene.shots[i:j]
        duration = sum(s.seconds for s in shots) if shots else (scene.seconds or 0)
        names = self.names(i, j)
        first, last = self.frames(i, j, n)
        kind, endpoint = self.endpoint(names, first, last)
        kling, images = self.lists(names, kind)
        structured = len(shots) > 1 and not self.text_mode
        credits = duration * rate(self.pricing, scene.settings.resolution, scene.settings.audio)
        paths = tuple(self.elements[n].images[0] for n in images)
        return Job(scene, part, parts, tuple(shots), duration, endpoint, kind, structured,
                   tuple(names), kling, images, paths, first, last, None, (), None, credits)

    def finish(self, job: Job) -> Job:
        """The job with its prompts rendered by this planner's renderer, and its web-app page."""
        scene = self.scene
        shots = job.shots
        i = shots[0].number - 1 if shots else 0
        j = shots[-1].number if shots else 0
        api = self.refs("api", job.kling_elements, job.ref_images)
        prompt, multi = self.prompts(i, j, api)
        web_refs = self.refs("web")
        # Without elements with images, web-app prompts read exactly as API prompts.
        same = not self.imaged(job.names)
        if multi:
            web_multi = multi if same else self.prompts(i, j, web_refs)[1]
            blocks = [{"label": f"Shot {idx} ({seconds}s)", "text": text} for idx, text, seconds in web_multi]
        else:
            text = prompt if same else self.prompts(i, j, web_refs)[0]
            blocks = [{"label": f"Prompt ({job.duration}s)", "text": text}]
        page = {"part": job.part, "parts": job.parts, "seconds": job.duration,
                "shot_numbers": [s.number for s in shots], "structured": bool(multi),
                "elements": ["@" + n for n in self.imaged(job.names)],
                "first_frame": job.first_frame.path if job.first_frame else None,
                "last_frame": job.last_frame.path if job.last_frame else None}
        web = self.renderer.webapp(scene, page, blocks, web_refs)
        label = _shots_label(shots) if shots else f'scene "{scene.title}"'
        span = shots[0].span if len(shots) == 1 else scene.title_span
        if prompt is not None and len(prompt) > self.prompt_max:
            self.diags.append(make("KLS305", span, f"the prompt of {label} is {len(prompt):,} characters "
                                   f"with these templates, over the {self.prompt_max:,} Kling takes",
                                   help=_fix_help("KLS305", self)))
        for idx, text, _ in multi:
            if len(text) > self.shot_prompt_max:
                shot = shots[idx - 1]
                self.diags.append(make("KLS305", shot.span,
                                       f"the prompt of Shot {shot.number} is {len(text):,} characters with "
                                       f"these templates, over the {self.shot_prompt_max} Kling takes for "
                                       f"one shot of a structured job", help=_fix_help("KLS305", self)))
        return job._replace(prompt=prompt, multi_prompt=multi, web=web)

    # -- problems --
    def _explain(self, ends, durations) -> None:
        """KLS302 (or KLS305/KLS306) for a scene no set of jobs can carry: why, and where."""
        scene = self.scene
        n = len(durations)
        total = sum(durations)
        if total < self.job_min:
            self.diags.append(make(
                "KLS302", scene.title_span,
                f'scene "{scene.title}" lasts {total}s; a {self.profile.label} job lasts '
                f"{self.job_min} to {self.job_max} seconds, and a shot is never cut or padded",
                help=f"make its shots {self.job_min}s or more in all"))
            return
        reach = reachable(n, ends)
        stuck = max(p for p in range(n) if reach[p])
        shot = scene.shots[stuck]
        # A problem of the shot itself (its prompt, its inputs, its length) comes first.
        alone = self.candidate(stuck, stuck + 1, n)
        if not alone.ok and alone.code in ("KLS305", "KLS306") and all(
                not self.candidate(stuck, j, n).ok for j in range(stuck + 1, n + 1)):
            self.diags.append(make(alone.code, alone.span or shot.span,
                                   f'{alone.reason}', help=_fix_help(alone.code, self)))
            return
        if not self.text_mode and not alone.ok and all(
                not self.candidate(stuck, j, n).ok for j in range(stuck + 1, n + 1)):
            shortest = self.shortest(stuck)
            if shortest > self.shot_prompt_max:
                self.diags.append(make(
                    "KLS305", shot.span,
                    f"the prompt of Shot {shot.number} is at least {shortest:,} characters, over the "
                    f"{self.shot_prompt_max} Kling takes for one shot of a structured job, and the shot "
                    f"cannot be a job of its own ({alone.reason})",
                    help=_fix_help("KLS305", self)))
                return
        if shot.seconds > self.job_max:
            self.diags.append(make(
                "KLS302", shot.span,
                f"Shot {shot.number} lasts {shot.seconds}s, longer than a {self.profile.label} "
                f"job ({self.job_max}s at most); a shot is never cut in two",
                help=f"split it into two shots of {self.job_max}s or less"))
            return
        reasons = []
        for j in range(stuck + 1, n + 1):
            c = self.candidate(stuck, j, n)
            if not c.ok and c.reason not in reasons:
                reasons.append(c.reason)
            if sum(durations[stuck:j]) > self.job_max:
                break
        before = ""
        if stuck > 0:
            before = f" (the jobs before it end at Shot {scene.shots[stuck - 1].number})"
        message = (f'no set of jobs can carry scene "{scene.title}" from Shot {shot.number} on'
                   f"{before}: " + "; ".join(reasons))
        help = (f"change the durations so that consecutive shots add up to jobs of "
                f"{self.job_min} to {self.job_max} seconds (a shot is never cut in two)")
        if shot.seconds < self.job_min:
            help = (f"lengthen Shot {shot.number} to ({self.job_min}s), or shorten a neighbouring shot "
                    f"so they fit in one job of {self.job_max}s at most")
        self.diags.append(make("KLS302", shot.span, message, help=help))

    def _combinations(self, jobs: list[Job]) -> None:
        """KLS308 (inputs the model does not combine) and KLS305 for the negative prompt."""
        scene = self.scene
        profile = self.profile
        label = profile.label
        frames = profile.frames
        reported = set()

        def once(key, code, span, message, help):
            if key not in reported:
                reported.add(key)
                self.diags.append(make(code, span, message, help=help))

        for job in jobs:
            imaged = self.imaged(job.names)
            if imaged and job.kind != "omni":
                name = imaged[0]
                span = next((m.span for m in L.mentions(scene) if m.name == name), scene.title_span)
                once("omni", "KLS308", span,
                     f"@{name} has reference images, but {label} takes no element images",
                     'use `model: kling-v3-omni` (for the document or this scene), or remove the images')
            for frame, key in ((job.first_frame, "first frame"), (job.last_frame, "last frame")):
                if frame is None:
                    continue
                if not frames.get(key.replace(" ", "_"), True):
                    once(key, "KLS308", frame.span, f"{label} does not take a {key}",
                         f"remove the `{key}:` line or choose another model")
                if job.structured and not frames.get("with_multishot", False):
                    once(key + "/multishot", "KLS308", frame.span,
                         f"{label} does not take a {key} together with structured multi-shot "
                         f"({_shots_label(job.shots)} are one structured job)",
                         "write `multishot: text` in this scene (the shots go into one prompt), "
                         "or remove the frame")
            if job.kind == "omni" and job.last_frame is not None and job.first_frame is None \
                    and not frames.get("last_alone", False):
                why = " (the first frame goes with the first part)" if job.parts > 1 and scene.first_frame else ""
                once("last alone", "KLS308", job.last_frame.span,
                     f"{label} does not take a last frame without a first frame{why}",
                     "add a `first frame:` to the scene, or remove the last frame")
        negative = scene.settings.negative
        if negative and len(negative) > profile.negative_max:
            span = scene.setting_spans.get("negative", scene.title_span)
            once("negative", "KLS305", span,
                 f"the negative prompt is {len(negative):,} characters, over the "
                 f"{profile.negative_max:,} Kling takes",
                 f"shorten it by {len(negative) - profile.negative_max:,} characters")


def _fix_help(code: str, planner: ScenePlanner) -> str:
    if code == "KLS305":
        return ("shorten the shot's text or dialogue; the first shot of every job also carries the "
                "scene's location, sound, preamble and style, and each cast member's description")
    if code == "KLS306":
        return (f"use fewer elements with images in this shot ({planner.max_inputs} reference inputs "
                f"at most, counting the location and the frames)")
    return "change the durations of the shots"


# -- the whole production ---------------------------------------------------------

def make_plan(production: L.Production, renderer=None, pricing: dict | None = None) -> Plan:
    """Plan every scene of a production; problems come back as diagnostics.

    Without a renderer the prompts are measured with ``PlainRenderer`` (the
    built-in templates' text, without loading Jinja2); ``finish`` then renders
    them from the templates.
    """
    if renderer is None:
        from ..backends.prompts import PlainRenderer
        renderer = PlainRenderer()
    if pricing is None:
        pricing = load_pricing()
    jobs: list[Job] = []
    diags: list[Diagnostic] = []
    for scene in production.scenes:
        planner = ScenePlanner(scene, production, renderer, pricing)
        jobs.extend(planner.plan())
        diags.extend(planner.diags)
    return Plan(production, tuple(jobs), tuple(diags), pricing)


def finish(plan: Plan, renderer, requests: bool = False, texts: bool = False, memo=None) -> Plan:
    """Render every job's prompts and web-app page from the templates, and measure them again.

    ``renderer``: a renderer, or a function that makes one (called only if a
    prompt is to be rendered). ``requests``: also build each job's request
    (``Job.built``) and each element's (``Plan.built_elements``), which
    ``plan_json`` then takes, with their JSON texts if ``texts``. ``memo``
    (``cache.BuildMemo``, with ``requests``): the jobs of scenes unchanged
    since the last build are taken from it, and the others put in it. The
    result is the same in every case.
    """
    from ..project import collector_paused

    with collector_paused():
        if memo is not None and requests:
            return _finish_with_memo(plan, renderer, texts, memo)
        return _finish(plan, renderer, requests, texts)


def _finish_with_memo(plan: Plan, renderer, texts: bool, memo) -> Plan:
    jobs = list(plan.jobs)
    missed = []
    for i, job in enumerate(jobs):
        hit = memo.get(job)
        if hit is None:
            missed.append(i)
        else:
            prompt, multi, web, built = hit
            jobs[i] = job._replace(prompt=prompt, multi_prompt=multi, web=web, built=built)
    diags = list(plan.diagnostics)
    which = _element_profiles(plan)
    elements = memo.elements(which)
    if missed:
        sub = plan._replace(jobs=tuple(jobs[i] for i in missed), diagnostics=())
        done = _finish(sub, renderer, True, texts)
        for i, job in zip(missed, done.jobs):
            jobs[i] = job
        diags.extend(done.diagnostics)
        if elements is None and len(missed) == len(jobs):
            elements = done.built_elements
    done = _with_requests(plan._replace(jobs=tuple(jobs), diagnostics=tuple(diags),
                                        built_elements=elements), texts)
    if len(diags) == len(plan.diagnostics) and done.built_elements is not None and \
            all(j.built is not None for j in done.jobs):
        memo.put_elements(which, done.built_elements)
        for job in done.jobs:
            memo.put(job, (job.prompt, job.multi_prompt, job.web, job.built))
    return done


def _texted(built: tuple) -> tuple:
    """A built request (request, id, problems, text) with its JSON text."""
    return built if built[3] is not None else (*built[:3], dump_json(built[0]))


def _with_requests(plan: Plan, texts: bool) -> Plan:
    """``plan`` with every request built (those still missing, here), unless it has errors."""
    if any(d.severity is Severity.ERROR for d in plan.diagnostics):
        return plan
    try:
        built, elements = _all_built(plan, texts)
    except Exception:  # left to plan_json, which reports it where it belongs
        return plan
    return plan._replace(jobs=tuple(j._replace(built=b) for j, b in zip(plan.jobs, built)),
                         built_elements=elements)


def _all_built(plan: Plan, texts: bool) -> tuple[list, tuple]:
    """Every job's built request (with its JSON text if ``texts``) and the elements':
    those the plan carries, the others built here."""
    built = [j.built if j.built is None or not texts else _texted(j.built) for j in plan.jobs]
    missing = [i for i, b in enumerate(built) if b is None]
    for i, b in zip(missing, _job_requests([plan.jobs[i] for i in missing], texts)):
        built[i] = b
    elements = plan.built_elements
    if elements is None:
        elements = _element_requests(plan)
    return built, elements


def _finish(plan: Plan, renderer, requests: bool = False, texts: bool = False) -> Plan:
    if isinstance(renderer, type) or not hasattr(renderer, "webapp"):   # what makes the renderer
        renderer = renderer()
    jobs: list[Job] = []
    diags = list(plan.diagnostics)
    planners: dict = {}
    for job in plan.jobs:
        planner = planners.get(job.scene.number)
        if planner is None:
            planner = planners[job.scene.number] = ScenePlanner(job.scene, plan.production, renderer,
                                                                plan.pricing)
        jobs.append(planner.finish(job))
    for planner in planners.values():
        diags.extend(planner.diags)
    done = plan._replace(jobs=tuple(jobs), diagnostics=tuple(diags))
    return _with_requests(done, texts) if requests else done


# -- output -----------------------------------------------------------------------

def dump_json(data, done: dict | None = None) -> str:
    """Readable, stable JSON: two-space indents, short lists and objects of plain values on one line.

    ``done`` maps ``id(obj)`` to the text of objects dumped already (at indent 0); they are
    reused, re-indented, instead of being written again.
    """
    return _dump(data, 0, done) + "\n"


_encode_str = json.encoder.encode_basestring   # JSON string, non-ASCII kept


def _enc(v) -> str:
    if type(v) is str:
        return _encode_str(v)
    if v is None:
        return "null"
    if v is True:
        return "true"
    if v is False:
        return "false"
    if type(v) is int:
        return str(v)
    return json.dumps(v, ensure_ascii=False)


_compact = json.JSONEncoder(ensure_ascii=False, separators=(", ", ": ")).encode
_PADS = ["  " * n for n in range(64)]


def _dump(v, level: int, done: dict | None = None) -> str:
    # Hot in `klingc build` (every request, and plan.json): exact types are tested
    # first, and a scalar member is encoded here rather than through a call.
    t = type(v)
    if t is not dict and t is not list and not isinstance(v, (dict, list)):
        return _enc(v)
    if done is not None:
        text = done.get(id(v))
        if text is not None:
            return text.replace("\n", "\n" + "  " * level) if level else text
    if not v:
        return "{}" if isinstance(v, dict) else "[]"
    deeper = level + 1
    inner = _PADS[deeper] if deeper < 64 else "  " * deeper
    pad = _PADS[level] if level < 64 else "  " * level
    out = []
    if isinstance(v, dict):
        values = v.values()
        if len(v) <= 8:
            size = 0   # a lower bound of the one-line form's length: its strings
            for x in values:
                if type(x) is str:
                    size += len(x)
                elif isinstance(x, (dict, list)):
                    break
            else:
                if size + len(inner) <= 100:
                    one = _compact(v)
                    if len(one) + len(inner) <= 100:
                        return one
        for k, x in v.items():
            tx = type(x)
            if tx is str:
                out.append(f"{inner}{_encode_str(k)}: {_encode_str(x)}")
            elif tx is dict or tx is list or isinstance(x, (dict, list)):
                out.append(f"{inner}{_encode_str(k)}: {_dump(x, deeper, done)}")
            else:
                out.append(f"{inner}{_encode_str(k)}: {_enc(x)}")
        return "{\n" + ",\n".join(out) + "\n" + pad + "}"
    for x in v:
        if isinstance(x, (dict, list)):
            break
    else:
        x = None
    if x is None or all(
            isinstance(x, dict) and len(x) <= 2 and all(not isinstance(y, (dict, list)) for y in x.values())
            for x in v):
        one = _compact(v)
        if len(one) + len(inner) <= 100:
            return one
    for x in v:
        tx = type(x)
        if tx is str:
            out.append(inner + _encode_str(x))
        else:
            out.append(inner + _dump(x, deeper, done))
    return "[\n" + ",\n".join(out) + "\n" + pad + "]"


def canonical(obj) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def content_id(request: dict) -> str:
    """The first 12 hex digits of the SHA-256 of a request's canonical JSON (without its own id)."""
    import hashlib

    body = {k: v for k, v in request.items() if k != "external_task_id"}
    return hashlib.sha256(canonical(body)).hexdigest()[:12]


def prompt_file(job: Job, scenes: int) -> str:
    """The paste-ready page of a job: one file per scene, its parts in order."""
    width = max(2, len(str(scenes)))
    return f"prompts/scene{job.scene.number:0{width}d}.txt"


class Output(NamedTuple):
    plan: dict                   # plan.json
    requests: dict               # job id -> request body
    prompts: dict                # relative path -> paste-ready text
    problems: list               # (job or element, message): requests that break the API's rules
    texts: dict = {}             # job id -> the request's JSON text (when asked for)


def plan_json(plan: Plan, texts: bool = False) -> Output:
    """``plan.json``, the requests and the prompt pages; requests are built through the models
    (or taken from ``Job.built``). ``texts``: also each request's JSON text (``Output.texts``)."""
    from ..project import collector_paused

    with collector_paused():
        return _plan_json(plan, texts)


def _job_requests(jobs, texts: bool) -> list:
    """(request, job id, problems, JSON text or None) of each job."""
    if not jobs:
        return []
    from ..backends import requests as R
    from ..backends import rules

    out = []
    for job in jobs:
        request = R.video_request(job)
        jid = content_id(request)
        request["external_task_id"] = jid
        problems = list(rules.validate_request(job.endpoint, request, job.profile))
        out.append((request, jid, problems, dump_json(request) if texts else None))
    return out


def _profile_of_element(plan: Plan) -> dict:
    """Each Kling element's profile: that of the first job that needs it."""
    profile_of_element: dict = {}
    for job in plan.jobs:
        for name in job.kling_elements:
            profile_of_element.setdefault(name, job.profile)
    return profile_of_element


def _element_profiles(plan: Plan) -> tuple:
    """(name, model) of each element to create, in order: what its request is made for."""
    profiles = _profile_of_element(plan)
    return tuple((el.name, profiles[el.name].model_name, profiles[el.name].endpoints.get("element"))
                 for el in plan.elements)


def _element_requests(plan: Plan) -> tuple:
    """(request, element id, endpoint, problems) of each element to create, in order."""
    elements = plan.elements
    if not elements:
        return ()
    from ..backends import requests as R
    from ..backends import rules

    profile_of_element = _profile_of_element(plan)
    out = []
    for el in elements:
        profile = profile_of_element[el.name]
        request = R.element_request(el, profile)
        eid = content_id(request)
        request["external_task_id"] = eid
        endpoint = profile.endpoints["element"]
        out.append((request, eid, endpoint, list(rules.validate_request(endpoint, request, profile))))
    return tuple(out)


def _plan_json(plan: Plan, texts: bool) -> Output:
    built, elements = _all_built(plan, texts)
    production = plan.production
    problems: list = []
    element_entries = []
    element_ids: dict[str, str] = {}
    for el, (request, eid, endpoint, el_problems) in zip(plan.elements, elements):
        problems.extend((el, p) for p in el_problems)
        element_ids[el.name] = eid
        element_entries.append({
            "id": eid, "name": el.name, "kind": el.kind, "description": el.description,
            "images": list(el.images), "voice": el.voice, "endpoint": endpoint, "request": request})
    n_scenes = max((s.number for s in production.scenes), default=0)
    jobs = []
    requests: dict = {}
    request_texts: dict = {}
    prompts: dict = {}
    for job, (request, jid, job_problems, text) in zip(plan.jobs, built):
        problems.extend((job, p) for p in job_problems)
        requests[jid] = request
        if text is not None:
            request_texts[jid] = text
        path = prompt_file(job, n_scenes)
        prompts[path] = prompts[path] + "\n" + job.web if path in prompts else job.web
        jobs.append({
            "id": jid, "scene": job.scene.number, "scene_title": job.scene.title,
            "part": job.part, "parts": job.parts, "shots": job.shot_numbers,
            "duration": job.duration, "endpoint": job.endpoint,
            "elements": list(job.names),
            "depends_on": [element_ids[n] for n in job.kling_elements],
            "credits": number(job.credits), "prompt_file": path, "request": request})
    by_scene: dict[int, list] = {}
    for job, entry in zip(plan.jobs, jobs):
        by_scene.setdefault(job.scene.number, []).append((job, entry))
    scenes = []
    for scene in production.scenes:
        mine = by_scene.get(scene.number)
        if not mine:
            continue
        scenes.append({"scene": scene.number, "title": scene.title, "jobs": len(mine),
                       "duration": sum(e["duration"] for _, e in mine),
                       "credits": number(sum(j.credits for j, _ in mine))})
    totals = {"jobs": len(jobs), "duration": sum(j["duration"] for j in jobs),
              "credits": number(sum(j.credits for j in plan.jobs))}
    data = {
        "klingscript": FORMAT_VERSION,
        "source": production.source,
        "title": production.title,
        "currency": plan.pricing.get("currency", "credits"),
        "elements": element_entries,
        "jobs": jobs,
        "scenes": scenes,
        "totals": totals,
    }
    return Output(data, requests, prompts, problems, request_texts)

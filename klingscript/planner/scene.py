"""The scene planner: a scene's shots become jobs that each satisfy its model profile.

``ScenePlanner`` measures every candidate job (duration, shots per
structured job, prompt lengths with the planner's renderer, reference
inputs), hands the valid ones to the split search (``planner/split.py``) and
explains, with KLS302/KLS305/KLS306, a scene that no split can carry; it
reports KLS308 for inputs the model does not combine and the KLS404 note for
a split scene. ``make_plan`` plans every scene of a production.
"""

from typing import NamedTuple

from .. import lower as L
from ..diagnostics.codes import make
from ..diagnostics.model import Diagnostic
from . import chain
from .jobs import Job, Plan, shots_label
from .pricing import load_pricing, rate
from .split import reachable, split
from .trim import trim_note


class _Candidate(NamedTuple):
    ok: bool
    reason: str                  # why not, for a writer
    code: str                    # the code of the reason (KLS302/305/306/308)
    span: object | None          # where the reason points, when it is one shot
    help: str | None = None      # the fix of an input limit (KLS306/KLS308), when it has its own
    more: tuple = ()             # further input limits the job breaks: (code, reason, help, span)



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
        refs = p.references
        self.elements_with_frame_max = refs.elements_with_frame_max
        self.image2video_elements_max = refs.image2video_elements_max
        self.end_frame_images_max = p.api.end_frame_images_max
        # On the current generation `multishot: text` is Kling's own shot format, as structured
        # shots are: the same limits, the same prompts (backends/current.py writes them).
        self.current = scene.settings.api == "current"
        self.text_mode = scene.settings.multishot == "text" and not self.current
        self.element_min_images = p.element.kling_images_min
        self.chain = chain.chain_frame(scene)     # a later part's first frame (continuity: chain)
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
        if self.imaged(names) and eps.omni:
            return "omni", eps.omni
        if (first or last) and eps.image2video:
            return "image2video", eps.image2video
        if not first and not last and eps.text2video:
            return "text2video", eps.text2video
        if eps.omni:
            return "omni", eps.omni
        for kind in ("image2video", "text2video"):
            if getattr(eps, kind):
                return kind, getattr(eps, kind)
        return "text2video", ""

    def frames(self, i: int, j: int, n: int):
        first = self.scene.first_frame if i == 0 else self.chain
        last = self.scene.last_frame if j == n else None
        return first, last

    def lists(self, names, kind):
        """(element_list, reference images) of a job of ``kind``: omni takes both; image to
        video takes elements (multi-image ones), not reference images."""
        if kind not in ("omni", "image2video"):
            return (), ()
        imaged = self.imaged(names)
        kling = tuple(n for n in imaged if self.is_kling_element(n))
        if kind == "image2video":
            return kling, ()
        images = tuple(n for n in imaged if not self.is_kling_element(n))
        return kling, images

    def refs(self, mode: str, kling=(), images=()):
        from ..backends.prompts import Refs

        tokens = {}
        if mode == "api" and self.current:
            # The current generation names an input @<id> (its contents[].id: the element's name).
            tokens.update({n: "@" + n for n in (*kling, *images)})
        elif mode == "api":
            tokens.update({n: f"<<<element_{k}>>>" for k, n in enumerate(kling, 1)})
            tokens.update({n: f"<<<image_{k}>>>" for k, n in enumerate(images, 1)})
        return Refs(self.elements, mode, tokens, self.element_min_images, kling if mode == "api" else ())

    # -- prompts --
    def shortest(self, k: int) -> int:
        """The length of shot k's prompt where it is shortest: not first, its cast introduced before."""
        shot = self.scene.shots[k]
        names = set(self.names(0, len(self.scene.shots)))
        kind = "omni" if self.imaged(list(names)) and self.profile.endpoints.omni else "text2video"
        kling, images = self.lists(self.shot_names[k], kind)
        refs = self.refs("api", kling, images)
        return len(self.renderer.shot(self.scene, shot, 2, False, refs, names, names))

    def longest(self, k: int) -> int:
        """The length of shot k's prompt where it is longest (see ``_candidate``)."""
        if self._longest is None:
            names = self.names(0, len(self.scene.shots))
            kind = "omni" if self.imaged(names) and self.profile.endpoints.omni else "text2video"
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
            return shots_label(shots) if shots else "the scene"

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
        structured = len(shots) > 1 and not self.text_mode
        limits = self.input_limits(label, len(shots) <= 1, kind, kling, images, first, last, structured)
        limits += chain.frame_limits(self, label, structured, first)
        if limits:
            (code, reason, help, span), more = limits[0], tuple(limits[1:])
            return _Candidate(False, reason, code, span or one, help, more)
        if not self.renderer.exact and shots and (len(shots) == 1 or structured) and \
                self._fits_bound(i, j, kind, structured):
            return _Candidate(True, "", "", None)
        refs = self.refs("api", kling, images)
        prompt, multi = self.prompts(i, j, refs)
        problems = self.prompt_problems(kind, prompt, multi, shots, label)
        if problems:
            reason, span = problems[0]
            return _Candidate(False, reason, "KLS305", span or one)
        return _Candidate(True, "", "", None)

    def _negative_extra(self, kind: str) -> int:
        """The characters ``negative:`` adds to a job's prompt (to its first shot's, for
        structured shots) where the request has no negative field: its marked line and the
        separator before it."""
        from ..backends import api as A

        inline = A.inline_negative(self.scene.settings.api, kind, self.scene.settings.negative)
        return 1 + len(A.negative_line(inline)) if inline else 0

    def _fits_bound(self, i: int, j: int, kind: str, structured: bool) -> bool:
        """Whether the prompts of shots i..j-1 fit wherever they are placed: a shot's prompt is
        longest as the first of its job, with every cast member described and numbered
        scene-wide (``longest``), and Kling's shot form only shortens a shot's words. Counts
        what the request adds: the ``negative:`` line where there is no field for it, and on
        the current generation the whole ``shot n, m, words;`` prompt."""
        extra = self._negative_extra(kind)
        if not structured:
            return self.longest(i) + extra <= self.prompt_max
        if self.longest(i) + extra > self.shot_prompt_max:
            return False
        if any(self.longest(k) > self.shot_prompt_max for k in range(i + 1, j)):
            return False
        if not self.current:
            return True
        shots = self.scene.shots
        total = extra + sum(len(f"shot {idx}, {shots[k].seconds}, ;") + self.longest(k)
                            for idx, k in enumerate(range(i, j), 1)) + (j - i - 1)
        return total <= self.prompt_max

    def prompt_problems(self, kind: str, prompt, multi, shots, label, how: str = "") -> list:
        """The prompt lengths Kling refuses in the request of a job of ``kind`` with these
        prompts (``prompt``, or structured shots ``multi``), measured as the request sends them
        (``backends/api.sent``: the ``negative:`` line where there is no field for it, the
        current generation's ``shot n, m, words;`` form): (reason, span or None) for KLS305.
        ``how`` follows the length in each reason (" with these templates")."""
        from ..backends import api as A

        out = []
        sent = A.sent(self.scene.settings.api, kind, prompt, multi, self.scene.settings.negative)
        avoid = " (with the `Avoid:` line of `negative:`)" if sent.negative else ""
        if sent.prompt is not None and len(sent.prompt) > self.prompt_max:
            if multi:
                out.append((f"{label()} make a prompt of {len(sent.prompt):,} characters{how} in Kling's "
                            f"shot form (`shot n, m, words;`{', with the `Avoid:` line of `negative:`' if avoid else ''}), "
                            f"over the {self.prompt_max:,} Kling takes for a whole prompt", None))
            else:
                out.append((f"{label()} make{'s' if len(shots) <= 1 else ''} a prompt of "
                            f"{len(sent.prompt):,} characters{how}{avoid}, over the {self.prompt_max:,} "
                            f"Kling takes", None))
        for idx, text, _ in sent.shots:
            if len(text) > self.shot_prompt_max:
                shot = shots[idx - 1]
                out.append((f"the prompt of Shot {shot.number} is {len(text):,} characters{how}"
                            f"{avoid if idx == 1 else ''}, over the {self.shot_prompt_max} Kling takes "
                            f"for one shot of a structured job", shot.span))
        return out

    def input_limits(self, label, single: bool, kind: str, kling, images, first, last,
                     structured: bool = False) -> list:
        """Every input limit of the profile that a job of ``kind`` with these elements, reference
        images and frames (as ``structured`` multi-shot, or not) breaks: (code, reason, help,
        span or None), the reason starting with ``label()``."""
        out = []
        has = "has" if single else "have"
        profile = self.profile
        model = profile.label
        frames = [w for w, f in (("a first frame", first), ("a last frame", last)) if f is not None]
        frame_words = " and ".join(frames).replace("a first frame and a last frame",
                                                   "a first and a last frame")

        def drop(names, most):
            extra = ", ".join("@" + n for n in names[most:])
            return (f"drop {extra} from {label()}, or split the scene here (a new scene for the "
                    f"shots that need {'them' if len(names) - most > 1 else 'it'})")

        if last is not None and first is None and not profile.frames.last_alone:
            out.append(("KLS308", f"{label()} {has} a last frame without a first frame; {model} "
                        f"takes a first frame alone, or a first and a last frame",
                        "add a `first frame:` to the scene, or remove the last frame (when a scene "
                        "is split, the first frame goes with its first job and the last frame with "
                        "its last: keep such a scene to one job)", last.span))
        # (A chained first frame with structured multi-shot is chain.frame_limits's KLS309.)
        real = [f for f in (first, last) if f is not None and not getattr(f, "chained", False)]
        if structured and real and not profile.frames.with_multishot:
            if self.current and last is not None:
                help = ("remove the frames, or write the scene as one shot (a scene with a last "
                        "frame is one job; on Kling's current API `multishot: text` is structured "
                        "multi-shot too)")
            elif self.current:
                help = (f"remove the frame, or let the shot it goes with be a job of its own "
                        f"({self.job_min}s or more; on Kling's current API `multishot: text` is "
                        f"structured multi-shot too)")
            else:
                help = ("write `multishot: text` in this scene (the shots go into one prompt), "
                        "or remove the frame")
            out.append(("KLS308", f"{label()} {has} {frame_words} and would be one structured "
                        f"multi-shot job; {model} takes no frame with structured multi-shot",
                        help, (first or last).span))
        if kind == "omni":
            count = len(kling) + len(images) + len(frames)
            if count > self.max_inputs:
                what = ["@" + n for n in kling + images]
                what += [f"the {k}" for k, f in (("first frame", first), ("last frame", last)) if f]
                out.append(("KLS306", f"{label()} need{'s' if single else ''} {count} reference "
                            f"inputs ({', '.join(what)}), over the {self.max_inputs} {model} takes",
                            None, None))
            most = self.elements_with_frame_max
            if frames and len(kling) > most:
                out.append(("KLS306", f"{label()} {has} {frame_words} and {len(kling)} elements "
                            f"({', '.join('@' + n for n in kling)}); {model} takes at most {most} "
                            f"with a first frame", drop(kling, most), None))
            most = self.end_frame_images_max
            pictures = len(images) + len(frames)
            if last is not None and pictures > most:
                what = [f"@{n}'s image" for n in images] + \
                    [f"the {k}" for k, f in (("first frame", first), ("last frame", last)) if f]
                help = "remove the last frame"
                if images:
                    location = self.scene.location.name if self.scene.location is not None else None
                    dropped = [f"`at @{n}` from the scene" if n == location else f"@{n} from {label()}"
                               for n in images]
                    help += (f", or give {' and '.join('@' + n for n in images)} a second image in "
                             f"`images:` (an element of several images is a Kling element, not an "
                             f"image), or drop {' and '.join(dropped)}")
                out.append(("KLS308", f"{label()} {has} a last frame and {pictures} images "
                            f"({', '.join(what)}); {model} on Kling's {profile.generation} API takes "
                            f"a last frame with at most {most} images", help, last.span))
        elif kind == "image2video":
            most = self.image2video_elements_max
            if len(kling) > most:
                out.append(("KLS306", f"{label()} {has} {len(kling)} elements "
                            f"({', '.join('@' + n for n in kling)}); {model} image to video takes "
                            f"at most {most}", drop(kling, most), None))
        return out

    # -- the plan --
    def plan(self) -> list[Job]:
        scene = self.scene
        if not scene.shots:
            return self._shotless()
        n = len(scene.shots)
        whole = self.candidate(0, n, n)
        if whole.ok:
            groups = [(0, n)]  # one job: no split has fewer, so there is nothing to search
        elif scene.last_frame is not None and not self.profile.frames.last_alone:
            # Split, the last job would have the last frame without the first: one job or none.
            if whole.code in ("KLS305", "KLS306", "KLS308"):
                self._report(whole, whole.span or scene.title_span)
            else:
                self.diags.append(make(
                    "KLS308", scene.last_frame.span,
                    f'scene "{scene.title}" has a last frame, so it must be one job '
                    f"({self.profile.label} takes no last frame without a first frame, and a split "
                    f"scene's first frame goes with its first job), but {whole.reason}",
                    help="make the scene fit one job, or move the last frame to a scene of its own "
                         "(with a first frame) for the shots it ends"))
            return []
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
            parts = "; ".join(f"{shots_label(j.shots)} ({j.duration}s)" for j in jobs)
            why = []
            if scene.duration > self.job_max:
                why.append(f"{scene.duration}s is over the {self.job_max}s of one job")
            if n > self.per_job and not self.text_mode:
                why.append(f"{n} shots are over the {self.per_job} of one structured job")
            fewest = max(-(-scene.duration // self.job_max),
                         -(-n // self.per_job) if not self.text_mode else 1)
            framed = scene.first_frame is not None and not self.profile.frames.with_multishot \
                and not self.text_mode and len(jobs[0].shots) == 1 and n > 1
            if framed:
                why.append(f"the first frame's shot is a job of its own ({self.profile.label} takes no "
                           f"frame with structured multi-shot)")
            if len(jobs) > fewest + framed:
                why.append(("prompt lengths, reference inputs or chained first frames" if self.chain else
                            "prompt lengths or reference inputs") + " need more jobs (the first shot of each "
                           "job carries the scene's location, sound, preamble and style)")
            reason = f" ({' and '.join(why)})" if why else ""
            self.diags.append(make(
                "KLS404", scene.title_span,
                f'scene "{scene.title}" is split into {len(jobs)} jobs{reason}: {parts}',
                help="each job repeats the scene's location, sound, preamble and style"))
            note = trim_note(scene, jobs, self.job_max, n <= self.per_job or self.text_mode, fewest)
            if note is not None:
                self.diags.append(note)
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
                self._report(c, span, f'scene "{scene.title}": ')
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
        first = chain.numbered(first, scene, part)
        kind, endpoint = self.endpoint(names, first, last)
        kling, images = self.lists(names, kind)
        structured = len(shots) > 1 and not self.text_mode
        credits = duration * rate(self.pricing, scene.settings.resolution, scene.settings.audio)
        paths = tuple(self.elements[n].images[0] for n in images)
        return Job(scene, part, parts, tuple(shots), duration, endpoint, kind, structured,
                   tuple(names), kling, images, paths, first, last, None, (), None, credits)

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
        if not alone.ok and alone.code in ("KLS305", "KLS306", "KLS308") and all(
                not self.candidate(stuck, j, n).ok for j in range(stuck + 1, n + 1)):
            self._report(alone, alone.span or shot.span)
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
                    help=fix_help("KLS305", self)))
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

    def _report(self, c: _Candidate, span, lead: str = "") -> None:
        """The diagnostics of a job that breaks limits: its first reason and, for input limits,
        every other it breaks too."""
        self.diags.append(make(c.code, span, lead + c.reason, help=c.help or fix_help(c.code, self)))
        for code, reason, help, where in c.more:
            self.diags.append(make(code, where or span, lead + reason, help=help or fix_help(code, self)))

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
            sent = set(job.kling_elements) | set(job.ref_images)
            unsent = [n for n in self.imaged(job.names) if n not in sent]
            if unsent:
                name = unsent[0]
                span = next((m.span for m in L.mentions(scene) if m.name == name), scene.title_span)
                if self.is_kling_element(name) and profile.endpoints.image2video:
                    once("omni", "KLS308", span,
                         f"@{name} is an element (it has images), but {label} takes elements only in "
                         f"image to video, with a first frame",
                         'add a `first frame:` to the scene, use `model: kling-v3-omni` (for the '
                         'document or this scene), or remove the images')
                else:
                    once("omni", "KLS308", span,
                         f"@{name} has reference images, but {label} takes no element images",
                         'use `model: kling-v3-omni` (for the document or this scene), or remove the images')
            for frame, key in ((job.first_frame, "first frame"), (job.last_frame, "last frame")):
                if frame is None:
                    continue
                if not getattr(frames, key.replace(" ", "_")):
                    once(key, "KLS308", frame.span, f"{label} does not take a {key}",
                         f"remove the `{key}:` line or choose another model")
        negative = scene.settings.negative
        if negative and len(negative) > profile.negative_max:
            span = scene.setting_spans.get("negative", scene.title_span)
            once("negative", "KLS305", span,
                 f"the negative prompt is {len(negative):,} characters, over the "
                 f"{profile.negative_max:,} Kling takes",
                 f"shorten it by {len(negative) - profile.negative_max:,} characters")


def fix_help(code: str, planner: ScenePlanner) -> str:
    """The help of a KLS305/KLS306 diagnostic (and of a KLS302 one: change the durations)."""
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
    built-in templates' text, without loading Jinja2); ``backends.emit.finish`` then renders
    them from the templates.
    """
    if renderer is None:
        from ..backends.prompts import PlainRenderer
        renderer = PlainRenderer()
    if pricing is None:
        pricing = load_pricing()
    jobs: list[Job] = []
    diags: list[Diagnostic] = []
    from ..backends.api import name_warnings, negative_notes

    for scene in production.scenes:
        planner = ScenePlanner(scene, production, renderer, pricing)
        planned = chain.plan(planner)
        jobs.extend(planned)
        diags.extend(planner.diags)
        diags.extend(negative_notes(scene, planned))     # KLS407: `negative:` in the prompt
        diags.extend(name_warnings(planner, planned))    # KLS408: element names Kling may confuse
    return Plan(production, tuple(jobs), tuple(diags), pricing)

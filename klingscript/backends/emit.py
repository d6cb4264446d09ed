"""Writing the plan: prompts rendered from the templates, requests, job ids and plan.json.

``finish`` renders each planned job's prompts and web-app page with the
Jinja2 templates (``backends/prompts.py``), measures them again (KLS305) and,
for a build, builds each job's and each element's request through the
request models (``backends/requests.py``); a build memo (``cache.BuildMemo``)
gives back the scenes unchanged since the last build. ``plan_json`` makes
``plan.json``, the requests (``requests/<job id>.json``) and the paste-ready
prompt pages (``prompts/sceneNN.txt``); ``dump_json`` writes them as stable,
readable JSON. A job's id is ``content_id`` of its request.
"""

import json
from typing import NamedTuple

from ..diagnostics.codes import make
from ..diagnostics.model import Severity
from ..planner.jobs import Job, Plan, shots_label
from ..planner.pricing import cost, flat_cost, number
from ..planner.scene import ScenePlanner, fix_help

FORMAT_VERSION = "0.1"


# -- prompts of the finished jobs ---------------------------------------------------

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
    for i, b in zip(missing, _job_requests([plan.jobs[i] for i in missing], texts, plan.callback_url)):
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
        jobs.append(_render(planner, job))
    for planner in planners.values():
        diags.extend(planner.diags)
    done = plan._replace(jobs=tuple(jobs), diagnostics=tuple(diags))
    return _with_requests(done, texts) if requests else done


def _render(planner: ScenePlanner, job: Job) -> Job:
    """The job with its prompts rendered by ``planner``'s renderer, and its web-app page; a prompt
    over the model's limit with these templates is reported in ``planner.diags`` (KLS305)."""
    scene = planner.scene
    shots = job.shots
    i = shots[0].number - 1 if shots else 0
    j = shots[-1].number if shots else 0
    api = planner.refs("api", job.kling_elements, job.ref_images)
    prompt, multi = planner.prompts(i, j, api)
    web_refs = planner.refs("web")
    # Without elements with images, web-app prompts read exactly as API prompts.
    same = not planner.imaged(job.names)
    if multi:
        web_multi = multi if same else planner.prompts(i, j, web_refs)[1]
        blocks = [{"label": f"Shot {idx} ({seconds}s)", "text": text} for idx, text, seconds in web_multi]
    else:
        text = prompt if same else planner.prompts(i, j, web_refs)[0]
        blocks = [{"label": f"Prompt ({job.duration}s)", "text": text}]
    page = {"part": job.part, "parts": job.parts, "seconds": job.duration,
            "shot_numbers": [s.number for s in shots], "structured": bool(multi),
            "elements": ["@" + n for n in planner.imaged(job.names)],
            "first_frame": job.first_frame.path if job.first_frame else None,
            "last_frame": job.last_frame.path if job.last_frame else None}
    web = planner.renderer.webapp(scene, page, blocks, web_refs)
    label = shots_label(shots) if shots else f'scene "{scene.title}"'
    span = shots[0].span if len(shots) == 1 else scene.title_span
    for reason, where in planner.prompt_problems(job.kind, prompt, multi, shots, lambda: label,
                                                 " with these templates"):
        planner.diags.append(make("KLS305", where or span, reason, help=fix_help("KLS305", planner)))
    return job._replace(prompt=prompt, multi_prompt=multi, web=web)


# -- the JSON writer, job ids, plan.json ---------------------------------------------

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


# plan.json from the texts of its parts (a build after an edit: cache/builds.py). A NUL
# character marks where a part goes: JSON writes it escaped, so it is in no text.
_HOLE = "\0"


def job_entry_text(entry: dict) -> tuple[str, str]:
    """A plan.json job entry as ``plan_json``'s data is written (at its place in the "jobs"
    list), its request left out: the text before the request and after it."""
    hole: dict = {}
    text = _dump({**entry, "request": hole}, 2, {id(hole): _HOLE})
    before, after = text.split(_HOLE)
    return before, after


def plan_json_text(data: dict, jobs: list) -> str:
    """``dump_json`` of plan.json's ``data`` whose "jobs" are given as texts: (before, request's
    JSON text, after) of each job, from ``job_entry_text`` and the request's file."""
    if not jobs:
        return dump_json({**data, "jobs": []})
    hole: list = []
    pad = "\n" + "  " * 3
    body = "[\n" + ",\n".join("    " + before + text[:-1].replace("\n", pad) + after
                               for before, text, after in jobs) + "\n  ]"
    return dump_json({**data, "jobs": hole}, {id(hole): _HOLE}).replace(_HOLE, body, 1)


def canonical(obj) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


_JOB_OPTIONS = ("external_task_id", "callback_url")


def content_id(request: dict) -> str:
    """The first 12 hex digits of the SHA-256 of a request's canonical JSON, without its own id
    and callback URL (top-level on legacy, in ``options`` on the current generation): a new
    callback URL does not make a new job."""
    import hashlib

    body = {k: v for k, v in request.items() if k not in _JOB_OPTIONS}
    options = request.get("options")
    if isinstance(options, dict):
        options = {k: v for k, v in options.items() if k not in _JOB_OPTIONS}
        if options:
            body["options"] = options
        else:
            del body["options"]
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


def _job_requests(jobs, texts: bool, callback_url=None) -> list:
    """(request, job id, problems, JSON text or None) of each job, in its scene's API generation
    (``current.py`` or ``requests.py``, the legacy one)."""
    if not jobs:
        return []
    from . import current as C
    from . import requests as R

    out = []
    for job in jobs:
        if job.settings.api == "current":
            request, problems = C.video_request(job, callback_url)
            jid = content_id(request)
            request["options"] = {"external_task_id": jid, **request.get("options", {})}
        else:
            request, problems = R.video_request(job, callback_url)
            jid = content_id(request)
            request["external_task_id"] = jid
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
    return tuple((el.name, profiles[el.name].model_name, profiles[el.name].endpoints.element)
                 for el in plan.elements)


def _voice_binding(el) -> dict:
    """The Kling voice bound to an element, for plan.json: ``voice_id`` (``voice id:``) or
    ``voice_sample`` (``voice sample:``, a path like ``images``); nothing without one."""
    if el.voice_id:
        return {"voice_id": el.voice_id}
    if el.voice_sample:
        return {"voice_sample": el.voice_sample}
    return {}


def _element_requests(plan: Plan) -> tuple:
    """(request, element id, endpoint, problems) of each element to create, in order."""
    elements = plan.elements
    if not elements:
        return ()
    from . import requests as R

    profile_of_element = _profile_of_element(plan)
    out = []
    for el in elements:
        profile = profile_of_element[el.name]
        request, problems = R.element_request(el, profile)
        eid = content_id({**request, **_voice_binding(el)})   # a bound voice makes another element
        request["external_task_id"] = eid
        out.append((request, eid, profile.endpoints.element, problems))
    return tuple(out)


def plan_json(plan: Plan, texts: bool = False, n_scenes: int | None = None) -> Output:
    """``plan.json``, the requests and the prompt pages; requests are built through the models
    (or taken from ``Job.built``). ``texts``: also each request's JSON text (``Output.texts``).
    ``n_scenes``: the script's number of scenes, for the prompt pages' names (by default the
    last scene planned: the same when every scene is)."""
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
            "images": list(el.images), "voice": el.voice, **_voice_binding(el),
            "endpoint": endpoint, "request": request})
        _element_costs(element_entries[-1], el, plan.pricing)
    if n_scenes is None:
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
            "duration": job.duration, "endpoint": _endpoint(job),
            "elements": list(job.names),
            "depends_on": [element_ids[n] for n in job.kling_elements],
            "credits": number(job.credits), "cost": job_cost(plan.pricing, job),
            "prompt_file": path, "request": request})
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
                       "credits": number(sum(j.credits for j, _ in mine)),
                       **_sums([e["cost"] for _, e in mine])})
    head = (production.title, production.source, plan.pricing.get("currency", "credits"), plan.api,
            pricing_note(plan.pricing))
    data = plan_data(head, element_entries, jobs, scenes,
                     [(j["duration"], job.credits, j["cost"]) for job, j in zip(plan.jobs, jobs)])
    return Output(data, requests, prompts, problems, request_texts)


def plan_data(head: tuple, elements: list, jobs: list, scenes: list, figures: list) -> dict:
    """plan.json's data: ``head`` (title, source, currency, API generation, pricing note), the
    element entries, the job entries, the scene entries, and each job's (seconds, credits,
    cost) for the totals. The one writer of its top level: a whole build's (``plan_json``) and
    a build assembled from kept scene outputs (``cache.builds.assemble``, whose ``jobs`` are
    left empty and written as texts)."""
    title, source, currency, api, note = head
    totals = {"jobs": len(figures), "duration": sum(f[0] for f in figures),
              "credits": number(sum(f[1] for f in figures)),
              **_sums([f[2] for f in figures] + [e.get("cost", {}) for e in elements]
                      + [e.get("voice_cost", {}) for e in elements])}
    return {
        "klingscript": FORMAT_VERSION,
        "api": api,
        "source": source,
        "title": title,
        "currency": currency,
        "pricing": note,
        "elements": elements,
        "jobs": jobs,
        "scenes": scenes,
        "totals": totals,
    }


# -- the generation's endpoint, and costs --------------------------------------------

def _endpoint(job: Job) -> str:
    from .api import endpoint

    return endpoint(job.settings.api, job)


def job_cost(pricing: dict, job: Job) -> dict:
    """A job's ``{"units", "usd", "credits"}`` (what ``runtime/costs.py`` reads back)."""
    s = job.settings
    return cost(pricing, job.profile.model_name, s.resolution, s.audio, job.duration, job.credits)


def _element_costs(entry: dict, el, pricing: dict) -> None:
    """An element's ``cost`` and, with a voice sample to make a custom voice from, ``voice_cost``."""
    made = flat_cost(pricing, "element")
    if made:
        entry["cost"] = made
    if getattr(el, "voice_sample", None) and not getattr(el, "voice_id", None):
        voice = flat_cost(pricing, "custom_voice")
        if voice:
            entry["voice_cost"] = voice


def _sums(costs: list) -> dict:
    """``units`` and ``usd`` added up (when every job has them)."""
    out = {}
    for key in ("units", "usd"):
        values = [c[key] for c in costs if key in c]
        if values and all(key in c for c in costs if "credits" in c):
            out[key] = number(round(sum(values), 4))
    return out


def pricing_note(pricing: dict) -> dict:
    """What plan.json says of its figures: the units' table and date, credits as estimates."""
    units = pricing.get("units") or {}
    note = {}
    if units:
        note.update(units_as_of=units.get("as_of"), usd_per_unit=units.get("usd_per_unit"))
    note["credits"] = "estimate" if pricing.get("credits_are_estimates", True) else "as given"
    return {k: v for k, v in note.items() if v is not None}

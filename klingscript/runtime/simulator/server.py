"""A local, Kling-compatible API server for trying renders offline.

It speaks the JSON of both generations of Kling's API on loopback
(``data/kling_api.toml``, ``runtime/generations.py``):

- Legacy: ``POST /v1/videos/text2video``, ``/v1/videos/image2video``,
  ``/v1/videos/omni-video`` create tasks; ``GET <create path>/<id>`` queries
  one by ``task_id`` or ``external_task_id`` (also ``?external_task_id=``);
  answers ``task_status: succeed`` with ``final_unit_deduction``.
- Current: ``POST /text-to-video/kling-3.0``, ``/image-to-video/kling-3.0``,
  ``/omni-video/kling-3.0-omni`` (``prompt``/``contents``, ``settings``,
  ``options``); ``GET /tasks?external_task_ids=a,b`` or ``?task_ids=`` answers
  ``data[]`` with ``status: succeeded``, ``outputs[]`` and ``billing[]``.
- Elements (``/v1/general/advanced-custom-elements``) and voices
  (``/v1/general/custom-voices``, ``/v1/general/presets-voices``,
  ``/v1/general/delete-voices``) for both, with the legacy answer shape. An
  element may be bound to a voice (``element_voice_id``, which must be a
  preset or a live custom voice of the account).
- Authentication: ``Authorization: Bearer <API key>`` (the simulator's
  ``api_key``) on every path, or a JWT HS256-signed with its secret key and
  issued (``iss``) by its access key on legacy paths only; a missing, invalid,
  premature or expired one gets HTTP 401 with Kling's codes 1000-1004.
- Bodies are checked with the API rules the compiler enforces
  (``klingscript.backends.rules.validate_request``): a bad body gets HTTP 400,
  code 1201, with a message naming the field. Requests Kling accepts with its
  defaults (a legacy text-to-video without ``aspect_ratio``) are accepted.
  Build placeholders (``file:...``, ``element:...``) and unknown element or
  voice ids are rejected too ("not an element of this account").
- ``forget_elements_after`` N: after the N-th video task, every element and
  voice is dropped (queries say ``deleted``; using one is a 1201), as when
  Kling expires them. ``account_error`` CODE with ``account_error_after`` N:
  after N API requests, every request gets that account error (1000-1004,
  1100-1103) with Kling's HTTP status.
- At most ``concurrency`` tasks run at once per account: one more gets HTTP
  429, code 1303. A create that repeats an ``external_task_id`` returns the
  existing task instead of creating another. The simulator counts the tasks
  created per ``external_task_id`` (``creations``) and the creates that
  named one that already existed (``duplicates``), so tests can check that a
  render never pays twice and never even asks to.
- A task is ``submitted`` for the first fifth of ``latency`` seconds,
  ``processing`` until ``latency``, then ``succeed`` (or ``failed`` with a
  ``task_status_msg``, at ``fail_rate``). A video's result is a real H.264
  MP4 of the requested duration served from ``/results/<task_id>.mp4``: an
  animatic of the request (see ``animatic.py``). An element's result is its
  ``element_id``.
- Faults on request: ``error_rate`` (HTTP 500/502/503 with codes
  5000-5002), ``drop_rate`` (the connection closes without an answer; a
  dropped create may or may not have created its task, as with a real
  network), ``throttle_rate`` (HTTP 429, code 1302), and scripted faults
  for tests (``Simulator.inject``).
- ``GET /_simulator/stats`` (no authentication, not part of Kling's API)
  returns the request and creation counts.
"""

from __future__ import annotations

import base64
import binascii
import json
import random
import socket
import threading
import time
import uuid
import warnings
from collections import Counter, deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable, Optional
from urllib.parse import parse_qs, urlsplit

DEFAULT_ACCESS_KEY = "klingc-simulator-access-key"
DEFAULT_SECRET_KEY = "klingc-simulator-secret-key-for-tests"

DEFAULT_API_KEY = "klingc-simulator-api-key"

VIDEO_PATHS = ("/v1/videos/text2video", "/v1/videos/image2video", "/v1/videos/omni-video")
CURRENT_PATHS = ("/text-to-video/kling-3.0", "/image-to-video/kling-3.0", "/omni-video/kling-3.0-omni")
ELEMENT_PATH = "/v1/general/advanced-custom-elements"
VOICE_PATH = "/v1/general/custom-voices"
PRESET_VOICES_PATH = "/v1/general/presets-voices"
DELETE_VOICES_PATH = "/v1/general/delete-voices"
TASKS_PATH = "/tasks"
CREATE_PATHS = VIDEO_PATHS + CURRENT_PATHS + (ELEMENT_PATH, VOICE_PATH)
LEGACY_CREATE_PATHS = VIDEO_PATHS + (ELEMENT_PATH, VOICE_PATH)
PRESET_VOICES = (("829824295735410756", "Warm narrator"), ("829824295735410757", "Bright young woman"),
                 ("829824295735410758", "Deep older man"))

AUTH_MESSAGES = {1000: "Authentication failed", 1001: "Authorization is empty",
                 1002: "Authorization is invalid", 1003: "Authorization is not yet valid",
                 1004: "Authorization has expired"}
SERVER_ERRORS = ((500, 5000, "Server internal error"),
                 (502, 5001, "Server temporarily unavailable, usually due to maintenance"),
                 (503, 5002, "Server internal timeout, usually due to a backlog"))
FAILURE_MESSAGES = ("Generation failed: the model could not follow the prompt (simulated failure)",
                    "Generation failed: an internal error in the video model (simulated failure)",
                    "Generation failed: the result did not pass review (simulated failure)")
FAULTS = ("500", "502", "503", "drop", "drop-after", "429", "1303", "401")


@dataclass
class Config:
    host: str = "127.0.0.1"
    port: int = 0
    latency: float = 2.0
    fail_rate: float = 0.0
    error_rate: float = 0.0
    drop_rate: float = 0.0
    throttle_rate: float = 0.0
    concurrency: int = 5
    seed: Optional[int] = None
    access_key: str = DEFAULT_ACCESS_KEY
    secret_key: str = field(default=DEFAULT_SECRET_KEY, repr=False)
    api_key: Optional[str] = field(default=DEFAULT_API_KEY, repr=False)
    forget_elements_after: Optional[int] = None   # drop every element and voice after N video tasks
    account_error: Optional[int] = None           # answer every request with this code...
    account_error_after: int = 0                  # ...after this many API requests
    clips: str = "animatic"          # "animatic", or "card" (a plain clip per duration, for benchmarks)
    workers: int = 2                 # threads that encode clips
    shots: dict = field(default_factory=dict)    # job id -> its shots' numbers in the script (animatics)
    log: Optional[Callable[[str], None]] = None


@dataclass
class Task:
    task_id: str
    endpoint: str
    account: str
    body: dict
    external_task_id: Optional[str]
    created: float
    fails: bool
    failure: str = ""
    element_id: Optional[int] = None
    voice_id: Optional[str] = None
    clip: Optional[Future] = None
    reported: str = ""

    @property
    def is_element(self) -> bool:
        return self.endpoint == ELEMENT_PATH

    @property
    def is_voice(self) -> bool:
        return self.endpoint == VOICE_PATH

    @property
    def is_video(self) -> bool:
        return not (self.is_element or self.is_voice)

    @property
    def current(self) -> bool:
        return self.endpoint in CURRENT_PATHS


class _Reply(Exception):
    """An API answer other than success: HTTP status, Kling code, message."""

    def __init__(self, status: int, code: int, message: str):
        self.status, self.code, self.message = status, code, message


class _Drop(Exception):
    """Close the connection without answering."""


class Simulator:
    """The simulator: ``Simulator(latency=0.1).start()``, ``.url``, ``.stop()``; a context manager too."""

    def __init__(self, config: Optional[Config] = None, **overrides):
        self.config = config or Config()
        for k, v in overrides.items():
            if not hasattr(self.config, k):
                raise TypeError(f"unknown simulator setting {k!r}")
            setattr(self.config, k, v)
        self._rng = random.Random(self.config.seed)
        self._lock = threading.RLock()
        self._tasks: dict[str, Task] = {}
        self._by_external: dict[tuple[str, str, str], Task] = {}
        self._elements: dict[int, str] = {}
        self._element_images: dict[int, str] = {}    # element id -> its frontal image (animatics)
        self._voices: dict[str, str] = {}            # custom voice id -> name
        self._next_task = 800000000000000001
        self._next_element = 9100000001
        self._next_voice = 850087542757500001
        self.videos_created = 0
        self.api_requests = 0
        self.forgotten = 0                          # times every element and voice was dropped
        self.batch_queries: list[int] = []          # ids asked for by each GET /tasks
        self.creations: Counter = Counter()     # external_task_id -> tasks created
        self.duplicates: Counter = Counter()    # external_task_id -> creates that named an existing task
        self.requests: Counter = Counter()      # "create", "query", "download", "other", "rejected"...
        self._scripted: deque = deque()
        self._fail_next: deque = deque()
        self._tokens: dict = {}
        self._pool: Optional[ThreadPoolExecutor] = None
        self._cards: dict = {}
        self._server: Optional[ThreadingHTTPServer] = None
        self._thread: Optional[threading.Thread] = None
        self._seen = threading.Condition(self._lock)
        self.total_requests = 0

    # -- life cycle --
    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the simulator is not running")
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> "Simulator":
        if self._server is not None:
            return self
        handler = type("Handler", (_Handler,), {"sim": self})
        self._server = _Server((self.config.host, self.config.port), handler)
        self._pool = ThreadPoolExecutor(max_workers=max(1, self.config.workers),
                                        thread_name_prefix="klingc-sim-clip")
        self._thread = threading.Thread(target=self._server.serve_forever, name="klingc-simulator",
                                        kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None

    def __enter__(self) -> "Simulator":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def serve_forever(self) -> None:
        """Run until interrupted (``klingc simulate``)."""
        self.start()
        try:
            while self._thread is not None and self._thread.is_alive():
                self._thread.join(0.5)
        finally:
            self.stop()

    # -- for tests --
    def inject(self, fault: str, count: int = 1, path: Optional[str] = None) -> None:
        """Answer the next ``count`` matching requests with ``fault`` (one of FAULTS).

        ``path`` limits the fault to requests whose path starts with it (a
        create path, ``/results`` for downloads); ``drop-after`` on a create
        creates the task and then drops the connection.
        """
        if fault not in FAULTS:
            raise ValueError(f"unknown fault {fault!r}; one of {', '.join(FAULTS)}")
        with self._lock:
            for _ in range(count):
                self._scripted.append((fault, path))

    def fail_next(self, count: int = 1, message: Optional[str] = None) -> None:
        """Make the next ``count`` tasks created end ``failed`` (with ``message`` as task_status_msg)."""
        with self._lock:
            for _ in range(count):
                self._fail_next.append(message or FAILURE_MESSAGES[0])

    def stats(self) -> dict:
        with self._lock:
            return {"creations": dict(self.creations), "duplicates": dict(self.duplicates),
                    "requests": dict(self.requests), "batch_queries": list(self.batch_queries),
                    "videos_created": self.videos_created, "forgotten": self.forgotten,
                    "tasks": len(self._tasks), "total_requests": self.total_requests}

    def forget_elements(self) -> None:
        """Drop every element and custom voice (as when Kling expires or deletes them)."""
        with self._lock:
            self._elements.clear()
            self._voices.clear()
            self.forgotten += 1
        self._log("every element and voice is forgotten")

    def wait_for_requests(self, n: int, timeout: float = 30.0) -> bool:
        """Wait until the simulator has answered (or dropped) ``n`` requests in all."""
        deadline = time.monotonic() + timeout
        with self._seen:
            while self.total_requests < n:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._seen.wait(left)
            return True

    def task_statuses(self) -> dict:
        now = time.monotonic()
        with self._lock:
            return {t.task_id: self._status(t, now) for t in self._tasks.values()}

    # -- internals --
    def _log(self, message: str) -> None:
        if self.config.log is not None:
            self.config.log(message)

    def _count(self, kind: str) -> None:
        with self._lock:
            self.requests[kind] += 1

    def _done(self) -> None:
        with self._seen:
            self.total_requests += 1
            self._seen.notify_all()

    def _fault_for(self, path: str, method: str) -> Optional[str]:
        with self._lock:
            for i, (fault, where) in enumerate(self._scripted):
                if where is None or path.startswith(where):
                    del self._scripted[i]
                    return fault
            if path.startswith("/_simulator"):
                return None
            c = self.config
            r = self._rng.random()
            if r < c.drop_rate:
                creating = method == "POST" and self._rng.random() < 0.5
                return "drop-after" if creating else "drop"
            r -= c.drop_rate
            if r < c.error_rate:
                return self._rng.choice(("500", "502", "503"))
            r -= c.error_rate
            if r < c.throttle_rate and not path.startswith("/results"):
                return "429"
        return None

    def _status(self, task: Task, now: float) -> str:
        elapsed = now - task.created
        latency = self.config.latency
        if elapsed < latency * 0.2:
            return "submitted"
        if elapsed < latency:
            return "processing"
        return "failed" if task.fails else "succeed"

    def _running(self, account: str, now: float) -> int:
        return sum(1 for t in self._tasks.values()
                   if t.account == account and self._status(t, now) in ("submitted", "processing"))

    def _charge(self, task: Task) -> float:
        """The units the simulator bills for a task: Kling's published prices, as klingc's own
        estimates read them (``data/pricing.toml`` [units], ``planner/pricing.py``)."""
        from ...planner.pricing import flat_cost, units_rate

        pricing = _pricing()
        if task.is_voice or task.is_element:
            return float(flat_cost(pricing, "custom_voice" if task.is_voice else "element").get("units", 0))
        b = task.body
        if task.current:
            st = b.get("settings") or {}
            seconds, res, audio = st.get("duration", 5), st.get("resolution", "720p"), st.get("audio", "off")
            model = _current_model(task.endpoint)
        else:
            seconds = b.get("duration", "5")
            res = {"std": "720p", "pro": "1080p"}.get(b.get("mode", "std"), b.get("mode"))
            audio = "native" if b.get("sound") == "on" else "off"
            model = b.get("model_name")
        try:
            rate = units_rate(pricing, model, res, "on" if audio == "native" else "off")
            return round(float(seconds) * float(rate), 4)
        except (KeyError, TypeError, ValueError):
            return 0.0

    def _current_json(self, task: Task, base: str) -> dict:
        """A task in the current generation's shape (``GET /tasks`` data[], create answers)."""
        now = time.monotonic()
        status = self._status(task, now)
        wall = int(time.time() * 1000)
        data = {"id": task.task_id, "status": "succeeded" if status == "succeed" else status,
                "message": task.failure if status == "failed" else "",
                "create_time": wall - int((now - task.created) * 1000), "update_time": wall,
                "external_id": task.external_task_id or "", "outputs": [], "billing": []}
        if status == "succeed":
            seconds = (task.body.get("settings") or {}).get("duration", 5)
            data["outputs"] = [{"type": "video", "id": f"{task.task_id}-1",
                                "url": f"{base}/results/{task.task_id}.mp4",
                                "watermark_url": "", "duration": str(seconds)}]
            data["billing"] = [{"charge_type": "unit", "amount": f"{self._charge(task):g}",
                                "package_type": "video"}]
        self._report(task, status)
        return data

    def _report(self, task: Task, status: str) -> None:
        if status != task.reported:
            task.reported = status
            if status in ("succeed", "failed"):
                self._log(f"task {task.task_id} {status}" + (f": {task.failure}" if status == "failed" else ""))

    def _task_json(self, task: Task, base: str) -> dict:
        if task.current:
            return self._current_json(task, base)
        now = time.monotonic()
        status = self._status(task, now)
        wall = int(time.time() * 1000)
        created_ms = wall - int((now - task.created) * 1000)
        data = {"task_id": task.task_id, "task_status": status, "task_status_msg": "",
                "task_info": {"external_task_id": task.external_task_id or ""},
                "created_at": created_ms, "updated_at": wall}
        if status == "failed":
            data["task_status_msg"] = task.failure
        elif status == "succeed":
            if task.is_element:
                live = task.element_id in self._elements
                voice = task.body.get("element_voice_id")
                data["task_result"] = {"elements": [{
                    "element_id": task.element_id, "element_name": task.body.get("element_name", ""),
                    "element_description": task.body.get("element_description", ""),
                    "reference_type": task.body.get("reference_type", ""),
                    "element_voice_info": ({"voice_id": voice, "voice_name": self._voice_name(voice),
                                            "owned_by": "kling" if self._is_preset(voice) else "simulator"}
                                           if voice else {}),
                    "tag_list": task.body.get("tag_list") or [], "owned_by": "simulator",
                    "status": "succeed" if live else "deleted"}]}
            elif task.is_voice:
                data["task_result"] = {"voices": [{
                    "voice_id": task.voice_id, "voice_name": task.body.get("voice_name", ""),
                    "trial_url": "", "owned_by": "simulator",
                    "status": "succeed" if task.voice_id in self._voices else "deleted"}]}
            else:
                data["task_result"] = {"videos": [{
                    "id": f"{task.task_id}-1", "url": f"{base}/results/{task.task_id}.mp4",
                    "duration": str(task.body.get("duration", "5"))}]}
            data["final_unit_deduction"] = f"{self._charge(task):g}"
        self._report(task, status)
        return data

    @staticmethod
    def _is_preset(voice_id) -> bool:
        return any(v == str(voice_id) for v, _ in PRESET_VOICES)

    def _voice_name(self, voice_id) -> str:
        for v, name in PRESET_VOICES:
            if v == str(voice_id):
                return name
        return self._voices.get(str(voice_id), "")

    def voice_list(self, presets: bool) -> list[dict]:
        """The answer of GET presets-voices / custom-voices: one entry per voice."""
        with self._lock:
            if presets:
                voices = [(v, name, "kling") for v, name in PRESET_VOICES]
            else:
                voices = [(v, name, "simulator") for v, name in self._voices.items()]
        return [{"task_id": f"voice-{v}", "task_status": "succeed", "task_status_msg": "",
                 "task_result": {"voices": [{"voice_id": v, "voice_name": name, "trial_url": "",
                                             "owned_by": owner}]}} for v, name, owner in voices]

    def _check_body(self, endpoint: str, body) -> None:
        from ...backends.rules import validate_request

        if endpoint == VOICE_PATH:
            problems = _voice_problems(body)
        else:
            problems = validate_request(endpoint, body)
        if not problems and isinstance(body, dict):
            problems = self._check_inputs(endpoint, body)
        if problems:
            more = f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
            raise _Reply(400, 1201, "; ".join(problems[:3]) + more)

    def _check_inputs(self, endpoint: str, body: dict) -> list[str]:
        """What the API rules accept in build output but Kling does not: placeholders, unknown ids."""
        problems = []
        images: list[tuple[str, object]] = []
        for key in ("image", "image_tail"):
            if key in body:
                images.append((key, body[key]))
        for n, item in enumerate(body.get("image_list") or []):
            if isinstance(item, dict):
                images.append((f"image_list[{n}].image_url", item.get("image_url")))
        eil = body.get("element_image_list")
        if isinstance(eil, dict):
            images.append(("element_image_list.frontal_image", eil.get("frontal_image")))
            for n, item in enumerate(eil.get("refer_images") or []):
                if isinstance(item, dict):
                    images.append((f"element_image_list.refer_images[{n}].image_url", item.get("image_url")))
        ids = [(f"element_list[{n}].element_id", item.get("element_id"))
               for n, item in enumerate(body.get("element_list") or []) if isinstance(item, dict)]
        for n, item in enumerate(body.get("contents") or []):
            if not isinstance(item, dict):
                continue
            if item.get("type") in ("first_frame", "last_frame", "refer_image"):
                images.append((f"contents[{n}].url", item.get("url")))
            elif item.get("type") == "element":
                ids.append((f"contents[{n}].element_id", item.get("element_id")))
        for where, value in images:
            problem = _image_problem(value)
            if problem:
                problems.append(f"{where}: {problem}")
        if endpoint == VOICE_PATH:
            problem = _audio_problem(body.get("voice_url"))
            if problem:
                problems.append(f"voice_url: {problem}")
        with self._lock:
            known = dict(self._elements)
            voices = set(self._voices) | {v for v, _ in PRESET_VOICES}
        for where, eid in ids:
            try:
                ok = int(eid) in known
            except (TypeError, ValueError):
                ok = False
            if not ok:
                problems.append(f"{where}: {eid!r} is not an element of this account")
        voice = body.get("element_voice_id") if endpoint == ELEMENT_PATH else None
        if voice is not None and str(voice) not in voices:
            problems.append(f"element_voice_id: {voice!r} is not a voice of this account")
        return problems

    def _create(self, endpoint: str, body: dict, account: str) -> tuple[Task, bool]:
        """The task for a create request, and whether it is new."""
        options = body.get("options") if endpoint in CURRENT_PATHS else body
        ext = (options.get("external_task_id") if isinstance(options, dict) else None) or None
        now = time.monotonic()
        with self._lock:
            if ext is not None:
                old = self._by_external.get((account, endpoint, ext))
                if old is not None:
                    self.duplicates[ext] += 1
                    return old, False
            if self._running(account, now) >= self.config.concurrency:
                raise _Reply(429, 1303, "The number of parallel tasks exceeds the limit of the account "
                                        f"({self.config.concurrency})")
            task_id = str(self._next_task)
            self._next_task += 1
            if self._fail_next:
                fails, failure = True, self._fail_next.popleft()
            else:
                fails = self._rng.random() < self.config.fail_rate
                failure = self._rng.choice(FAILURE_MESSAGES) if fails else ""
            task = Task(task_id, endpoint, account, body, ext, now, fails, failure=failure)
            if task.is_element:
                task.element_id = self._next_element
                self._next_element += 1
                self._elements[task.element_id] = str(body.get("element_name", ""))
                eil = body.get("element_image_list")
                if isinstance(eil, dict) and isinstance(eil.get("frontal_image"), str):
                    self._element_images[task.element_id] = eil["frontal_image"]
            elif task.is_voice:
                task.voice_id = str(self._next_voice)
                self._next_voice += 1
                self._voices[task.voice_id] = str(body.get("voice_name", ""))
            self._tasks[task_id] = task
            if ext is not None:
                self._by_external[(account, endpoint, ext)] = task
            self.creations[ext or f"task:{task_id}"] += 1
            if task.is_video and not fails:
                task.clip = self._clip_future(_legacy_view(body) if task.current else body, ext)
            forget = False
            if task.is_video:
                self.videos_created += 1
                n = self.config.forget_elements_after
                forget = n is not None and self.videos_created == n
        if forget:
            self.forget_elements()
        self._log(f"created {endpoint.rsplit('/', 1)[-1]} task {task_id}"
                  + (f" (external_task_id {ext})" if ext else ""))
        return task, True

    def _clip_future(self, body: dict, ext: Optional[str] = None) -> Future:
        from . import animatic

        if self.config.clips == "card":
            key = (body.get("duration"), body.get("aspect_ratio"), body.get("sound"))
            fut = self._cards.get(key)
            if fut is None:
                try:
                    duration = int(body.get("duration", 5))
                except (TypeError, ValueError):
                    duration = 5
                board = animatic.test_card(duration, body.get("aspect_ratio") or "16:9",
                                           body.get("sound", "on") == "on", "klingc simulator")
                fut = self._cards[key] = self._pool.submit(animatic.encode, board)
            return fut
        names, pictures = {}, {}
        for k, item in enumerate(body.get("element_list") or [], 1):
            try:
                eid = int(item.get("element_id"))
            except (TypeError, ValueError, AttributeError):
                continue
            names[k] = self._elements.get(eid, f"element {k}")
            if eid in self._element_images:
                pictures[k] = self._element_images[eid]
        # A job's external id is its id, or its id and a suffix (``-2`` after a failure, ``-t2`` a take).
        job, _, suffix = (ext or "").partition("-")
        numbers = self.config.shots.get(job)
        take = int(suffix[1:]) if suffix[:1] == "t" and suffix[1:].isdigit() else 1

        def encode():
            board = animatic.storyboard(body, names, pictures, numbers)
            board.take = take
            return animatic.encode(board)
        return self._pool.submit(encode)

    def find_current(self, ids: list[str], by_external: bool, account: str) -> list[Task]:
        """The current-generation tasks among ``ids`` (unknown ones are left out)."""
        out = []
        with self._lock:
            self.batch_queries.append(len(ids))
            for ident in ids:
                if by_external:
                    task = next((self._by_external.get((account, p, ident)) for p in CURRENT_PATHS
                                 if (account, p, ident) in self._by_external), None)
                else:
                    task = self._tasks.get(ident)
                if task is not None and task.current and task.account == account:
                    out.append(task)
        return out

    def _find(self, endpoint: str, ident: str, account: str) -> Task:
        with self._lock:
            task = self._tasks.get(ident)
            if task is not None and task.endpoint == endpoint and task.account == account:
                return task
            task = self._by_external.get((account, endpoint, ident))
            if task is not None:
                return task
        raise _Reply(404, 1203, f"task {ident} does not exist")

    def _account_error(self) -> None:
        """``account_error`` after ``account_error_after`` API requests: Kling's answer for it."""
        with self._lock:
            self.api_requests += 1
            code, after = self.config.account_error, self.config.account_error_after
            if code is None or self.api_requests <= after:
                return
        from ..generations import error_rule

        rule = error_rule(code) or {"http": 400, "meaning": "error"}
        message = AUTH_MESSAGES.get(code) or str(rule["meaning"]).capitalize()
        raise _Reply(int(rule["http"]), code, message)

    def _clip(self, task_id: str) -> bytes:
        with self._lock:
            task = self._tasks.get(task_id)
        if task is None or task.clip is None or self._status(task, time.monotonic()) != "succeed":
            raise _Reply(404, 1203, "no such result")
        return task.clip.result()


def _legacy_view(body: dict) -> dict:
    """A current-generation body as the animatic reads bodies (prompt, duration, aspect, sound)."""
    st = body.get("settings") or {}
    prompt = body.get("prompt")
    if prompt is None:
        prompt = " ".join(c.get("text", "") for c in body.get("contents") or []
                          if isinstance(c, dict) and c.get("type") == "prompt")
    images = [{"image_url": c.get("url"), **({"type": "first_frame"} if c.get("type") == "first_frame" else {})}
              for c in body.get("contents") or []
              if isinstance(c, dict) and c.get("type") in ("first_frame", "refer_image")]
    return {"prompt": prompt or "", "duration": str(st.get("duration", 5)),
            "aspect_ratio": st.get("aspect_ratio", "16:9"),
            "sound": "on" if st.get("audio", "off") != "off" else "off", "image_list": images}


def _voice_problems(body) -> list[str]:
    """A custom voice request, as docs/api/kling-omni-3.0-voice-mgt.md describes it."""
    if not isinstance(body, dict):
        return ["body: a request body is a JSON object"]
    problems = [f"{k}: not a field of custom-voices" for k in sorted(
        set(body) - {"voice_name", "voice_url", "video_id", "callback_url", "external_task_id"})]
    name = body.get("voice_name")
    if not isinstance(name, str) or not name.strip():
        problems.append("voice_name: required")
    elif len(name) > 20:
        problems.append(f"voice_name: {len(name)} characters, over the 20 allowed")
    if not body.get("voice_url") and not body.get("video_id"):
        problems.append("voice_url: required (or video_id)")
    return problems


def _audio_problem(value) -> Optional[str]:
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        return "must be a URL or Base64 audio data"
    if value.startswith(("http://", "https://")):
        return None
    if value.startswith("file:"):
        return f"{value[:40]!r} is a build placeholder, not a voice sample"
    chunk = value[:64] if len(value) >= 64 else value + "=" * (-len(value) % 4)
    try:
        head = base64.b64decode(chunk, validate=True)
    except (binascii.Error, ValueError):
        return "is neither a URL nor Base64 audio data"
    if not (head[:4] in (b"RIFF", b"ID3\x03", b"ID3\x04") or head[:2] == b"\xff\xfb" or head[4:8] == b"ftyp"):
        return "is not an .mp3, .wav, .mp4 or .mov file"
    return None


def _image_problem(value) -> Optional[str]:
    if not isinstance(value, str) or not value:
        return "required"
    if value.startswith(("file:", "element:")):
        return f"{value[:40]!r} is a build placeholder, not an image (send a URL or Base64 data)"
    if value.startswith(("http://", "https://")):
        return None
    chunk = value[:64] if len(value) >= 64 else value + "=" * (-len(value) % 4)
    try:
        head = base64.b64decode(chunk, validate=True)
    except (binascii.Error, ValueError):
        return "is neither a URL nor Base64 image data"
    if not (head.startswith(b"\x89PNG\r\n\x1a\n") or head.startswith(b"\xff\xd8\xff")):
        return "is not a PNG or JPEG image (Base64, without a data: prefix)"
    return None


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def handle_error(self, request, client_address):  # dropped connections are part of the job
        pass


class _Handler(BaseHTTPRequestHandler):
    sim: Simulator
    protocol_version = "HTTP/1.1"
    server_version = "KlingSimulator/0.1"
    disable_nagle_algorithm = True     # headers and body leave at once (no 40 ms delayed-ACK stalls)

    def log_message(self, format, *args):  # the simulator logs tasks, not requests
        pass

    def do_GET(self):
        self._serve("GET")

    def do_POST(self):
        self._serve("POST")

    # -- plumbing --
    def _base(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def _send(self, status: int, content_type: str, data: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _json(self, status: int, payload: dict) -> None:
        data = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        self._send(status, "application/json; charset=utf-8", data)

    def _envelope(self, data: dict) -> None:
        self._json(200, {"code": 0, "message": "SUCCEED", "request_id": str(uuid.uuid4()), "data": data})

    def _error(self, reply: _Reply) -> None:
        self._json(reply.status, {"code": reply.code, "message": reply.message,
                                  "request_id": str(uuid.uuid4())})

    def _drop(self) -> None:
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _account(self, path: str) -> str:
        """The account a request's credentials name: an API key (any path) or a JWT (legacy
        paths only); both of the simulator's credentials are the one account."""
        import jwt

        c = self.sim.config
        header = self.headers.get("Authorization") or ""
        if not header.strip():
            raise _Reply(401, 1001, AUTH_MESSAGES[1001])
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise _Reply(401, 1002, AUTH_MESSAGES[1002])
        token = token.strip()
        if c.api_key and token == c.api_key:
            return c.access_key
        if not path.startswith("/v1/"):
            # The current generation takes API keys only (a JWT is not one).
            raise _Reply(401, 1002, AUTH_MESSAGES[1002] + ": this API takes an API key")
        known = self.sim._tokens.get(token)
        if known is not None and known[0] <= time.time() < known[1]:
            return known[2]          # verified before and still valid: skip the signature check
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")   # short test keys are fine here
                claims = jwt.decode(token, c.secret_key, algorithms=["HS256"],
                                    options={"require": ["exp", "nbf", "iss"]})
        except jwt.ExpiredSignatureError:
            raise _Reply(401, 1004, AUTH_MESSAGES[1004]) from None
        except jwt.ImmatureSignatureError:
            raise _Reply(401, 1003, AUTH_MESSAGES[1003]) from None
        except jwt.PyJWTError:
            raise _Reply(401, 1002, AUTH_MESSAGES[1002]) from None
        if claims.get("iss") != c.access_key:
            raise _Reply(401, 1000, AUTH_MESSAGES[1000])
        if len(self.sim._tokens) > 1000:
            self.sim._tokens.clear()
        self.sim._tokens[token] = (float(claims["nbf"]), float(claims["exp"]), str(claims["iss"]))
        return str(claims["iss"])

    def _serve(self, method: str) -> None:
        sim = self.sim
        try:
            parts = urlsplit(self.path)
            path = parts.path.rstrip("/") or "/"
            body = self._read_body() if method == "POST" else b""
            if path == "/_simulator/stats" and method == "GET":
                self._json(200, sim.stats())
                return
            fault = sim._fault_for(path, method)
            if path.startswith("/results/") and method == "GET":
                sim._count("download")
                self._download(path, fault)
                return
            kind = "create" if method == "POST" else "query"
            sim._count(kind)
            if fault == "drop":
                self._drop()
                return
            if fault in ("500", "502", "503"):
                status, code, message = next(e for e in SERVER_ERRORS if str(e[0]) == fault)
                raise _Reply(status, code, message)
            if fault == "429":
                raise _Reply(429, 1302, "The API request is too fast, please slow down the request frequency")
            if fault == "1303":
                raise _Reply(429, 1303, "The number of parallel tasks exceeds the limit of the account")
            if fault == "401":
                raise _Reply(401, 1004, AUTH_MESSAGES[1004])
            sim._account_error()
            account = self._account(path)
            if method == "POST" and path == DELETE_VOICES_PATH:
                self._do_delete_voice(body)
            elif method == "POST":
                self._do_create(path, body, account, drop_after=(fault == "drop-after"))
            elif path == TASKS_PATH:
                self._do_tasks(parts.query, account)
            elif path in (PRESET_VOICES_PATH, VOICE_PATH):
                self._envelope(sim.voice_list(presets=path == PRESET_VOICES_PATH))
            else:
                self._do_query(path, parts.query, account)
        except _Reply as r:
            sim._count("rejected" if r.status == 400 else f"http-{r.status}")
            self._error(r)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        except Exception as e:  # an answer, never a dead thread
            sim._log(f"internal error: {type(e).__name__}: {e}")
            try:
                self._error(_Reply(500, 5000, "Server internal error"))
            except OSError:
                pass
        finally:
            sim._done()

    def _do_create(self, path: str, raw: bytes, account: str, drop_after: bool) -> None:
        if path not in CREATE_PATHS:
            raise _Reply(404, 1203, f"{path} is not an API path of this server")
        try:
            body = json.loads(raw.decode("utf-8")) if raw else None
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise _Reply(400, 1200, "the request body is not valid JSON") from None
        if not isinstance(body, dict):
            raise _Reply(400, 1200, "the request body must be a JSON object")
        self.sim._check_body(path, body)
        task, _new = self.sim._create(path, body, account)
        if drop_after:
            self._drop()
            return
        self._task_reply(task)

    def _do_tasks(self, query: str, account: str) -> None:
        """``GET /tasks?external_task_ids=a,b`` or ``?task_ids=``: the current generation's query."""
        q = parse_qs(query)
        by_external = "external_task_ids" in q
        raw = q.get("external_task_ids") or q.get("task_ids")
        if not raw or ("external_task_ids" in q and "task_ids" in q):
            raise _Reply(400, 1201, "task_ids or external_task_ids: give exactly one of them")
        ids = [i for i in ",".join(raw).split(",") if i]
        tasks = self.sim.find_current(ids, by_external, account)
        base = self._base()
        with self.sim._lock:
            data = [self.sim._current_json(t, base) for t in tasks]
        self._envelope(data)

    def _do_delete_voice(self, raw: bytes) -> None:
        try:
            body = json.loads(raw.decode("utf-8")) if raw else {}
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise _Reply(400, 1200, "the request body is not valid JSON") from None
        voice = str(body.get("voice_id") or "") if isinstance(body, dict) else ""
        with self.sim._lock:
            if voice not in self.sim._voices:
                raise _Reply(400, 1201, f"voice_id: {voice!r} is not a custom voice of this account")
            del self.sim._voices[voice]
        self._envelope({"task_id": f"delete-{voice}", "task_status": "succeed"})

    def _do_query(self, path: str, query: str, account: str) -> None:
        if path in LEGACY_CREATE_PATHS:
            ext = parse_qs(query).get("external_task_id")
            if not ext:
                raise _Reply(400, 1201, "external_task_id: required to query this path (or add /<task_id>)")
            endpoint, ident = path, ext[0]
        else:
            endpoint, _, ident = path.rpartition("/")
            if endpoint not in LEGACY_CREATE_PATHS or not ident:
                raise _Reply(404, 1203, f"{path} is not an API path of this server")
        self._task_reply(self.sim._find(endpoint, ident, account))

    def _task_reply(self, task) -> None:
        with self.sim._lock:
            data = self.sim._task_json(task, self._base())
        self._envelope(data)

    def _download(self, path: str, fault: Optional[str]) -> None:
        task_id = path[len("/results/"):].removesuffix(".mp4")
        if fault in ("500", "502", "503"):
            self._send(int(fault), "text/plain", b"temporarily unavailable")
            return
        try:
            clip = self.sim._clip(task_id)
        except _Reply:
            self._send(404, "text/plain", b"not found")
            return
        self.send_response(200)
        self.send_header("Content-Type", "video/mp4")
        self.send_header("Content-Length", str(len(clip)))
        self.end_headers()
        if fault in ("drop", "drop-after"):
            # Half a clip, then the connection dies: the client must not keep it.
            self.wfile.write(clip[: len(clip) // 2])
            self.wfile.flush()
            self._drop()
            return
        self.wfile.write(clip)


def _pricing() -> dict:
    from ...planner.pricing import load_pricing

    global _PRICING
    if _PRICING is None:
        _PRICING = load_pricing()
    return _PRICING


_PRICING = None


def _current_model(path: str):
    """The model a current-generation create path makes (``kling_api.toml`` current endpoints)."""
    from ..generations import facts

    for model, kinds in facts()["generations"]["current"]["endpoints"].items():
        if path.rstrip("/") in kinds.values():
            return model
    return None

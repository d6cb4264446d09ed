"""A local, Kling-compatible API server for trying renders offline.

It speaks the JSON of Kling's API (spec section 7) on loopback:

- ``POST /v1/videos/text2video``, ``/v1/videos/image2video``,
  ``/v1/videos/omni-video`` and ``/v1/general/advanced-custom-elements``
  create tasks; ``GET <create path>/<id>`` queries one by ``task_id`` or by
  ``external_task_id`` (also ``GET <create path>?external_task_id=<id>``).
- Every API call needs ``Authorization: Bearer <JWT>``, HS256-signed with the
  simulator's secret key and issued (``iss``) by its access key; a missing,
  invalid, premature or expired token gets HTTP 401 with Kling's codes 1001,
  1002, 1003 or 1004.
- Bodies are checked with the same API rules the compiler enforces
  (``klingscript.backends.rules.validate_request``): a bad body gets HTTP 400,
  code 1201, with a message naming the field. Build placeholders
  (``file:...``, ``element:...``) and unknown element ids are rejected too.
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

VIDEO_PATHS = ("/v1/videos/text2video", "/v1/videos/image2video", "/v1/videos/omni-video")
ELEMENT_PATH = "/v1/general/advanced-custom-elements"
CREATE_PATHS = VIDEO_PATHS + (ELEMENT_PATH,)

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
    clips: str = "animatic"          # "animatic", or "card" (a plain clip per duration, for benchmarks)
    workers: int = 2                 # threads that encode clips
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
    clip: Optional[Future] = None
    reported: str = ""

    @property
    def is_element(self) -> bool:
        return self.endpoint == ELEMENT_PATH


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
        self._next_task = 800000000000000001
        self._next_element = 9100000001
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
                    "requests": dict(self.requests),
                    "tasks": len(self._tasks), "total_requests": self.total_requests}

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

    def _task_json(self, task: Task, base: str) -> dict:
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
                data["task_result"] = {"elements": [{
                    "element_id": task.element_id, "element_name": task.body.get("element_name", ""),
                    "element_description": task.body.get("element_description", "")}]}
            else:
                data["task_result"] = {"videos": [{
                    "id": f"{task.task_id}-1", "url": f"{base}/results/{task.task_id}.mp4",
                    "duration": str(task.body.get("duration", ""))}]}
        if status != task.reported:
            task.reported = status
            if status in ("succeed", "failed"):
                self._log(f"task {task.task_id} {status}" + (f": {task.failure}" if status == "failed" else ""))
        return data

    def _check_body(self, endpoint: str, body) -> None:
        from ...backends.rules import validate_request

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
        for where, value in images:
            problem = _image_problem(value)
            if problem:
                problems.append(f"{where}: {problem}")
        with self._lock:
            known = dict(self._elements)
        for n, item in enumerate(body.get("element_list") or []):
            eid = item.get("element_id") if isinstance(item, dict) else None
            try:
                ok = int(eid) in known
            except (TypeError, ValueError):
                ok = False
            if not ok:
                problems.append(f"element_list[{n}].element_id: {eid!r} is not an element of this account")
        return problems

    def _create(self, endpoint: str, body: dict, account: str) -> tuple[Task, bool]:
        """The task for a create request, and whether it is new."""
        ext = body.get("external_task_id") or None
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
            self._tasks[task_id] = task
            if ext is not None:
                self._by_external[(account, endpoint, ext)] = task
            self.creations[ext or f"task:{task_id}"] += 1
            if not task.is_element and not fails:
                task.clip = self._clip_future(body)
        self._log(f"created {endpoint.rsplit('/', 1)[-1]} task {task_id}"
                  + (f" (external_task_id {ext})" if ext else ""))
        return task, True

    def _clip_future(self, body: dict) -> Future:
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
        names = {}
        for k, item in enumerate(body.get("element_list") or [], 1):
            try:
                names[k] = self._elements.get(int(item.get("element_id")), f"element {k}")
            except (TypeError, ValueError, AttributeError):
                pass
        return self._pool.submit(lambda: animatic.encode(animatic.storyboard(body, names)))

    def _find(self, endpoint: str, ident: str, account: str) -> Task:
        with self._lock:
            task = self._tasks.get(ident)
            if task is not None and task.endpoint == endpoint and task.account == account:
                return task
            task = self._by_external.get((account, endpoint, ident))
            if task is not None:
                return task
        raise _Reply(404, 1203, f"task {ident} does not exist")

    def _clip(self, task_id: str) -> bytes:
        with self._lock:
            task = self._tasks.get(task_id)
        if task is None or task.clip is None or self._status(task, time.monotonic()) != "succeed":
            raise _Reply(404, 1203, "no such result")
        return task.clip.result()


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

    def _account(self) -> str:
        import jwt

        c = self.sim.config
        header = self.headers.get("Authorization") or ""
        if not header.strip():
            raise _Reply(401, 1001, AUTH_MESSAGES[1001])
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise _Reply(401, 1002, AUTH_MESSAGES[1002])
        token = token.strip()
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
            account = self._account()
            if method == "POST":
                self._do_create(path, body, account, drop_after=(fault == "drop-after"))
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

    def _do_query(self, path: str, query: str, account: str) -> None:
        if path in CREATE_PATHS:
            ext = parse_qs(query).get("external_task_id")
            if not ext:
                raise _Reply(400, 1201, "external_task_id: required to query this path (or add /<task_id>)")
            endpoint, ident = path, ext[0]
        else:
            endpoint, _, ident = path.rpartition("/")
            if endpoint not in CREATE_PATHS or not ident:
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

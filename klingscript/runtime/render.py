"""``klingc render``: from a plan to clips, scene files and a film.

The render works from the plan that ``klingc build`` makes (``plan.json``)
and keeps its state in the ledger (``ledger.py``), so running the same
command again after a crash, Ctrl-C or ``kill -9`` carries on where the last
run stopped and never pays twice. The plan's ``api`` says which generation of
Kling's API its requests are written for (``current`` or ``legacy``; absent:
legacy); ``generations.py`` knows how the two differ.

1. **Budget.** Before anything is sent, what the render will add (jobs
   without a task at Kling yet, and the elements and voices still to make) is
   compared with the budget (``costs.py``: units, USD or credits); over it,
   nothing is sent.
2. **Voices** from a ``voice_sample`` are made first (once each, found again
   by external id after a crash), then **elements** (characters, locations,
   props with images), bound to their voice with ``element_voice_id``; a job
   waits only for the elements it uses. An element or voice recorded in the
   ledger is confirmed with Kling before it is relied on; one that is gone
   (deleted, expired, unknown) is made again once, recorded, and the jobs go
   on. A job refused with 1201 has its elements confirmed again the same way.
3. **Jobs** are submitted in script order with at most ``concurrency``
   tasks in flight (fewer after Kling answers 1303, growing back after
   tasks finish without it). ``file:<path>`` becomes the Base64 image and
   ``element:<Name>`` the id of the element created for it.
4. **Polling**: legacy tasks are queried one by one, each once per
   ``poll_interval`` (more slowly for a task that has run for minutes);
   current-generation tasks together, with batched ``GET /tasks?
   external_task_ids=...``: one query per poll interval for up to
   ``BATCH`` tasks.
5. **Download** as soon as a task succeeds (Kling's result URLs expire): to
   a temporary file, checked (size, an MP4 that opens with a video stream),
   then renamed into ``clips/<job-id>.mp4`` and recorded with its SHA-256.
   What Kling charged for each task is recorded too.
6. **Assembly** of ``scenes/NN-<scene>.mp4`` and ``film.mp4`` in script
   order (``assemble.py``).

A failed job (Kling's task failed, or the request was refused) does not
stop the others; a refused login or an unusable account (``client.Stop``)
stops the render at once. The result says what was done, what failed and
why, and what was spent.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import heapq
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from ..files import write_atomic

from . import chain
from . import generations as G
from . import ledger as L
from .client import (BadDownload, Credentials, GaveUp, KlingClient, KlingError, MissingCredentials, NotFound,
                     RateLimited, Rejected, RetryPolicy, Stop, Task)
from .costs import CREDITS, Budget, BudgetUnknown, _num, fmt, to_spend
from .progress import Progress

PLAN_FILE = "plan.json"
LOCK_FILE = "render.lock"       # held by the render in progress (lock_folder)
BATCH = 50           # external ids per batched query (our choice: about 700 characters of URL)


@dataclass
class Options:
    output: Path
    api_base: str
    concurrency: int = 4
    max_credits: Optional[float] = None  # the same as budget=Budget(N, "credits")
    budget: Optional[Budget] = None
    poll_interval: float = 10.0
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    timeout: float = 60.0
    assemble: bool = True
    root: Optional[Path] = None          # the project folder; images must stay inside it
    allow_outside: bool = False
    backoff_after: float = 60.0          # seconds a task runs before its polls slow down
    service: Optional[str] = None        # what the folder renders with (default: api_base)
    takes: int = 1                       # successful takes each job should have
    retake: tuple = ()                   # "3" (every part of scene 3) or "5.2": one more take each
    callback_url: Optional[str] = None   # passed as Kling's callback option (klingc still polls)


@dataclass
class Outcome:
    id: str
    label: str
    state: str                           # done, failed, rejected, error
    message: str = ""
    credits: float = 0.0
    seconds: int = 0
    spent_now: bool = False
    takes_now: int = 0                   # takes of this job sent by this render


@dataclass
class Result:
    code: int                            # 0 done; 1 over budget; 3 a job failed or the render stopped
    outcomes: list[Outcome] = field(default_factory=list)
    spent_now: float = 0.0
    spent_total: float = 0.0
    total_credits: float = 0.0
    scenes: list[Path] = field(default_factory=list)
    film: Optional[Path] = None
    incomplete_scenes: list[int] = field(default_factory=list)
    message: str = ""                    # why the render stopped, when it did
    requests: int = 0
    charged: dict = field(default_factory=dict)      # unit -> what Kling charged, whole folder
    estimated: dict = field(default_factory=dict)    # credits/units/usd -> estimate of the plan
    asked: dict = field(default_factory=dict)        # takes: new takes asked; credits/units/usd: their estimate

    @property
    def done(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.state == "done"]

    @property
    def failed(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.state != "done"]


class BudgetExceeded(Exception):
    def __init__(self, to_spend: float, limit: float, total: float, currency: str, unit: str = CREDITS):
        self.to_spend, self.limit, self.total, self.currency = to_spend, limit, total, currency
        limit_text = f"--max-credits {_num(limit)}" if unit == CREDITS else f"--budget {fmt(limit, unit)}"
        super().__init__(f"this render would spend {fmt(to_spend, unit, currency)}, over {limit_text}; "
                         f"nothing was sent")


class ServiceChanged(Exception):
    """The folder holds a render made with another API (the simulator, another account's base)."""

    def __init__(self, folder: Path, before: str, now: str):
        super().__init__(f"{folder} holds a render made with {_service_name(before)}, not "
                         f"{_service_name(now)}; its clips and tasks do not carry over: "
                         f"render into another folder with -o")


def _service_name(service: str) -> str:
    return "the simulator (--simulate)" if service == SIMULATOR else service


SIMULATOR = "simulator"


class ElementFailed(Exception):
    pass


class _LocalProblem(Exception):
    """A problem found before sending (an image that cannot be read)."""



# -- concurrency ----------------------------------------------------------------------------

class Limiter:
    """At most ``limit`` tasks in flight, granted in script order (lowest ``order`` first).

    ``lower()`` after a 1303 brings the limit down to the tasks that Kling
    has accepted; each ``limit`` tasks that finish without one raise it by
    one again, up to the limit asked for.
    """

    def __init__(self, limit: int):
        self.max = max(1, limit)
        self.limit = self.max
        self.in_use = 0
        self._waiting: list = []
        self._streak = 0

    async def acquire(self, order: int) -> None:
        if self.in_use < self.limit and not self._waiting:
            self.in_use += 1
            return
        fut = asyncio.get_running_loop().create_future()
        heapq.heappush(self._waiting, (order, id(fut), fut))
        try:
            await fut
        except asyncio.CancelledError:
            if fut.done() and not fut.cancelled():
                self.release(ok=False)     # granted just as it was cancelled: give it back
            else:
                self._waiting = [w for w in self._waiting if w[2] is not fut]
                heapq.heapify(self._waiting)
            raise

    def release(self, ok: bool = True) -> None:
        self.in_use -= 1
        if ok:
            self._streak += 1
            if self.limit < self.max and self._streak >= self.limit:
                self.limit += 1
                self._streak = 0
        self._grant()

    def lower(self) -> None:
        """Kling said 1303: the caller's slot was one too many."""
        self.limit = max(1, self.in_use - 1)
        self._streak = 0

    def _grant(self) -> None:
        while self._waiting and self.in_use < self.limit:
            _, _, fut = heapq.heappop(self._waiting)
            if not fut.done():
                self.in_use += 1
                fut.set_result(None)


def poll_delay(interval: float, polls: int, running: float, backoff_after: float) -> float:
    """Seconds until the next query of a task that has been polled ``polls`` times.

    Every ``interval`` seconds; once a task has run ``backoff_after`` seconds
    (and been polled a dozen times), each wait grows by a fifth, up to three
    intervals.
    """
    if running < backoff_after or polls < 12:
        return interval
    return min(interval * (1.2 ** (polls - 11)), interval * 3)


# -- inputs ----------------------------------------------------------------------------------

class Images:
    """``file:<path>`` (an image, or a voice sample) -> Base64, read once per render; paths stay
    inside the project folder."""

    def __init__(self, script_dir: Path, root: Optional[Path], allow_outside: bool):
        self.script_dir = Path(script_dir)
        self.root = Path(root) if root is not None else self.script_dir
        self.allow_outside = allow_outside
        self._cache: dict[str, str] = {}

    def read(self, rel: str, what: str = "image") -> bytes:
        from ..files import read_regular, resolve

        try:
            path = resolve(self.script_dir / rel)
            if not self.allow_outside:
                try:
                    path.relative_to(resolve(self.root))
                except ValueError:
                    raise _LocalProblem(f"{what} {rel} is outside the project folder "
                                        f"(use --allow-outside to allow it)") from None
            return read_regular(path, "image" if what == "image" else "sample")
        except OSError as e:
            raise _LocalProblem(f"cannot read {what} {rel}: {e.strerror or e}") from None

    def data(self, ref: str, what: str = "image") -> str:
        rel = ref[len("file:"):] if ref.startswith("file:") else ref
        hit = self._cache.get(rel)
        if hit is not None:
            return hit
        raw = self.read(rel, what)
        if len(self._cache) > 64:
            self._cache.clear()
        value = self._cache[rel] = base64.b64encode(raw).decode("ascii")
        return value


_IMAGE_CONTENTS = ("first_frame", "last_frame", "refer_image")


def materialize(request: dict, external_task_id: str, images: Images, element_ids: dict,
                endpoint: Optional[str] = None, callback_url: Optional[str] = None,
                frames: Optional[dict] = None) -> dict:
    """The body to send: images as Base64, ``element:<Name>`` as Kling's element id, a chained
    frame's ``previous:`` placeholder as ``frames[placeholder]`` (``chain.frames_for``), the
    external id (and callback URL) where ``endpoint``'s generation takes them."""
    body = json.loads(json.dumps(request))
    G.set_job_options(endpoint or "/v1/", body, external_task_id, callback_url)

    def image(v):
        if isinstance(v, str) and v.startswith(chain.PREVIOUS):
            if not frames or v not in frames:
                raise _LocalProblem(f"the first frame {v} has not been extracted")
            return frames[v]
        return images.data(v) if isinstance(v, str) and v.startswith("file:") else v

    def element(eid, as_int: bool):
        if not (isinstance(eid, str) and eid.startswith("element:")):
            return eid
        name = eid[len("element:"):]
        if name not in element_ids:
            raise _LocalProblem(f"element {name} has no id (it was not created)")
        real = element_ids[name]
        return int(real) if as_int and str(real).isdigit() else str(real)

    for key in ("image", "image_tail"):
        if key in body:
            body[key] = image(body[key])
    for item in body.get("image_list") or []:
        if isinstance(item, dict) and "image_url" in item:
            item["image_url"] = image(item["image_url"])
    eil = body.get("element_image_list")
    if isinstance(eil, dict):
        if "frontal_image" in eil:
            eil["frontal_image"] = image(eil["frontal_image"])
        for item in eil.get("refer_images") or []:
            if isinstance(item, dict) and "image_url" in item:
                item["image_url"] = image(item["image_url"])
    for item in body.get("element_list") or []:
        if isinstance(item, dict) and "element_id" in item:
            item["element_id"] = element(item["element_id"], True)
    for item in body.get("contents") or []:
        if not isinstance(item, dict):
            continue
        if item.get("type") in _IMAGE_CONTENTS and "url" in item:
            item["url"] = image(item["url"])
        if "element_id" in item:
            item["element_id"] = element(item["element_id"], False)
    return body


def plan_voices(plan: dict, images: Images) -> dict[str, dict]:
    """The custom voices to make: one per distinct ``voice_sample`` of the plan's elements.

    An element's ``voice_sample`` is a path relative to the script (``voices/mara.wav``,
    ``file:`` optional) or an https URL. Its voice's ledger key and first external id is
    ``voice-`` and a hash of the element's name and the sample's bytes (of the URL for a
    URL), so a new recording makes a new voice and an unchanged one is found again.
    Returns {key: {id, name, endpoint, sample, cost, elements: [element ids]}}.
    """
    voices: dict[str, dict] = {}
    for el in plan.get("elements") or []:
        sample = el.get("voice_sample")
        if not isinstance(sample, str) or not sample or el.get("voice_id"):
            continue
        h = hashlib.sha256(str(el.get("name", "")).encode("utf-8") + b"\0")
        if sample.startswith(("http://", "https://")):
            h.update(sample.encode("utf-8"))
        else:
            rel = sample[len("file:"):] if sample.startswith("file:") else sample
            try:
                h.update(images.read(rel, "voice sample"))
            except _LocalProblem:
                h.update(b"unreadable:" + rel.encode("utf-8"))   # creating it will say why
        key = f"voice-{h.hexdigest()[:12]}"
        v = voices.setdefault(key, {"id": key, "name": str(el.get("name", ""))[:20],
                                    "endpoint": G.paths()["voices"], "sample": sample,
                                    "cost": el.get("voice_cost") or {}, "elements": []})
        v["elements"].append(el["id"])
    return voices


def voice_request(voice: dict, images: Images) -> dict:
    sample = voice["sample"]
    url = sample if sample.startswith(("http://", "https://")) else images.data(sample, "voice sample")
    return {"voice_name": voice["name"], "voice_url": url}


# -- batched polling (current generation) ------------------------------------------------------

class BatchPoller:
    """Queries every current-generation task in flight together: one ``GET /tasks?
    external_task_ids=...`` per ``interval`` for up to ``batch`` tasks.

    ``await poller.change(ext, status)`` returns the task once its status is no
    longer ``status`` (or it has finished). A task missing from two answers in a
    row raises NotFound (the API no longer knows it).
    """

    def __init__(self, api: KlingClient, interval: float, batch: int = BATCH):
        self.api, self.interval, self.batch = api, interval, max(1, batch)
        self._waiting: dict[str, list] = {}       # ext -> [future, status, misses]
        self._runner: Optional[asyncio.Task] = None
        self.queries = 0

    async def change(self, ext: str, status: str) -> Task:
        fut = asyncio.get_running_loop().create_future()
        self._waiting[ext] = [fut, status, 0]
        if self._runner is None or self._runner.done():
            self._runner = asyncio.ensure_future(self._run())
        try:
            return await fut
        finally:
            if self._waiting.get(ext, [None])[0] is fut:
                del self._waiting[ext]

    async def _run(self) -> None:
        previous = time.monotonic()
        while self._waiting:
            wait = previous + self.interval - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            previous = time.monotonic()
            ids = list(self._waiting)
            for n in range(0, len(ids), self.batch):
                chunk = ids[n:n + self.batch]
                self.queries += 1
                try:
                    found = await self.api.query_batch(chunk, min_delay=self.interval)
                except (KlingError, Exception) as e:     # every waiter hears of it
                    for ext in chunk:
                        w = self._waiting.get(ext)
                        if w is not None and not w[0].done():
                            w[0].set_exception(e)
                    continue
                for ext in chunk:
                    w = self._waiting.get(ext)
                    if w is None or w[0].done():
                        continue
                    task = found.get(ext)
                    if task is None:
                        w[2] += 1
                        if w[2] >= 2:
                            w[0].set_exception(NotFound(f"not found: task {ext}", 404, None))
                    elif task.finished or task.status != w[1]:
                        w[0].set_result(task)

    async def aclose(self) -> None:
        if self._runner is not None and not self._runner.done():
            self._runner.cancel()
            await asyncio.gather(self._runner, return_exceptions=True)


def check_clip(path: Path) -> Optional[str]:
    """Why ``path`` is not a usable clip, or None."""
    try:
        with open(path, "rb") as f:
            head = f.read(12)
    except OSError as e:
        return f"cannot read the download ({e.strerror or e})"
    if len(head) < 12 or head[4:8] != b"ftyp":
        return "the download is not an MP4 file"
    try:
        import av

        with av.open(str(path)) as c:
            if not any(s.type == "video" for s in c.streams):
                return "the download has no video stream"
            for _ in c.demux(video=0):
                break
    except Exception as e:
        return f"the download is not a playable video ({type(e).__name__})"
    return None


def prepare_folder(folder: Path) -> None:
    """Refuse a folder that holds something other than a render."""
    folder = Path(folder)
    if folder.exists():
        if not folder.is_dir():
            raise OSError(f"{folder} exists and is not a folder")
        if not (folder / L.FILENAME).exists() and any(p.name != LOCK_FILE for p in folder.iterdir()):
            raise OSError(f"{folder} exists and is not a klingc render folder (no {L.FILENAME}); "
                          f"choose another folder with -o")
    folder.mkdir(parents=True, exist_ok=True)


class FolderBusy(OSError):
    """Another process is rendering into the folder, or picking in it (it holds the folder's lock),
    or the folder's lock file is not a regular file (a symbolic link, a FIFO)."""


# What a process that finds the folder's lock held is told to do, by what it was about to do.
_WAIT = {"render": "wait for it to finish, or render into another folder with -o",
         "pick": "pick the take when it has finished",
         "review": "write the review page when it has finished",
         "export": "export the film when it has finished"}


def _busy(text: str, purpose: str) -> FolderBusy:
    """``FolderBusy`` for a folder whose lock file reads ``text`` (``"<pid>[ <command>]"``)."""
    parts = text.split()
    who = f"process {parts[0]}" if parts and parts[0].isdigit() else "another process"
    holder = parts[1] if len(parts) > 1 else "render"
    doing = "is already rendering into this folder" if holder == "render" else \
        f"(klingc {holder}) is using this folder"
    return FolderBusy(f"{who} {doing} (it holds {LOCK_FILE}); {_WAIT[purpose]}")


def lock_folder(folder: Path, purpose: str = "render") -> Optional[int]:
    """Take the folder's lock (issue 12: one render per folder) and return its descriptor,
    held until ``unlock_folder``; the lock file keeps the holder's process id (and, but for a
    render, the command: ``pick``). A folder another process holds raises ``FolderBusy``
    naming that process and saying what to do instead of ``purpose``, and nothing in it is
    changed. The lock is ``flock``'s, so it goes with the process (a killed render leaves no
    stale lock); where there is no ``fcntl`` (not POSIX) there is no lock."""
    try:
        import fcntl
    except ImportError:                                 # pragma: no cover - POSIX only
        return None
    fd = _open_lock(folder, os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 64, 0).decode("ascii", "replace")
        os.close(fd)
        raise _busy(holder, purpose) from None
    except BaseException:
        os.close(fd)
        raise
    os.ftruncate(fd, 0)
    os.pwrite(fd, (f"{os.getpid()}\n" if purpose == "render" else f"{os.getpid()} {purpose}\n").encode("ascii"), 0)
    return fd


def check_folder_free(folder: Path, purpose: str) -> None:
    """``FolderBusy`` (as ``lock_folder`` gives it) when a process holds the folder's lock; for
    what only reads a render folder, or writes beside what a render writes (``export``, the
    review page). Creates nothing: a folder without a lock file is free."""
    try:
        import fcntl
    except ImportError:                                 # pragma: no cover - POSIX only
        return
    try:
        fd = _open_lock(folder, os.O_RDONLY)
    except FileNotFoundError:
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)   # shared: two readers do not conflict
    except BlockingIOError:
        raise _busy(os.pread(fd, 64, 0).decode("ascii", "replace"), purpose) from None
    finally:
        os.close(fd)


def _open_lock(folder: Path, flags: int) -> int:
    """The folder's lock file, opened with ``flags``: never through a symbolic link, never
    waiting on a FIFO, and only a regular file (``FolderBusy`` saying what is there instead: a
    render folder from elsewhere may hold anything under that name)."""
    import stat

    path = Path(folder) / LOCK_FILE
    try:
        fd = os.open(path, flags | os.O_NONBLOCK | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0),
                     0o644)
    except FileNotFoundError:
        raise
    except OSError as e:
        raise FolderBusy(f"{path} cannot be used as the folder's lock ({e.strerror or e}); remove it") from None
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        from ..files import kind_of
        raise FolderBusy(f"{path} is {kind_of(st.st_mode)}, not the folder's lock file; remove it")
    return fd


def unlock_folder(fd: Optional[int]) -> None:
    if fd is not None:
        os.close(fd)                                    # closing the descriptor drops the lock


# -- the render ------------------------------------------------------------------------------

class Render:
    def __init__(self, plan: dict, script_dir: Path, credentials: Credentials, options: Options,
                 progress: Optional[Progress] = None, transport=None):
        self.plan = plan
        self.options = options
        self.generation = G.plan_generation(plan)
        self.folder = Path(options.output)
        self.clips = self.folder / "clips"
        self.credentials = credentials
        self.progress = progress or Progress()
        self.transport = transport
        self.images = Images(script_dir, options.root, options.allow_outside)
        self.jobs = list(plan.get("jobs") or [])
        self.elements = {e["id"]: e for e in plan.get("elements") or []}
        self.element_of_name = {e["name"]: e["id"] for e in self.elements.values()}
        self.voices: dict[str, dict] = {}
        self.voice_of: dict[str, str] = {}        # element id -> voice key
        self.currency = plan.get("currency", "credits")
        self.limiter = Limiter(options.concurrency)
        self.ledger: Optional[L.Ledger] = None
        self.api: Optional[KlingClient] = None
        self.poller: Optional[BatchPoller] = None
        self.fatal: Optional[KlingError] = None
        self._tasks: list[asyncio.Task] = []
        self._made: dict[str, asyncio.Task] = {}     # element or voice key -> its id at Kling
        self._confirmed: set[str] = set()
        self._remade: set[str] = set()               # made again in this render (at most once)
        self._rechecks: dict[str, asyncio.Task] = {}
        self.result = Result(code=0)
        self.created_now: dict[str, int] = {}       # key -> tasks created by this render
        self.goals: dict[str, int] = {}             # job id -> successful takes asked for
        self._job_tasks: dict[str, asyncio.Task] = {}   # job id -> its task (a chained job waits)

    # -- entry point --
    async def run(self) -> Result:
        if not self.credentials.serves(self.generation):
            from .client import API_KEY_ENV
            raise MissingCredentials(f"this plan uses Kling's {self.generation} API, which takes an API key: "
                                     f"export {API_KEY_ENV}")
        prepare_folder(self.folder)
        lock = lock_folder(self.folder)
        try:
            self.ledger = L.Ledger.open(self.folder)
            try:
                return await self._run()
            finally:
                self.ledger.close()
        finally:
            unlock_folder(lock)

    def _set_goals(self, entries: dict) -> None:
        """The successful takes each job should have: ``takes``, and one more than it has for a
        job that ``retake`` names (recorded before anything is sent, so that a render that dies
        during the retake resumes it instead of asking for yet another)."""
        from .takes import select_plan_jobs

        base = max(1, int(self.options.takes or 1))
        self.goals = {j["id"]: base for j in self.jobs}
        for jid in select_plan_jobs(self.plan, self.options.retake):
            e = entries[jid]
            want = e.retake
            if want is None:
                want = len(self._good(jid)) + 1
                self.ledger.update(jid, retake=want)
            self.goals[jid] = max(base, want)

    def _budget(self) -> Optional[Budget]:
        if self.options.budget is not None:
            return self.options.budget
        if self.options.max_credits is not None:
            return Budget(self.options.max_credits, CREDITS)
        return None

    async def _run(self) -> Result:
        ledger, r = self.ledger, self.result
        service = self.options.service or self.options.api_base
        before = ledger.meta("service")
        if before is not None and before != service:
            raise ServiceChanged(self.folder, before, service)
        self.voices = plan_voices(self.plan, self.images)
        self.voice_of = {el: key for key, v in self.voices.items() for el in v["elements"]}
        ledger.set_meta(service=service, api=self.generation)
        ledger.sync_plan(self.plan, self.voices.values())
        write_atomic(self.folder / PLAN_FILE, json.dumps(self.plan, ensure_ascii=False, indent=2) + "\n",
                     fsync=True)
        entries = {e.id: e for e in ledger.entries()}
        r.total_credits = sum(float(j.get("credits") or 0) for j in self.jobs)
        self._set_goals(entries)
        entries = {e.id: e for e in ledger.entries()}
        # What is asked: the takes still to pay for (a take under way that Kling has is not paid again).
        new_takes: dict[str, int] = {}
        todo = []
        for j in self.jobs:
            e = entries[j["id"]]
            good = len(self._good(j["id"]))
            busy = _in_progress(e, self.folder)
            free = 1 if busy and _paid(e) else 0
            new_takes[j["id"]] = max(0, self.goals[j["id"]] - good - free)
            if busy or new_takes[j["id"]]:
                todo.append(j)
        needed = {eid for j in todo for eid in j.get("depends_on") or []}
        voices_needed = {self.voice_of[e] for e in needed if e in self.voice_of}
        items = [("job", j, "cost") for j in self.jobs for _ in range(new_takes[j["id"]])]
        items += [("element", self.elements[k], "cost") for k in sorted(needed)
                  if entries[k].state != "done"]
        items += [("voice", self.voices[k], "cost") for k in sorted(voices_needed)
                  if entries[k].state != "done"]
        r.asked = _asked(items, self.currency)
        budget = self._budget()
        if budget is not None:
            spend = to_spend(items, budget)
            if spend > budget.amount:
                raise BudgetExceeded(spend, budget.amount, r.total_credits, self.currency, budget.unit)
        self.progress.note(_asked_line(r.asked, budget, self.currency))
        self.clips.mkdir(parents=True, exist_ok=True)
        for stale in self.clips.glob(".*.part"):
            stale.unlink(missing_ok=True)

        names = {j["id"]: str(j.get("scene_title") or "") for j in self.jobs if j.get("scene_title")}
        names.update({j["id"]: "" for j in self.jobs if j["id"] not in names})
        self.progress.start(self.plan.get("title") or self.plan.get("source") or "film",
                            len(self.jobs), len(needed) + len(voices_needed), names)
        self.api = KlingClient(self.options.api_base, self.credentials, timeout=self.options.timeout,
                               retry=self.options.retry,
                               on_retry=self._on_retry, on_too_many=self.limiter.lower,
                               transport=self.transport)
        self.poller = BatchPoller(self.api, self.options.poll_interval)
        outcomes: list = []
        try:
            for key in self.voices:
                if key in voices_needed:
                    self._made[key] = asyncio.ensure_future(self._guard(self._make(key)))
            for eid in self.elements:
                if eid in needed:
                    self._made[eid] = asyncio.ensure_future(self._guard(self._make(eid)))
            for order, job in enumerate(self.jobs):
                self._tasks.append(asyncio.ensure_future(self._guard(self._job(job, order))))
                self._job_tasks[job["id"]] = self._tasks[-1]
            outcomes = await asyncio.gather(*self._tasks, return_exceptions=True)
            pending = list(self._made.values()) + list(self._rechecks.values())
            for t in pending:
                if not t.done():
                    t.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        finally:
            r.requests = self.api.requests
            await self.poller.aclose()
            await self.api.aclose()

        for job, out in zip(self.jobs, outcomes):
            if isinstance(out, Outcome):
                r.outcomes.append(out)
            else:
                e = ledger.get(job["id"])
                why = self.fatal.message if self.fatal else (
                    "stopped" if isinstance(out, asyncio.CancelledError) else f"{type(out).__name__}: {out}")
                r.outcomes.append(Outcome(job["id"], e.label if e else job["id"], "error",
                                          self.api.redact(why), float(job.get("credits") or 0),
                                          int(job.get("duration") or 0)))
        final = {e.id: e for e in ledger.entries()}
        r.spent_now = sum(o.credits * o.takes_now for o in r.outcomes if o.spent_now)
        current_takes = [t for t in ledger.takes() if t.job in final]
        r.spent_total = sum(t.credits for t in current_takes if t.state == "done")
        summary = L.summarize(final.values(), current_takes)
        r.charged, r.estimated = summary["charged"], summary["estimated"]
        if self.fatal is not None:
            r.message = self.fatal.message
        if self.options.assemble and self.fatal is None:
            from .assemble import AssemblyError, assemble

            from .takes import choose

            clips = choose(ledger, self.folder, self.plan)        # the picked (else latest) takes
            try:
                made = await asyncio.to_thread(assemble, self.plan, clips, self.folder, self.progress.note)
                r.scenes, r.film, r.incomplete_scenes = made.scenes, made.film, made.incomplete
            except AssemblyError as e:
                r.message = f"assembly failed: {e}"
                r.code = 3
        if self.fatal is not None or r.failed or (self.options.assemble and r.film is None and self.jobs):
            r.code = 3
        return r

    async def _guard(self, coro):
        """Run a job, element or voice; a refused login or account stops every other one."""
        try:
            return await coro
        except Stop as e:
            if self.fatal is None:
                self.fatal = e
                self.progress.note(f"stopping: {e.message}")
                for t in self._tasks + list(self._made.values()) + list(self._rechecks.values()):
                    if t is not asyncio.current_task():
                        t.cancel()
            raise

    def _on_retry(self, why: str, delay: float) -> None:
        self.progress.note(f"retrying in {delay:.1f}s: {why}")

    def _clip_ready(self, e: L.Entry) -> bool:
        """Whether the take the job's row follows is done, its clip there."""
        return e.state == "done" and L.file_ok(self.folder, e, checksum=False)

    # -- elements and voices --
    def _endpoint(self, key: str) -> str:
        return self.voices[key]["endpoint"] if key in self.voices else self.elements[key]["endpoint"]

    async def _request_of(self, key: str) -> dict:
        """The request that makes element or voice ``key`` (a voice's sample read; an element
        bound to its voice)."""
        if key in self.voices:
            return voice_request(self.voices[key], self.images)
        el = self.elements[key]
        request = dict(el["request"])
        if el.get("voice_id"):
            request["element_voice_id"] = str(el["voice_id"])
        elif key in self.voice_of:
            request["element_voice_id"] = str(await self._made[self.voice_of[key]])
        return request

    async def _confirm(self, key: str, e: L.Entry, force: bool = False) -> bool:
        """Whether Kling still has the element or voice recorded for ``key``; if not, the ledger
        says it is gone (and the next creation uses a new external id)."""
        if key in self._confirmed and not force:
            return True
        kind = e.kind
        gone = None
        try:
            task = await self.api.query(self._endpoint(key), e.task_id or e.external_task_id,
                                        min_delay=self.options.poll_interval)
        except NotFound:
            gone = "Kling does not know it"
        except Rejected as x:
            if x.code not in (1201, 1203):
                raise
            gone = x.message
        else:
            rid = task.element_id if kind == "element" else task.voice_id
            if task.deleted:
                gone = f"Kling says {kind} {rid} was deleted"
            elif task.status != "succeed" or rid is None:
                gone = f"Kling no longer gives its id (task {task.status})"
        if gone is None:
            self._confirmed.add(key)
            return True
        self._confirmed.discard(key)
        self.progress.note(f"{e.label}: {kind} {e.element_id} is gone ({gone}); making it again")
        self.ledger.update(key, state="gone", message=f"gone: {gone}")
        self._remade.add(key)
        return False

    async def _make(self, key: str) -> str:
        """The id at Kling of element or voice ``key``: confirmed, found again, or created."""
        e = self.ledger.get(key)
        label, kind = e.label, e.kind
        endpoint = self._endpoint(key)
        if e.state == "done" and e.element_id:
            try:
                still = await self._confirm(key, e)
            except Stop:
                raise
            except KlingError as x:
                raise ElementFailed(f"{label} could not be confirmed: {x.message}") from None
            if still:
                self.progress.state(key, label, "done", f"{kind} id {e.element_id}")
                return e.element_id
        try:
            for attempt in range(3):
                try:
                    request = await self._request_of(key)
                    task, fresh = await self._ensure_task(key, endpoint, request, {}, label, order=None)
                    task = await self._poll(key, endpoint, task, label, fresh)
                    break
                except NotFound:
                    if attempt:
                        raise
                    self._forget(key, label)
                except Rejected as x:
                    # An element refused for a voice that is gone: make the voice again, once.
                    if attempt or x.code != 1201 or not await self._deps_gone([self.voice_of.get(key)]):
                        raise
        except Stop:
            raise
        except (KlingError, _LocalProblem, ElementFailed) as x:
            why = x.message if isinstance(x, KlingError) else str(x)
            state = "rejected" if isinstance(x, Rejected) else "error"
            self.ledger.update(key, state=state, message=why)
            self.progress.state(key, label, state, why)
            raise ElementFailed(f"{label} could not be created: {why}") from None
        self._record_charge(key, task)
        rid = task.element_id if kind == "element" else task.voice_id
        if task.status != "succeed" or rid is None or task.deleted:
            why = task.message or f"Kling gave no {kind} id"
            self.ledger.update(key, state="failed", message=why)
            self.progress.state(key, label, "failed", why)
            raise ElementFailed(f"{label} could not be created: {why}")
        self.ledger.update(key, state="done", element_id=str(rid), message="")
        self._confirmed.add(key)
        self.progress.state(key, label, "done", f"{kind} id {rid}")
        return str(rid)

    async def _deps_gone(self, keys) -> bool:
        """After a 1201: confirm the elements or voices ``keys`` again; True when one was gone
        and has been made again (so the refused request may be sent once more)."""
        remade = False
        for key in keys:
            if key is None or key not in self._made:
                continue
            if key in self._remade:
                continue           # made again already in this render: not a second time
            t = self._rechecks.get(key)
            if t is None:
                t = self._rechecks[key] = asyncio.ensure_future(self._recheck(key))
            remade = await t or remade
        return remade

    async def _recheck(self, key: str) -> bool:
        try:
            await self._made[key]
        except (ElementFailed, asyncio.CancelledError):
            return False
        if await self._confirm(key, self.ledger.get(key), force=True):
            return False
        self._made[key] = asyncio.ensure_future(self._guard(self._make(key)))
        await self._made[key]
        return True

    async def _element_ids(self, job: dict, jid: str, label: str) -> dict:
        ids = {}
        for dep in job.get("depends_on") or []:
            self.progress.state(jid, label, "waiting", f"for element {self.elements[dep]['name']}")
            ids[self.elements[dep]["name"]] = await self._made[dep]
        return ids

    # -- jobs --
    async def _job(self, job: dict, order: int) -> Outcome:
        """Make sure the job has the takes asked for (``goal``): a take in progress is always
        finished (it is paid for, or may be); new takes are made one after another."""
        jid = job["id"]
        e = self.ledger.get(jid)
        label = e.label
        credits, seconds = float(job.get("credits") or 0), int(job.get("duration") or 0)
        goal = self.goals.get(jid, 1)

        def outcome(state, message=""):
            return Outcome(jid, label, state, message, credits, seconds, self.created_now.get(jid, 0) > 0,
                           self.created_now.get(jid, 0))

        def fail(state: str, message: str, record_state: bool = True) -> Outcome:
            """Record why the job stopped (and ``state``, unless the ledger's stays) and report it."""
            if record_state:
                self.ledger.update(jid, state=state, message=message)
            else:
                self.ledger.update(jid, message=message)
            self.progress.state(jid, self._label(jid), state, message)
            return outcome(state, message)

        element_ids = None
        rounds = 0
        for rounds in range(goal + 2):          # each round makes one take or stops the job
            e = self.ledger.get(jid)
            good = len(self._good(jid))
            if not _in_progress(e, self.folder) and good >= goal:
                break
            if self._clip_ready(e):
                e = self.ledger.new_take(jid)
            if element_ids is None:
                try:
                    element_ids = await self._element_ids(job, jid, label)
                except ElementFailed as x:
                    return fail("error", str(x), record_state=False)
            if not _paid(e):
                await self._after_sources(job, jid, label)    # a chained take starts after them
            problem = await self._take(job, order, element_ids)
            if problem is not None:
                return fail(*problem)
        else:
            return fail("error", "the takes asked for were not made", record_state=False)
        if e.retake is not None:
            self.ledger.update(jid, retake=None)       # the --retake is done
        if rounds == 0:
            self.progress.state(jid, self._label(jid), "done", "already rendered")
        return outcome("done")

    async def _after_sources(self, job: dict, jid: str, label: str) -> None:
        """A chained job starts once the jobs whose last frames it starts from are over (their
        takes made, or failed: ``chain.frames_for`` then says why it cannot be sent)."""
        for ref in chain.placeholders(job.get("request") or {}):
            src = chain.source(self.jobs, ref)
            t = self._job_tasks.get(src["id"]) if src is not None else None
            if t is not None and not t.done():
                self.progress.state(jid, label, "waiting", f"for the last frame of {self.ledger.get(src['id']).label}")
                await asyncio.wait([t])       # not `await t`: cancelling this job must not cancel it

    async def _chain_frames(self, key: str) -> tuple[dict, Optional[str]]:
        job = next((j for j in self.jobs if j["id"] == key), None)
        if job is None or not chain.placeholders(job.get("request") or {}):
            return {}, None
        try:
            takes = chain.takes_for(self.ledger, self.folder, self.jobs, job)
            return await asyncio.to_thread(chain.extract, takes, self.folder, job)
        except chain.ChainError as x:
            raise _LocalProblem(str(x)) from None

    def _label(self, jid: str) -> str:
        e = self.ledger.get(jid)
        return e.label + (f" take {e.take}" if (e.take or 1) > 1 else "")

    def _good(self, jid: str) -> list:
        from .takes import good_takes

        return good_takes(self.ledger, self.folder, jid)

    async def _take(self, job: dict, order: int, element_ids: dict) -> Optional[tuple]:
        """Finish (or make) the take the job's row follows. None when it is done; else
        ``(state, message[, record_state])`` for ``fail``."""
        jid = job["id"]
        e = self.ledger.get(jid)
        label = self._label(jid)
        try:
            task = None
            if e.state in ("succeed", "done") and e.task_id:
                # Paid for, not downloaded (or the file is gone): ask for the result again.
                try:
                    task = await self.api.query(job["endpoint"], e.task_id,
                                                min_delay=self.options.poll_interval)
                except NotFound:
                    self._forget(jid, label)
            if task is None:
                try:
                    task = await self._run_task(jid, job, element_ids, label, order)
                except Rejected as x:
                    # 1201 for a job with elements: one may be gone (or was made again since this
                    # job read its id); confirm them, make a gone one again, send the job once more.
                    deps = job.get("depends_on") or []
                    if x.code != 1201 or not deps:
                        raise
                    now = await self._element_ids(job, jid, label)
                    if now == element_ids and not await self._deps_gone(deps):
                        raise
                    element_ids = await self._element_ids(job, jid, label)
                    task = await self._run_task(jid, job, element_ids, label, order)
        except Stop:
            raise
        except ElementFailed as x:
            return ("error", str(x), False)
        except (KlingError, _LocalProblem) as x:      # KlingError includes GaveUp
            why = x.message if isinstance(x, KlingError) else str(x)
            return ("rejected" if isinstance(x, Rejected) else "error", why)

        self._record_charge(jid, task)
        if task.status == "failed":
            return ("failed", task.message or "Kling reported the task as failed without a reason")
        try:
            await self._download(jid, job, task, label)
        except Stop:
            raise
        except KlingError as x:
            return ("error", x.message, False)
        return None

    def _record_charge(self, key: str, task: Task) -> None:
        """What Kling charged for the task, when its answer says (``billing`` / ``final_unit_deduction``)."""
        c = task.charge
        if c is not None:
            self.ledger.update(key, charged=c.amount, charge_unit=c.unit,
                               billing=json.dumps(c.raw, ensure_ascii=False, sort_keys=True))

    async def _run_task(self, jid: str, job: dict, element_ids: dict, label: str, order: int) -> Task:
        """Create (or find) the job's task and poll it to the end, holding an in-flight slot."""
        attempts = 0
        forgotten = False
        while True:
            await self.limiter.acquire(order)
            ok = False
            try:
                task, fresh = await self._ensure_task(jid, job["endpoint"], job["request"], element_ids,
                                                      label, order=order)
                task = await self._poll(jid, job["endpoint"], task, label, fresh)
                ok = True
                return task
            except NotFound:
                if forgotten:
                    raise
                forgotten = True
                self._forget(jid, label)
                continue
            except RateLimited as x:
                if x.code != 1303:
                    raise
                self.ledger.update(jid, state="pending")   # refused, so no task was created
                attempts += 1
                if attempts >= 3 * self.options.retry.attempts:
                    raise GaveUp(f"Kling kept answering that too many tasks run at once; "
                                 f"gave up after {attempts} attempts", x) from None
                self.progress.state(jid, label, "waiting", f"Kling has too many tasks running; "
                                                           f"{self.limiter.limit} at a time now")
            finally:
                self.limiter.release(ok=ok)
            # the slot is free again; wait before asking for it once more
            await asyncio.sleep(self.options.retry.rate_delay(min(attempts, 6)))

    def _forget(self, key: str, label: str) -> None:
        """The API does not know the recorded task (a restarted simulator, a task long expired)."""
        e = self.ledger.get(key)
        self.progress.note(f"{label}: task {e.task_id} is unknown to {self.options.api_base}; sending it again")
        self.ledger.update(key, state="pending", task_id=None, result_url=None)

    async def _ensure_task(self, key: str, endpoint: str, request: dict, element_ids: dict, label: str,
                           order: Optional[int]) -> tuple[Task, bool]:
        """The task of an element, voice or job: the one already at Kling, or a new one.

        Also says whether the task's status was just read from Kling (then
        the first query waits a poll interval) or only from the ledger.
        """
        e = self.ledger.get(key)
        if e.task_id and e.state in L.LIVE + ("error", "succeed"):
            self.progress.state(key, label, e.state if e.state in L.LIVE else "processing",
                                f"resuming task {e.task_id}")
            return Task(e.task_id, "processing", external_task_id=e.external_task_id or ""), False
        # A task may exist after a crash between sending and recording it; an element may have
        # been created by the render of another script that uses the same cast.
        maybe_exists = (e.state in ("sending", "error") and bool(e.external_task_id)) or (
            e.kind in ("element", "voice") and e.state != "failed")
        callback = self.options.callback_url
        body = None
        frames: Optional[tuple] = None       # a chained job's first frame, from the current picks
        if not maybe_exists:
            # Build the body before recording the intent: a local problem sends nothing.
            frames = await self._chain_frames(key)
            body = materialize(request, key, self.images, element_ids, endpoint, callback, frames[0])
        e = self.ledger.intend(key)
        ext = e.external_task_id
        task = None
        if maybe_exists:
            task = await self.api.find(endpoint, ext, min_delay=self.options.poll_interval)
            if task is not None:
                self.progress.state(key, label, task.status, f"found task {task.task_id} sent before")
        if task is None:
            # the id intend() chose (``<id>-<n>`` after a failure)
            if frames is None:
                frames = await self._chain_frames(key)
            body = materialize(request, ext, self.images, element_ids, endpoint, callback, frames[0])
            if frames[1] is not None:
                self.ledger.update(key, first_frame=frames[1])    # with the take it is sent with
            self.progress.state(key, label, "sending")
            task = await self.api.create(endpoint, body, retry_too_many=order is None)
            self.created_now[key] = self.created_now.get(key, 0) + 1
        self.ledger.update(key, state=_ledger_state(task.status), task_id=task.task_id)
        self.progress.state(key, label, task.status, f"task {task.task_id}")
        return task, True

    async def _poll(self, key: str, endpoint: str, task: Task, label: str, fresh: bool) -> Task:
        if G.path_generation(endpoint) == G.CURRENT:
            return await self._poll_batched(key, task, label)
        interval = self.options.poll_interval
        started = previous = time.monotonic()
        polls = 0
        last = task.status
        while not task.finished:
            delay = 0.0 if (not fresh and polls == 0) else poll_delay(
                interval, polls, time.monotonic() - started, self.options.backoff_after)
            # Queries start `delay` apart (not `delay` after the last answer), so a slow answer
            # does not stretch the interval; never closer together than that.
            wait = previous + delay - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            previous = time.monotonic()
            polls += 1
            task = await self.api.query(endpoint, task.task_id, min_delay=interval)
            last = self._moved(key, label, task, last)
        return task

    def _moved(self, key: str, label: str, task: Task, last: str) -> str:
        """Record and show a task's new status (not its end: that is the caller's); its status."""
        if task.status != last and not task.finished:
            self.ledger.update(key, state=_ledger_state(task.status))
            self.progress.state(key, label, task.status, f"task {task.task_id}")
        return task.status

    async def _poll_batched(self, key: str, task: Task, label: str) -> Task:
        ext = self.ledger.get(key).external_task_id or task.external_task_id
        last = task.status
        while not task.finished:
            task = await self.poller.change(ext, last)
            last = self._moved(key, label, task, last)
        return task

    async def _download(self, jid: str, job: dict, task: Task, label: str) -> None:
        url = task.videos[0].url if task.videos else None
        if not url:
            raise KlingError("the task succeeded but Kling gave no video URL")
        self.ledger.update(jid, state="succeed", task_id=task.task_id, result_url=url)
        self.progress.state(jid, label, "downloading", f"task {task.task_id}")
        final = self.clips / f"{L.take_name(jid, self.ledger.get(jid).take)}.mp4"     # one file per take
        refreshed = False
        for attempt in range(self.options.retry.attempts):
            tmp = self.clips / f".{jid}.{os.getpid()}.{attempt}.part"
            try:
                size, digest = await self.api.download(url, tmp)
            except BadDownload as x:
                if not refreshed and x.status in (403, 404, 410):
                    # The URL has expired: ask for the task again for a fresh one.
                    refreshed = True
                    fresh = await self.api.query(job["endpoint"], task.task_id)
                    if fresh.videos:
                        url = fresh.videos[0].url
                        self.ledger.update(jid, result_url=url)
                        continue
                raise
            problem = await asyncio.to_thread(_keep, tmp, final)
            if problem is None:
                rel = L.relpath(self.folder, final)
                self.ledger.update(jid, state="done", file=rel, bytes=size, sha256=digest, message="")
                self.progress.state(jid, label, "done", rel)
                return
            tmp.unlink(missing_ok=True)
            self.progress.note(f"{label}: {problem}; downloading again")
        raise BadDownload(f"the download of task {task.task_id} was not a usable clip")


def _keep(tmp: Path, final: Path) -> Optional[str]:
    """Check a download; if it is a good clip, sync it to disk and rename it into place."""
    problem = check_clip(tmp)
    if problem is not None:
        return problem
    with open(tmp, "rb+") as f:
        os.fsync(f.fileno())
    os.replace(tmp, final)
    _fsync_dir(final.parent)
    return None


def _asked(items: list, currency: str) -> dict:
    """The new takes asked (and elements and voices to make) and their estimate in each unit
    the plan has (None where a job has none)."""
    from .costs import UNITS, USD

    out: dict = {"takes": sum(1 for kind, _, _ in items if kind == "job")}
    for unit in (CREDITS, UNITS, USD):
        try:
            out[unit] = to_spend(items, Budget(0, unit))
        except BudgetUnknown:
            out[unit] = None
    return out


def _asked_line(asked: dict, budget: Optional[Budget], currency: str) -> str:
    from .costs import UNITS, USD

    n = asked["takes"]
    if not n:
        return "nothing new to generate" + (f" (budget {budget.show(currency)})" if budget else "")
    cost = [fmt(asked[u], u, currency) for u in (CREDITS, UNITS, USD) if asked.get(u) is not None]
    return (f"asked: {n} new take{'s' if n != 1 else ''}, estimated {', '.join(cost)}"
            + (f"; budget {budget.show(currency)}" if budget else ""))


def _in_progress(e: L.Entry, folder: Path) -> bool:
    """Whether the job's row follows a take that is under way: sent (or maybe sent), or paid for
    and not downloaded. Such a take is finished before any other is made."""
    if e.state == "done":
        return not L.file_ok(folder, e, checksum=False)
    return e.state == "sending" or (_paid(e) and e.state != "done")


def _paid(e: L.Entry) -> bool:
    """Whether Kling already has (or had) this job's task, so running it costs nothing more."""
    return e.state in ("done", "succeed") + L.LIVE or (e.state == "error" and bool(e.task_id))


def _ledger_state(status: str) -> str:
    return status if status in L.STATES else "processing"


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


async def render_plan(plan: dict, script_dir: Path, credentials: Credentials, options: Options,
                      progress: Optional[Progress] = None, transport=None) -> Result:
    return await Render(plan, script_dir, credentials, options, progress, transport).run()

"""The Kling API client (spec section 7): authentication, create, query, download.

- **Credentials** come from ``KLING_ACCESS_KEY`` and ``KLING_SECRET_KEY``
  only. They are never written anywhere, and every error message is passed
  through ``Credentials.redact`` so neither the secret key nor a token built
  from it can reach output, logs or files.
- **Authentication** is a JWT (HS256) with ``iss`` = the access key,
  ``exp`` = now + 1800 s and ``nbf`` = now - 5 s, signed with the secret key
  and sent as ``Authorization: Bearer <token>``. A token is reused until it
  has less than ``refresh_before`` seconds (10 minutes) left.
- **Errors** are mapped from Kling's code table: HTTP 401 (codes 1000-1004)
  raises ``AuthError`` ("check KLING_ACCESS_KEY / KLING_SECRET_KEY"); 400
  (1200, 1201) and 1301 (content safety) raise ``Rejected`` and are never
  retried; 429 (1302 too fast, 1303 too many tasks in parallel) and 5xx
  (5000-5002) are retried with exponential backoff and jitter, as are
  timeouts and dropped connections. A 1303 is reported to ``on_too_many``
  (the render lowers the number of tasks it keeps in flight). When retries
  run out, ``GaveUp`` says why.
- **Creating is idempotent.** Every request carries ``external_task_id``.
  After an answer that leaves it unknown whether a task was created (a 5xx,
  a timeout, a dropped connection), the client looks the task up by
  ``external_task_id`` before sending the create again; a create refused
  because the ``external_task_id`` is taken adopts the existing task.
- **Queries** go to ``GET <create path>/<task_id>``; by external id,
  ``GET <create path>/<external_task_id>`` (Kling's query path takes either
  id). A retried query waits at least ``min_delay`` (the render's poll
  interval), so a job is queried at most once per poll interval.
- **Downloads** do not carry the token (result URLs are public, and may be
  on another host); they are streamed to a file whose SHA-256 and size are
  returned.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Optional

DEFAULT_API_BASE = "https://api-singapore.klingai.com"
ACCESS_ENV, SECRET_ENV, BASE_ENV = "KLING_ACCESS_KEY", "KLING_SECRET_KEY", "KLING_API_BASE"
CHECK_KEYS = f"check {ACCESS_ENV} / {SECRET_ENV}"


# -- errors ---------------------------------------------------------------------------

class KlingError(Exception):
    """A failed API call. ``str(e)`` is a clear, redacted sentence."""

    def __init__(self, message: str, status: Optional[int] = None, code: Optional[int] = None):
        super().__init__(message)
        self.message, self.status, self.code = message, status, code


class MissingCredentials(KlingError):
    """KLING_ACCESS_KEY or KLING_SECRET_KEY is not set."""


class AuthError(KlingError):
    """Kling refused the credentials (HTTP 401): the render stops."""


class Rejected(KlingError):
    """Kling refused the request itself (400, or 1301 content safety): never retried."""


class NotFound(KlingError):
    """No such task (HTTP 404)."""


class RateLimited(KlingError):
    """HTTP 429: 1302 (too fast) or 1303 (too many tasks in parallel)."""


class ServerError(KlingError):
    """HTTP 5xx."""


class NetworkError(KlingError):
    """A timeout or a dropped connection: the request may or may not have arrived."""


class GaveUp(KlingError):
    """Retries ran out; ``last`` is the last error."""

    def __init__(self, message: str, last: KlingError):
        super().__init__(message, last.status, last.code)
        self.last = last


class BadDownload(KlingError):
    """A download that is not a whole, playable clip."""


# -- credentials and tokens --------------------------------------------------------------

class Credentials:
    """An access key and a secret key; the secret never appears in ``repr`` or messages."""

    __slots__ = ("access_key", "_secret")

    def __init__(self, access_key: str, secret_key: str):
        self.access_key = access_key
        self._secret = secret_key

    @classmethod
    def from_env(cls, env: Optional[Mapping[str, str]] = None) -> "Credentials":
        env = os.environ if env is None else env
        access = (env.get(ACCESS_ENV) or "").strip()
        secret = (env.get(SECRET_ENV) or "").strip()
        missing = [name for name, value in ((ACCESS_ENV, access), (SECRET_ENV, secret)) if not value]
        if missing:
            raise MissingCredentials(
                f"{' and '.join(missing)} {'is' if len(missing) == 1 else 'are'} not set: export your "
                f"Kling API keys as {ACCESS_ENV} and {SECRET_ENV} (or use --simulate to try a render "
                f"against the local simulator)")
        return cls(access, secret)

    @property
    def secret_key(self) -> str:
        return self._secret

    def __repr__(self) -> str:
        return f"Credentials(access_key={self.access_key!r}, secret_key=<hidden>)"

    def redact(self, text: str, tokens=()) -> str:
        for value in (self._secret, *tokens):
            if value:
                text = text.replace(value, "<redacted>")
        return text


class TokenSource:
    """JWTs for ``Authorization: Bearer``; a new one well before the current one expires."""

    def __init__(self, credentials: Credentials, lifetime: int = 1800, refresh_before: int = 600,
                 clock: Callable[[], float] = time.time):
        self.credentials = credentials
        self.lifetime, self.refresh_before, self.clock = lifetime, refresh_before, clock
        self._token: Optional[str] = None
        self._expires = 0.0
        self.issued: list[str] = []   # every token made, so messages can be redacted

    def token(self) -> str:
        now = self.clock()
        if self._token is None or now >= self._expires - self.refresh_before:
            import warnings

            import jwt

            exp = int(now) + self.lifetime
            claims = {"iss": self.credentials.access_key, "exp": exp, "nbf": int(now) - 5}
            with warnings.catch_warnings():
                # PyJWT warns about short HMAC keys; the key is Kling's to choose, not the user's.
                warnings.simplefilter("ignore")
                self._token = jwt.encode(claims, self.credentials.secret_key, algorithm="HS256",
                                         headers={"alg": "HS256", "typ": "JWT"})
            self._expires = exp
            self.issued.append(self._token)
            del self.issued[:-4]
        return self._token

    def invalidate(self) -> None:
        self._token = None


# -- retries ---------------------------------------------------------------------------------

@dataclass
class RetryPolicy:
    """Exponential backoff with jitter: attempt n waits between half and all of base * 2**n (capped)."""
    attempts: int = 8          # tries in all, the first included
    base: float = 0.5
    cap: float = 30.0
    rng: random.Random = field(default_factory=random.Random)

    def delay(self, attempt: int, at_least: float = 0.0) -> float:
        ceiling = min(self.cap, self.base * (2 ** attempt))
        return max(at_least, ceiling / 2 + self.rng.uniform(0, ceiling / 2))


# -- results ------------------------------------------------------------------------------------

@dataclass
class Video:
    id: str
    url: str
    duration: Optional[float]


@dataclass
class Task:
    task_id: str
    status: str                     # submitted, processing, succeed, failed
    message: str = ""               # task_status_msg
    external_task_id: str = ""
    videos: list[Video] = field(default_factory=list)
    element_id: Optional[Any] = None

    @property
    def finished(self) -> bool:
        return self.status in ("succeed", "failed")

    @classmethod
    def from_data(cls, data: dict) -> "Task":
        if not isinstance(data, dict) or not data.get("task_id"):
            raise ServerError("Kling answered without a task (no data.task_id)")
        info = data.get("task_info") or {}
        result = data.get("task_result") or {}
        videos = []
        for v in result.get("videos") or []:
            if isinstance(v, dict) and v.get("url"):
                try:
                    duration = float(v.get("duration"))
                except (TypeError, ValueError):
                    duration = None
                videos.append(Video(str(v.get("id", "")), str(v["url"]), duration))
        element_id = None
        for e in result.get("elements") or []:
            if isinstance(e, dict):
                element_id = e.get("element_id", e.get("id"))
                if element_id is not None:
                    break
        return cls(str(data["task_id"]), str(data.get("task_status") or "submitted"),
                   str(data.get("task_status_msg") or ""), str(info.get("external_task_id") or ""),
                   videos, element_id)


# -- the client ----------------------------------------------------------------------------------

def _describe(status: int, code, message: str) -> str:
    what = f"HTTP {status}" + (f", code {code}" if code is not None else "")
    return f"{message} ({what})" if message else what


class KlingClient:
    """``async with KlingClient(base, credentials) as api: task = await api.create(path, body)``."""

    def __init__(self, base_url: str, credentials: Credentials, *, timeout: float = 60.0,
                 retry: Optional[RetryPolicy] = None, max_connections: int = 4,
                 on_retry: Optional[Callable[[str, float], None]] = None,
                 on_too_many: Optional[Callable[[], None]] = None,
                 transport=None, sleep=asyncio.sleep):
        import httpx

        self.base_url = base_url.rstrip("/")
        self.credentials = credentials
        self.tokens = TokenSource(credentials)
        self.retry = retry or RetryPolicy()
        self.on_retry = on_retry
        self.on_too_many = on_too_many
        self.sleep = sleep
        self.requests = 0
        # Requests wait here rather than in httpx's pool, whose cost per request grows with
        # the number of requests queued in it; creates go first (a task slot waits on them).
        self._gate = _Gate(max_connections)
        # API calls are short: a few connections carry many tasks' queries, and a small pool
        # costs far less per request than a large one (httpx scans its pool on every request).
        limits = httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections)
        timeouts = httpx.Timeout(timeout, connect=min(timeout, 15.0), pool=None)
        self._http = httpx.AsyncClient(base_url=self.base_url, timeout=timeouts, limits=limits,
                                       transport=transport,
                                       headers={"User-Agent": "klingc", "Accept": "application/json"})
        self._files = httpx.AsyncClient(timeout=httpx.Timeout(max(timeout, 120.0), connect=15.0, pool=None),
                                        limits=httpx.Limits(max_connections=4, max_keepalive_connections=4),
                                        transport=transport, follow_redirects=True,
                                        headers={"User-Agent": "klingc"})

    async def __aenter__(self) -> "KlingClient":
        return self

    async def __aexit__(self, *exc) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()
        await self._files.aclose()

    def redact(self, text: str) -> str:
        return self.credentials.redact(text, self.tokens.issued)

    # -- one request, mapped to a result or an error --
    async def _send(self, method: str, path: str, body: Optional[dict] = None) -> dict:
        import httpx

        headers = {"Authorization": f"Bearer {self.tokens.token()}"}
        if body is not None:
            headers["Content-Type"] = "application/json"
        self.requests += 1
        try:
            await self._gate.acquire(urgent=method == "POST")
            try:
                response = await self._http.request(method, path, json=body, headers=headers)
            finally:
                self._gate.release()
        except httpx.TimeoutException as e:
            raise NetworkError(self.redact(f"no answer from {self.base_url} in time ({type(e).__name__})"))
        except httpx.HTTPError as e:
            raise NetworkError(self.redact(f"connection to {self.base_url} failed "
                                           f"({type(e).__name__}: {e or 'closed'})"))
        return self._answer(response)

    def _answer(self, response) -> dict:
        status = response.status_code
        try:
            payload = response.json()
        except ValueError:
            payload = None
        code = payload.get("code") if isinstance(payload, dict) else None
        message = self.redact(str(payload.get("message") or "")) if isinstance(payload, dict) else ""
        if status == 200 and code in (0, None) and isinstance(payload, dict):
            data = payload.get("data")
            if isinstance(data, dict):
                return data
            raise ServerError("Kling answered without data", status, code)
        if status == 200 and code:  # an error in a 200 envelope: map it by code
            status = 401 if 1000 <= code <= 1004 else 429 if code in (1302, 1303) else \
                500 if code >= 5000 else 400
        text = _describe(status, code, message)
        if status == 401 or (isinstance(code, int) and 1000 <= code <= 1004):
            raise AuthError(f"Kling refused the credentials: {text}; {CHECK_KEYS}", status, code)
        if status == 429:
            raise RateLimited(f"Kling is limiting requests: {text}", status, code)
        if status >= 500:
            raise ServerError(f"Kling had a server error: {text}", status, code)
        if status == 404:
            raise NotFound(f"not found: {text}", status, code)
        if code == 1301:
            raise Rejected(f"Kling's content safety check refused it: {text}", status, code)
        raise Rejected(f"Kling rejected the request: {text}", status, code)

    async def _wait(self, attempt: int, error: KlingError, at_least: float = 0.0) -> None:
        delay = self.retry.delay(attempt, at_least)
        if self.on_retry is not None:
            self.on_retry(str(error), delay)
        await self.sleep(delay)

    def _give_up(self, what: str, error: KlingError) -> GaveUp:
        return GaveUp(f"{what}: gave up after {self.retry.attempts} attempts; last: {error}", error)

    # -- API calls --
    async def query(self, endpoint: str, task_id: str, *, min_delay: float = 0.0) -> Task:
        """The task ``task_id`` (or an ``external_task_id``); retries transient errors."""
        path = f"{endpoint.rstrip('/')}/{task_id}"
        for attempt in range(self.retry.attempts):
            try:
                return Task.from_data(await self._send("GET", path))
            except (RateLimited, ServerError, NetworkError) as e:
                if attempt + 1 >= self.retry.attempts:
                    raise self._give_up(f"query of task {task_id}", e)
                await self._wait(attempt, e, min_delay)
        raise AssertionError("unreachable")

    async def find(self, endpoint: str, external_task_id: str, *, min_delay: float = 0.0) -> Optional[Task]:
        """The task created with ``external_task_id``, or None when there is none."""
        try:
            task = await self.query(endpoint, external_task_id, min_delay=min_delay)
        except NotFound:
            return None
        except Rejected as e:
            if e.code in (1201, 1203):     # (a 404 is NotFound, see _answer)
                return None
            raise
        if task.external_task_id and task.external_task_id != external_task_id:
            return None
        return task

    async def create(self, endpoint: str, body: dict, *, retry_too_many: bool = True) -> Task:
        """Create a task, at most once per ``external_task_id`` (see the module notes).

        With ``retry_too_many=False`` a 1303 is raised to the caller (after
        ``on_too_many``), which waits for one of its own tasks to finish.
        """
        external = body.get("external_task_id")
        unsure = False                     # a previous attempt may have created the task
        for attempt in range(self.retry.attempts):
            try:
                if unsure and external:
                    found = await self.find(endpoint, external)
                    if found is not None:
                        return found
                return Task.from_data(await self._send("POST", endpoint, body))
            except RateLimited as e:
                if e.code == 1303:
                    if self.on_too_many is not None:
                        self.on_too_many()
                    if not retry_too_many:
                        raise
                error = e
            except (ServerError, NetworkError) as e:
                unsure = True
                error = e
            except Rejected as e:
                if external and (attempt > 0 or "external" in e.message.lower()):
                    found = await self.find(endpoint, external)
                    if found is not None:
                        return found
                raise
            if attempt + 1 >= self.retry.attempts:
                raise self._give_up("create", error)
            await self._wait(attempt, error)
        raise AssertionError("unreachable")

    async def download(self, url: str, dest: Path) -> tuple[int, str]:
        """Stream ``url`` into ``dest``; returns (bytes, sha256). Retries transient errors.

        ``dest`` is not synced to disk; the caller does that before renaming it.

        Raises BadDownload when the body is shorter than announced or the
        server keeps failing; ``dest`` is then removed.
        """
        import httpx

        last: Optional[KlingError] = None
        for attempt in range(self.retry.attempts):
            digest = hashlib.sha256()
            size = 0
            try:
                async with self._files.stream("GET", url) as response:
                    if response.status_code != 200:
                        text = f"HTTP {response.status_code} for the result URL"
                        if response.status_code in (403, 404, 410):
                            raise BadDownload(f"the result is gone ({text}); it may have expired",
                                              response.status_code)
                        raise ServerError(text, response.status_code)
                    expected = response.headers.get("Content-Length")
                    with open(dest, "wb") as f:
                        async for chunk in response.aiter_bytes(1 << 20):
                            f.write(chunk)
                            digest.update(chunk)
                            size += len(chunk)
                    if expected is not None and expected.isdigit() and int(expected) != size:
                        raise NetworkError(f"download cut short ({size} of {expected} bytes)")
                    if size == 0:
                        raise NetworkError("the download was empty")
                    return size, digest.hexdigest()
            except httpx.HTTPError as e:
                last = NetworkError(self.redact(f"download failed ({type(e).__name__})"))
            except (ServerError, NetworkError) as e:
                last = e
            except BadDownload:
                _remove(dest)
                raise
            _remove(dest)
            if attempt + 1 >= self.retry.attempts:
                break
            await self._wait(attempt, last)
        raise BadDownload(f"download failed after {self.retry.attempts} attempts: {last}")


class _Gate:
    """At most ``n`` requests at once; urgent ones are let through before the others."""

    def __init__(self, n: int):
        self.free = max(1, n)
        self._urgent: list = []
        self._other: list = []

    async def acquire(self, urgent: bool = False) -> None:
        if self.free > 0 and not self._urgent and not self._other:
            self.free -= 1
            return
        fut = asyncio.get_running_loop().create_future()
        (self._urgent if urgent else self._other).append(fut)
        try:
            await fut
        except asyncio.CancelledError:
            if fut.done() and not fut.cancelled():
                self.release()
            else:
                for queue in (self._urgent, self._other):
                    if fut in queue:
                        queue.remove(fut)
            raise

    def release(self) -> None:
        self.free += 1
        while self.free > 0 and (self._urgent or self._other):
            fut = (self._urgent or self._other).pop(0)
            if not fut.done():
                self.free -= 1
                fut.set_result(None)


def _remove(path: Path) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def api_base(flag: Optional[str] = None, env: Optional[Mapping[str, str]] = None) -> str:
    env = os.environ if env is None else env
    return (flag or env.get(BASE_ENV) or DEFAULT_API_BASE).rstrip("/")

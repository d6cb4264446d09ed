"""The Kling API client (spec section 7): authentication, create, query, download.

Both API generations (see ``generations.py`` for what differs between them):

- **Credentials** come from the environment only: ``KLING_API_KEY`` (an API
  key from the Kling console, sent as ``Authorization: Bearer <key>``; it
  works on both generations) or ``KLING_ACCESS_KEY`` + ``KLING_SECRET_KEY``
  (a JWT, HS256, ``iss`` = the access key, ``exp`` = now + 1800 s, ``nbf`` =
  now - 5 s; legacy paths only). ``Credentials.from_env(env, generation)``
  refuses, naming the variables to set, when nothing set can serve the
  generation. They are never written anywhere, and every error message is
  passed through ``redact`` so no key or token reaches output, logs or files.
  A JWT is reused until it has less than ``refresh_before`` seconds left.
- **Errors** follow Kling's table (``data/kling_api.toml``): 401 (1000-1004)
  raises ``AuthError`` and 429 1100-1102 / 403 1103 ``AccountError``, both
  ``Stop`` errors (the render stops; nothing is retried after them), each with
  Kling's reason and what to do. 400 (1200, 1201, 1300, 1301) raises
  ``Rejected`` (never retried); 404 ``NotFound``. 429 1302/1303/1304 are
  ``RateLimited`` and wait from ``RetryPolicy.rate_min`` seconds (1 s, Kling's
  advice) up, exponentially with jitter; 5xx, timeouts and dropped
  connections retry with backoff. A 1303 is reported to ``on_too_many`` (the
  render lowers the number of tasks it keeps in flight). When retries run
  out, ``GaveUp`` says why.
- **Creating is idempotent.** Every request carries an external task id.
  After an answer that leaves it unknown whether a task was created (a 5xx,
  a timeout, a dropped connection), the client looks the task up by its
  external id before sending the create again; a create refused because the
  external id is taken adopts the existing task.
- **Queries**: legacy ``GET <create path>/<task_id or external_task_id>``;
  current ``GET /tasks?external_task_ids=a,b,c`` (``query_batch``, many tasks
  in one request) or ``?task_ids=``. A retried query waits at least
  ``min_delay`` (the render's poll interval).
- **Downloads** do not carry the credentials (result URLs are public, and may
  be on another host); they are streamed to a file whose SHA-256 and size are
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

from . import generations as G
from .generations import BadAnswer, Charge, Task, Video  # noqa: F401  (re-exported)

DEFAULT_API_BASE = "https://api-singapore.klingai.com"
API_KEY_ENV = "KLING_API_KEY"
ACCESS_ENV, SECRET_ENV, BASE_ENV = "KLING_ACCESS_KEY", "KLING_SECRET_KEY", "KLING_API_BASE"
CHECK_KEYS = f"check {API_KEY_ENV} (or {ACCESS_ENV} / {SECRET_ENV})"


# -- errors ---------------------------------------------------------------------------

class KlingError(Exception):
    """A failed API call. ``str(e)`` is a clear, redacted sentence."""

    def __init__(self, message: str, status: Optional[int] = None, code: Optional[int] = None):
        super().__init__(message)
        self.message, self.status, self.code = message, status, code


class MissingCredentials(KlingError):
    """No credentials that can serve the plan's API generation are set."""


class Stop(KlingError):
    """An answer after which nothing will succeed: the render stops at once."""


class AuthError(Stop):
    """Kling refused the credentials (HTTP 401, codes 1000-1004)."""


class AccountError(Stop):
    """The account cannot be used (429 1100-1102, 403 1103)."""


class Rejected(KlingError):
    """Kling refused the request itself (400: 1200, 1201, 1300, 1301): never retried as is."""


class NotFound(KlingError):
    """No such task or resource (HTTP 404, codes 1202, 1203)."""


class RateLimited(KlingError):
    """HTTP 429: 1302 (too fast), 1303 (too many tasks in parallel), 1304 (IP policy)."""


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
    """An API key, or an access key and a secret key; no secret appears in ``repr`` or messages."""

    __slots__ = ("access_key", "_secret", "_api_key")

    def __init__(self, access_key: Optional[str] = None, secret_key: Optional[str] = None,
                 api_key: Optional[str] = None):
        self.access_key = access_key or None
        self._secret = secret_key or None
        self._api_key = api_key or None

    @classmethod
    def from_env(cls, env: Optional[Mapping[str, str]] = None,
                 generation: str = G.LEGACY) -> "Credentials":
        """The credentials set in ``env`` that can serve ``generation``; MissingCredentials names
        the variables to set when there are none."""
        env = os.environ if env is None else env
        key = (env.get(API_KEY_ENV) or "").strip()
        access = (env.get(ACCESS_ENV) or "").strip()
        secret = (env.get(SECRET_ENV) or "").strip()
        jwt_ok = "jwt" in G.auth_schemes(generation)
        if key:
            return cls(access if jwt_ok else None, secret if jwt_ok else None, api_key=key)
        simulate = "(or use --simulate to try a render against the local simulator)"
        if not jwt_ok:
            have = " (an access key and secret key work only with the legacy API: `api: legacy`)" \
                if access or secret else ""
            raise MissingCredentials(
                f"{API_KEY_ENV} is not set: this plan uses Kling's current API, which takes an API "
                f"key from the Kling console; export it as {API_KEY_ENV}{have} {simulate}")
        missing = [name for name, value in ((ACCESS_ENV, access), (SECRET_ENV, secret)) if not value]
        if missing and not (access or secret):
            raise MissingCredentials(
                f"no Kling credentials are set: export your API key as {API_KEY_ENV}, or your "
                f"access key and secret key as {ACCESS_ENV} and {SECRET_ENV} {simulate}")
        if missing:
            raise MissingCredentials(
                f"{' and '.join(missing)} {'is' if len(missing) == 1 else 'are'} not set: export your "
                f"Kling API keys as {ACCESS_ENV} and {SECRET_ENV}, or an API key as {API_KEY_ENV} "
                f"{simulate}")
        return cls(access, secret)

    @property
    def secret_key(self) -> Optional[str]:
        return self._secret

    @property
    def api_key(self) -> Optional[str]:
        return self._api_key

    @property
    def has_keys(self) -> bool:
        return bool(self.access_key and self._secret)

    def serves(self, generation: str) -> bool:
        return bool(self._api_key) or (self.has_keys and "jwt" in G.auth_schemes(generation))

    def __repr__(self) -> str:
        return (f"Credentials(access_key={self.access_key!r}, secret_key={'<hidden>' if self._secret else None}, "
                f"api_key={'<hidden>' if self._api_key else None})")

    def redact(self, text: str, tokens=()) -> str:
        for value in (self._secret, self._api_key, *tokens):
            if value:
                text = text.replace(value, "<redacted>")
        return text


class TokenSource:
    """``Authorization: Bearer`` values: the API key, else JWTs (a new one well before the
    current one expires)."""

    def __init__(self, credentials: Credentials, lifetime: Optional[int] = None, refresh_before: int = 600,
                 clock: Callable[[], float] = time.time):
        self.credentials = credentials
        self.lifetime = int(G.facts()["jwt"]["lifetime"]) if lifetime is None else lifetime
        self.refresh_before, self.clock = refresh_before, clock
        self._token: Optional[str] = None
        self._expires = 0.0
        self.issued: list[str] = []   # every token made, so messages can be redacted

    def bearer(self, path: str) -> str:
        """The value to send to ``path``: the API key when there is one (it works everywhere),
        else a JWT, which only legacy paths take."""
        if self.credentials.api_key:
            return self.credentials.api_key
        if not self.credentials.has_keys:
            raise MissingCredentials(f"no credentials: {CHECK_KEYS}")
        if "jwt" not in G.auth_schemes(G.path_generation(path)):
            raise MissingCredentials(f"{path} is Kling's current API, which takes an API key only: "
                                     f"export {API_KEY_ENV}")
        return self.token()

    def token(self) -> str:
        now = self.clock()
        if self._token is None or now >= self._expires - self.refresh_before:
            import warnings

            import jwt

            exp = int(now) + self.lifetime
            claims = {"iss": self.credentials.access_key, "exp": exp,
                      "nbf": int(now) - int(G.facts()["jwt"]["not_before"])}
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
    """Exponential backoff with jitter: attempt n waits between half and all of base * 2**n (capped);
    after a rate limit (1302-1304), between rate_min * 2**n and half as much again."""
    attempts: int = 8          # tries in all, the first included
    base: float = 0.5
    cap: float = 30.0
    rng: random.Random = field(default_factory=random.Random)
    rate_min: float = field(default_factory=G.min_backoff)

    def delay(self, attempt: int, at_least: float = 0.0) -> float:
        ceiling = min(self.cap, self.base * (2 ** attempt))
        return max(at_least, ceiling / 2 + self.rng.uniform(0, ceiling / 2))

    def rate_delay(self, attempt: int, at_least: float = 0.0) -> float:
        floor = min(max(self.cap, self.rate_min), self.rate_min * (2 ** attempt))
        return max(at_least, floor + self.rng.uniform(0, floor / 2))


# -- the client ----------------------------------------------------------------------------------

def _describe(status: int, code, message: str) -> str:
    what = f"HTTP {status}" + (f", code {code}" if code is not None else "")
    return f"{message} ({what})" if message else what


def _status_of(code) -> Optional[int]:
    """The HTTP status Kling's table gives ``code`` (for an error sent in a 200 envelope)."""
    rule = G.error_rule(code)
    if rule is not None:
        return int(rule["http"])
    if isinstance(code, int) and code >= 5000:
        return 500
    return 400 if code else None


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
    async def _send(self, method: str, path: str, body: Optional[dict] = None,
                    params: Optional[dict] = None) -> Any:
        import httpx

        headers = {"Authorization": f"Bearer {self.tokens.bearer(path)}"}
        if body is not None:
            headers["Content-Type"] = "application/json"
        self.requests += 1
        try:
            await self._gate.acquire(urgent=method == "POST")
            try:
                response = await self._http.request(method, path, json=body, params=params, headers=headers)
            finally:
                self._gate.release()
        except httpx.TimeoutException as e:
            raise NetworkError(self.redact(f"no answer from {self.base_url} in time ({type(e).__name__})"))
        except httpx.HTTPError as e:
            raise NetworkError(self.redact(f"connection to {self.base_url} failed "
                                           f"({type(e).__name__}: {e or 'closed'})"))
        return self._answer(response)

    def _answer(self, response) -> Any:
        status = response.status_code
        try:
            payload = response.json()
        except ValueError:
            payload = None
        code = payload.get("code") if isinstance(payload, dict) else None
        message = self.redact(str(payload.get("message") or "")) if isinstance(payload, dict) else ""
        if status == 200 and code in (0, None) and isinstance(payload, dict):
            data = payload.get("data")
            if isinstance(data, (dict, list)):
                return data
            raise ServerError("Kling answered without data", status, code)
        if status == 200 and code:  # an error in a 200 envelope: map it by code
            status = _status_of(code) or 400
        text = _describe(status, code, message)
        rule = G.error_rule(code)
        action = rule["action"] if rule else None
        fix = f"; {rule['fix']}" if rule and rule.get("fix") else ""
        if status == 401 or (rule and rule["http"] == 401):
            which = f"check {API_KEY_ENV}" if self.credentials.api_key else f"check {ACCESS_ENV} / {SECRET_ENV}"
            raise AuthError(f"Kling refused the credentials: {text}{fix}; {which}", status, code)
        if action == "stop" or (status == 403 and rule is None):
            meaning = rule["meaning"] if rule else "refused"
            raise AccountError(f"Kling refused the account ({meaning}): {text}{fix}; nothing will "
                               f"succeed until the account is fixed", status, code)
        if status == 429 or action == "backoff":
            meaning = rule["meaning"] if rule else "rate limited"
            raise RateLimited(f"Kling is limiting requests ({meaning}): {text}", status, code)
        if status >= 500:
            raise ServerError(f"Kling had a server error: {text}", status, code)
        if status == 404 or action == "missing":
            raise NotFound(f"not found: {text}", status, code)
        if code == 1301:
            raise Rejected(f"Kling's content safety check refused it: {text}", status, code)
        if code == 1300:
            raise Rejected(f"Kling's platform policy refused it: {text}", status, code)
        raise Rejected(f"Kling rejected the request: {text}", status, code)

    def _task(self, path: str, data) -> Task:
        try:
            return G.parse_task(path, data)
        except BadAnswer as e:
            raise ServerError(str(e)) from None

    async def _wait(self, attempt: int, error: KlingError, at_least: float = 0.0) -> None:
        if isinstance(error, RateLimited):
            delay = self.retry.rate_delay(attempt, at_least)
        else:
            delay = self.retry.delay(attempt, at_least)
        if self.on_retry is not None:
            self.on_retry(str(error), delay)
        await self.sleep(delay)

    def _give_up(self, what: str, error: KlingError) -> GaveUp:
        return GaveUp(f"{what}: gave up after {self.retry.attempts} attempts; last: {error}", error)

    async def _get(self, what: str, path: str, params: Optional[dict] = None, min_delay: float = 0.0):
        """A GET, retrying transient errors (never waiting less than ``min_delay``)."""
        for attempt in range(self.retry.attempts):
            try:
                return await self._send("GET", path, params=params)
            except (RateLimited, ServerError, NetworkError) as e:
                if attempt + 1 >= self.retry.attempts:
                    raise self._give_up(what, e)
                await self._wait(attempt, e, min_delay)
        raise AssertionError("unreachable")

    # -- API calls --
    async def query(self, endpoint: str, task_id: str, *, min_delay: float = 0.0) -> Task:
        """The task ``task_id`` (legacy: or an external id) created at ``endpoint``; retries
        transient errors."""
        if G.path_generation(endpoint) == G.CURRENT:
            path, params = G.task_query([task_id])
            data = await self._get(f"query of task {task_id}", path, params, min_delay)
            for item in data if isinstance(data, list) else []:
                task = self._task(endpoint, item)
                if task.task_id == task_id:
                    return task
            raise NotFound(f"not found: task {task_id}", 404, None)
        return self._task(endpoint, await self._get(f"query of task {task_id}",
                                                    G.query_path(endpoint, task_id), None, min_delay))

    async def query_batch(self, external_ids: list[str], *, min_delay: float = 0.0) -> dict[str, Task]:
        """The current generation's tasks by external id, in one request: {external id: task};
        an id Kling does not know is left out."""
        path, params = G.batch_query(external_ids)
        data = await self._get(f"query of {len(external_ids)} tasks", path, params, min_delay)
        found: dict[str, Task] = {}
        for item in data if isinstance(data, list) else []:
            task = self._task(path, item)
            if task.external_task_id in external_ids:
                found[task.external_task_id] = task
        return found

    async def find(self, endpoint: str, external_task_id: str, *, min_delay: float = 0.0) -> Optional[Task]:
        """The task created with ``external_task_id``, or None when there is none."""
        try:
            if G.path_generation(endpoint) == G.CURRENT:
                return (await self.query_batch([external_task_id], min_delay=min_delay)).get(external_task_id)
            task = await self.query(endpoint, external_task_id, min_delay=min_delay)
        except NotFound:
            return None
        except Rejected as e:
            if e.code in (1201, 1203):
                return None
            raise
        if task.external_task_id and task.external_task_id != external_task_id:
            return None
        return task

    async def create(self, endpoint: str, body: dict, *, retry_too_many: bool = True) -> Task:
        """Create a task, at most once per external id (see the module notes).

        With ``retry_too_many=False`` a 1303 is raised to the caller (after
        ``on_too_many``), which waits for one of its own tasks to finish.
        """
        external = G.external_id_of(endpoint, body)
        unsure = False                     # a previous attempt may have created the task
        for attempt in range(self.retry.attempts):
            try:
                if unsure and external:
                    found = await self.find(endpoint, external)
                    if found is not None:
                        return found
                return self._task(endpoint, await self._send("POST", endpoint, body))
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

    async def list_all(self, path: str, page_size: Optional[int] = None) -> list:
        """Every entry of a paged list (``pageNum``/``pageSize``), such as the account's voices."""
        size = page_size or int(G.paths()["page_size_max"])
        out: list = []
        for page in range(1, 1001):
            data = await self._get(f"list {path}", path, {"pageNum": page, "pageSize": size})
            items = data if isinstance(data, list) else []
            out += items
            if len(items) < size:
                break
        return out

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

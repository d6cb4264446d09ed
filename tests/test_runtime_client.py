"""The Kling client: tokens, error mapping, retries, idempotent creation, downloads, redaction."""

from __future__ import annotations

import asyncio
import hashlib
import json
import sys
from pathlib import Path

import httpx
import jwt
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from runtime_support import ACCESS, SECRET, credentials, fast_retry  # noqa: E402

from klingscript.runtime import client as C  # noqa: E402
from klingscript.runtime import generations as G  # noqa: E402

T2V = "/v1/videos/text2video"
ELEMENTS = "/v1/general/advanced-custom-elements"
CURRENT_T2V = "/text-to-video/kling-3.0"


def ok(data):
    return httpx.Response(200, json={"code": 0, "message": "SUCCEED", "request_id": "r", "data": data})


def err(status, code, message="nope"):
    return httpx.Response(status, json={"code": code, "message": message, "request_id": "r"})


def task(status="submitted", ext="job1", task_id="t1", **more):
    data = {"task_id": task_id, "task_status": status, "task_info": {"external_task_id": ext}}
    data.update(more)
    return data


class Script:
    """A mock Kling: answers requests from a list of handlers, recording each request."""

    def __init__(self, *answers):
        self.answers = list(answers)
        self.seen: list[httpx.Request] = []

    def __call__(self, request: httpx.Request):
        self.seen.append(request)
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        return answer(request) if callable(answer) else answer

    @property
    def methods(self):
        return [r.method for r in self.seen]


def run(script, coro_fn, attempts=5, **kw):
    delays = []

    async def sleep(d):
        delays.append(d)

    async def main():
        api = C.KlingClient("https://kling.test", credentials(), transport=httpx.MockTransport(script),
                            retry=fast_retry(attempts), sleep=sleep, **kw)
        async with api:
            return await coro_fn(api)

    return asyncio.run(main()), delays


# -- credentials and tokens -------------------------------------------------------------------------

def test_token_claims_and_refresh():
    now = [1_000_000.0]
    src = C.TokenSource(credentials(), clock=lambda: now[0])
    t1 = src.token()
    claims = jwt.decode(t1, SECRET, algorithms=["HS256"], options={"verify_exp": False, "verify_nbf": False})
    assert claims == {"iss": ACCESS, "exp": 1_000_000 + 1800, "nbf": 1_000_000 - 5}
    assert jwt.get_unverified_header(t1)["alg"] == "HS256"
    now[0] += 1000
    assert src.token() == t1                      # 800 s left: still good
    now[0] += 300
    t2 = src.token()                              # 500 s left: a fresh one, well before expiry
    assert t2 != t1
    assert jwt.decode(t2, SECRET, algorithms=["HS256"], options={"verify_exp": False,
                                                                 "verify_nbf": False})["exp"] == 1_001_300 + 1800


def test_credentials_from_environment_only():
    with pytest.raises(C.MissingCredentials) as e:
        C.Credentials.from_env({"KLING_ACCESS_KEY": "a"})
    assert "KLING_SECRET_KEY" in str(e.value)
    creds = C.Credentials.from_env({"KLING_ACCESS_KEY": "a", "KLING_SECRET_KEY": SECRET})
    assert creds.secret_key == SECRET
    assert SECRET not in repr(creds)
    assert creds.redact(f"x {SECRET} y") == "x <redacted> y"


def test_api_base():
    assert C.api_base(None, {}) == C.DEFAULT_API_BASE == "https://api-singapore.klingai.com"
    assert C.api_base(None, {"KLING_API_BASE": "http://h:1/"}) == "http://h:1"
    assert C.api_base("http://flag", {"KLING_API_BASE": "http://env"}) == "http://flag"


def test_requests_carry_a_bearer_token():
    script = Script(ok(task()))
    run(script, lambda api: api.create(T2V, {"external_task_id": "job1"}))
    auth = script.seen[0].headers["Authorization"]
    assert auth.startswith("Bearer ")
    assert jwt.decode(auth[7:], SECRET, algorithms=["HS256"])["iss"] == ACCESS


# -- error mapping -------------------------------------------------------------------------------------

def test_401_stops_with_a_hint_about_the_keys():
    script = Script(err(401, 1002, "Authorization is invalid"))
    with pytest.raises(C.AuthError) as e:
        run(script, lambda api: api.create(T2V, {"external_task_id": "job1"}))
    assert "check KLING_ACCESS_KEY / KLING_SECRET_KEY" in str(e.value)
    assert "1002" in str(e.value)
    assert len(script.seen) == 1


@pytest.mark.parametrize("status, code, words", [(400, 1201, "rejected"), (400, 1200, "rejected"),
                                                  (400, 1301, "content safety")])
def test_bad_requests_are_never_retried(status, code, words):
    script = Script(err(status, code, "duration: 99 is outside 3-15 seconds"))
    with pytest.raises(C.Rejected) as e:
        run(script, lambda api: api.create(T2V, {"prompt": "x"}))
    assert words in str(e.value) and "duration: 99" in str(e.value)
    assert script.methods == ["POST"]


def test_429_and_5xx_back_off_exponentially_then_succeed():
    script = Script(err(429, 1302), err(500, 5000), err(503, 5002), ok(task()))
    created, delays = run(script, lambda api: api.create(T2V, {"prompt": "x"}))
    assert created.task_id == "t1"
    assert len(delays) == 3
    # the 1302 waits from rate_min up (0.002 here, 1 s by default); 5xx: base 0.002 doubling,
    # each delay between half and all of its ceiling
    assert 0.002 <= delays[0] <= 0.003
    for n, d in list(enumerate(delays))[1:]:
        ceiling = min(0.02, 0.002 * 2 ** n)
        assert ceiling / 2 <= d <= ceiling


def test_retries_are_bounded():
    script = Script(err(502, 5001))
    with pytest.raises(C.GaveUp) as e:
        run(script, lambda api: api.query(T2V, "t1"), attempts=4)
    assert len(script.seen) == 4
    assert "gave up after 4 attempts" in str(e.value)


def test_1303_is_reported_and_can_be_left_to_the_caller():
    lowered = []
    script = Script(err(429, 1303))
    with pytest.raises(C.RateLimited) as e:
        run(script, lambda api: api.create(T2V, {"prompt": "x"}, retry_too_many=False),
            on_too_many=lambda: lowered.append(1))
    assert e.value.code == 1303 and lowered == [1] and len(script.seen) == 1


def test_query_retries_wait_at_least_the_poll_interval():
    script = Script(err(500, 5000), ok(task("processing")))
    got, delays = run(script, lambda api: api.query(T2V, "t1", min_delay=2.5))
    assert got.status == "processing"
    assert delays == [2.5]


def test_timeouts_and_dropped_connections_retry():
    def drop(request):
        raise httpx.RemoteProtocolError("Server disconnected without sending a response.", request=request)

    def slow(request):
        raise httpx.ReadTimeout("timed out", request=request)

    script = Script(drop, slow, ok(task("processing")))
    got, delays = run(script, lambda api: api.query(T2V, "t1"))
    assert got.status == "processing" and len(delays) == 2


# -- idempotent creation ------------------------------------------------------------------------------------

def test_create_after_a_lost_answer_finds_the_task_instead_of_creating_again():
    created = []

    def create_then_drop(request):
        created.append(json.loads(request.content)["external_task_id"])
        raise httpx.RemoteProtocolError("Server disconnected", request=request)

    script = Script(create_then_drop, ok(task("processing", ext="job1", task_id="t9")))
    got, _ = run(script, lambda api: api.create(T2V, {"external_task_id": "job1", "prompt": "x"}))
    assert got.task_id == "t9"
    assert created == ["job1"]
    assert script.methods == ["POST", "GET"]
    assert script.seen[1].url.path == f"{T2V}/job1"


def test_create_after_a_5xx_creates_when_nothing_was_made():
    script = Script(err(500, 5000), err(404, 1203, "task does not exist"), ok(task()))
    got, _ = run(script, lambda api: api.create(T2V, {"external_task_id": "job1", "prompt": "x"}))
    assert got.task_id == "t1"
    assert script.methods == ["POST", "GET", "POST"]


def test_a_taken_external_task_id_adopts_the_existing_task():
    script = Script(err(400, 1201, "external_task_id already exists"), ok(task("succeed", task_id="old")))
    got, _ = run(script, lambda api: api.create(T2V, {"external_task_id": "job1", "prompt": "x"}))
    assert got.task_id == "old"


def test_find_returns_none_for_an_unknown_task():
    script = Script(err(404, 1203))
    got, _ = run(script, lambda api: api.find(T2V, "nothing"))
    assert got is None


def test_task_results_are_read():
    data = task("succeed", task_result={"videos": [{"id": "v", "url": "https://cdn/x.mp4", "duration": "5"}]})
    t = G.parse_task(T2V, data)
    assert t.finished and t.videos[0].url == "https://cdn/x.mp4" and t.videos[0].duration == 5.0
    el = G.parse_task(ELEMENTS, task("succeed", task_result={"elements": [{"element_id": 77}]}))
    assert el.element_id == 77 and not el.deleted
    gone = G.parse_task(ELEMENTS, task("succeed", task_result={"elements": [{"element_id": 77,
                                                                             "status": "deleted"}]}))
    assert gone.deleted


# -- secrets ----------------------------------------------------------------------------------------------------

def test_messages_never_carry_the_secret_or_the_token():
    def echo(request):
        return err(400, 1201, f"bad key {SECRET} in {request.headers['Authorization']}")

    script = Script(echo)
    with pytest.raises(C.Rejected) as e:
        run(script, lambda api: api.create(T2V, {"prompt": "x"}))
    text = str(e.value)
    assert SECRET not in text
    token = script.seen[0].headers["Authorization"][7:]
    assert token not in text and "<redacted>" in text


# -- downloads ---------------------------------------------------------------------------------------------------

def test_download_streams_verifies_and_retries(tmp_path):
    blob = b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 100
    calls = []

    def cdn(request):
        calls.append(request)
        assert "Authorization" not in request.headers          # no token to a result URL
        if len(calls) == 1:
            return httpx.Response(200, headers={"Content-Length": str(len(blob))}, content=blob[:100])
        return httpx.Response(200, content=blob)

    dest = tmp_path / "x.part"
    (size, digest), _ = run(cdn, lambda api: api.download("https://cdn.test/x.mp4", dest))
    assert size == len(blob) and digest == hashlib.sha256(blob).hexdigest()
    assert dest.read_bytes() == blob and len(calls) == 2


def test_expired_result_url_is_reported(tmp_path):
    script = Script(httpx.Response(403, content=b"expired"))
    with pytest.raises(C.BadDownload) as e:
        run(script, lambda api: api.download("https://cdn.test/x.mp4", tmp_path / "x.part"))
    assert e.value.status == 403 and "expired" in str(e.value)
    assert not (tmp_path / "x.part").exists()

"""The local Kling simulator: authentication, validation, limits, idempotency, faults, clips."""

from __future__ import annotations

import base64
import io
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from runtime_support import ACCESS, EXAMPLES, SECRET, token  # noqa: E402

from klingscript.runtime.simulator import Simulator  # noqa: E402
from klingscript.runtime.simulator import animatic  # noqa: E402

T2V = "/v1/videos/text2video"
OMNI = "/v1/videos/omni-video"
ELEMENTS = "/v1/general/advanced-custom-elements"


def body(ext="job-1", duration="3", sound="on", **extra):
    b = {"model_name": "kling-v3", "prompt": 'A dog runs. Man (happy, English): "Good boy!"',
         "duration": duration, "mode": "std", "sound": sound, "aspect_ratio": "16:9",
         "external_task_id": ext}
    b.update(extra)
    return b


@pytest.fixture
def sim():
    s = Simulator(latency=0.1, concurrency=3, access_key=ACCESS, secret_key=SECRET, seed=1).start()
    yield s
    s.stop()


@pytest.fixture
def http(sim):
    with httpx.Client(base_url=sim.url, headers={"Authorization": f"Bearer {token()}"}, timeout=10) as c:
        yield c


def wait_status(http, path, task_id, want=("succeed", "failed"), limit=5.0):
    deadline = time.monotonic() + limit
    while True:
        data = http.get(f"{path}/{task_id}").json()["data"]
        if data["task_status"] in want or time.monotonic() > deadline:
            return data
        time.sleep(0.02)


# -- authentication ------------------------------------------------------------------------------

# Each header is made when its test runs: a token made at collection time (``nbf`` 300 s ahead)
# became valid when the suite took longer than five minutes.
@pytest.mark.parametrize("header, code", [
    (lambda: None, 1001),
    (lambda: "Bearer not-a-jwt", 1002),
    (lambda: "Basic abc", 1002),
    (lambda: "Bearer " + token(secret="wrong-secret-wrong-secret-wrong-secret"), 1002),
    (lambda: "Bearer " + token(exp_in=-60, nbf_in=-120), 1004),
    (lambda: "Bearer " + token(nbf_in=300), 1003),
    (lambda: "Bearer " + token(iss="someone-else"), 1000),
])
def test_authentication_codes(sim, header, code):
    header = header()
    headers = {} if header is None else {"Authorization": header}
    r = httpx.post(sim.url + T2V, json=body(), headers=headers)
    assert r.status_code == 401
    assert r.json()["code"] == code
    assert sim.creations == {}


# -- validation ------------------------------------------------------------------------------------

def test_bad_body_is_400_1201_naming_the_field(http, sim):
    r = http.post(T2V, json=body(duration="99"))
    assert r.status_code == 400
    assert r.json()["code"] == 1201
    assert "duration" in r.json()["message"]
    r = http.post(T2V, json=body(colour="red"))
    assert r.status_code == 400 and "colour" in r.json()["message"]
    r = http.post(T2V, content=b"{not json", headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and r.json()["code"] == 1200
    assert sim.creations == {}


def test_build_placeholders_and_unknown_elements_are_refused(http):
    omni = {"model_name": "kling-v3-omni", "prompt": "<<<element_1>>> waves.", "duration": "5",
            "mode": "std", "sound": "off", "aspect_ratio": "16:9", "external_task_id": "x1",
            "element_list": [{"element_id": "element:Alex"}],
            "image_list": [{"image_url": "file:refs/a.png"}]}
    r = http.post(OMNI, json=omni)
    assert r.status_code == 400
    message = r.json()["message"]
    assert "image_list[0].image_url" in message and "placeholder" in message
    assert "element_list[0].element_id" in message
    omni["image_list"] = [{"image_url": base64.b64encode(b"GIF89a not an image at all").decode()}]
    omni["element_list"] = [{"element_id": 12345}]
    message = http.post(OMNI, json=omni).json()["message"]
    assert "PNG or JPEG" in message and "not an element of this account" in message


# -- tasks -------------------------------------------------------------------------------------------

def test_idempotent_on_external_task_id(http, sim):
    a = http.post(T2V, json=body(ext="same")).json()["data"]
    b = http.post(T2V, json=body(ext="same")).json()["data"]
    assert a["task_id"] == b["task_id"]
    assert a["task_info"]["external_task_id"] == "same"
    assert sim.creations["same"] == 1 and sim.duplicates["same"] == 1


def test_concurrency_limit_is_429_1303():
    with Simulator(latency=30, concurrency=3, access_key=ACCESS, secret_key=SECRET, clips="card") as s:
        with httpx.Client(base_url=s.url, headers={"Authorization": f"Bearer {token()}"}) as http:
            for n in range(3):
                assert http.post(T2V, json=body(ext=f"c{n}")).status_code == 200
            r = http.post(T2V, json=body(ext="c3"))
            assert r.status_code == 429 and r.json()["code"] == 1303
            assert "c3" not in s.creations
            # Repeating a running task's external_task_id is not a new task: no 1303.
            assert http.post(T2V, json=body(ext="c0")).status_code == 200


def test_task_moves_to_succeed_with_a_playable_clip(http, sim):
    import av

    created = http.post(T2V, json=body(duration="4")).json()
    assert created["code"] == 0 and created["data"]["task_status"] == "submitted"
    task_id = created["data"]["task_id"]
    seen = {created["data"]["task_status"]}
    deadline = time.monotonic() + 5
    while "succeed" not in seen and time.monotonic() < deadline:
        seen.add(http.get(f"{T2V}/{task_id}").json()["data"]["task_status"])
        time.sleep(0.01)
    assert {"submitted", "processing", "succeed"} <= seen
    data = http.get(f"{T2V}/{task_id}").json()["data"]
    video = data["task_result"]["videos"][0]
    assert video["duration"] == "4"
    clip = httpx.get(video["url"]).content          # result URLs need no token
    with av.open(io.BytesIO(clip)) as c:
        streams = {s.type: s for s in c.streams}
        assert streams["video"].codec_context.name == "h264"
        assert "audio" in streams
        assert abs(c.duration / 1e6 - 4.0) < 0.07
        assert streams["video"].frames == 4 * animatic.FPS


def test_silent_request_gives_a_clip_without_audio(http):
    import av

    task_id = http.post(T2V, json=body(ext="quiet", sound="off")).json()["data"]["task_id"]
    data = wait_status(http, T2V, task_id)
    clip = httpx.get(data["task_result"]["videos"][0]["url"]).content
    with av.open(io.BytesIO(clip)) as c:
        assert [s.type for s in c.streams] == ["video"]


def test_query_by_external_task_id_both_ways(http):
    task_id = http.post(T2V, json=body(ext="ext-42")).json()["data"]["task_id"]
    assert http.get(f"{T2V}/ext-42").json()["data"]["task_id"] == task_id
    assert http.get(T2V, params={"external_task_id": "ext-42"}).json()["data"]["task_id"] == task_id
    missing = http.get(f"{T2V}/nope")
    assert missing.status_code == 404 and missing.json()["code"] == 1203
    # A task is found only at the path it was created with.
    assert http.get(f"{OMNI}/ext-42").status_code == 404


def test_failed_task_has_a_status_message(http, sim):
    sim.fail_next(1, "the model refused the scene (test)")
    task_id = http.post(T2V, json=body(ext="bad")).json()["data"]["task_id"]
    data = wait_status(http, T2V, task_id)
    assert data["task_status"] == "failed"
    assert data["task_status_msg"] == "the model refused the scene (test)"
    assert "task_result" not in data


def test_element_creation_and_use(http, sim):
    png = (EXAMPLES / "refs" / "hero_front.png").read_bytes()
    b64 = base64.b64encode(png).decode()
    element = {"element_name": "Kael", "element_description": "a knight", "reference_type": "image_refer",
               "element_image_list": {"frontal_image": b64, "refer_images": [{"image_url": b64}]},
               "external_task_id": "el-1"}
    task_id = http.post(ELEMENTS, json=element).json()["data"]["task_id"]
    data = wait_status(http, ELEMENTS, task_id)
    element_id = data["task_result"]["elements"][0]["element_id"]
    assert isinstance(element_id, int)
    omni = {"model_name": "kling-v3-omni", "prompt": "<<<element_1>>> draws his sword.", "duration": "3",
            "mode": "std", "sound": "on", "aspect_ratio": "16:9", "external_task_id": "v-1",
            "element_list": [{"element_id": element_id}]}
    r = http.post(OMNI, json=omni)
    assert r.status_code == 200, r.text
    data = wait_status(http, OMNI, r.json()["data"]["task_id"])
    assert data["task_status"] == "succeed"


# -- faults ----------------------------------------------------------------------------------------------

def test_injected_faults(http, sim):
    sim.inject("500")
    r = http.post(T2V, json=body(ext="f1"))
    assert r.status_code == 500 and r.json()["code"] == 5000
    sim.inject("429")
    r = http.post(T2V, json=body(ext="f1"))
    assert r.status_code == 429 and r.json()["code"] == 1302
    sim.inject("drop")
    with pytest.raises(httpx.TransportError):
        http.post(T2V, json=body(ext="f1"))
    assert "f1" not in sim.creations
    sim.inject("drop-after")
    with pytest.raises(httpx.TransportError):
        http.post(T2V, json=body(ext="f2"))
    assert sim.creations["f2"] == 1         # created, but the answer was lost


def test_download_dropped_halfway(http, sim):
    task_id = http.post(T2V, json=body(ext="dl")).json()["data"]["task_id"]
    url = wait_status(http, T2V, task_id)["task_result"]["videos"][0]["url"]
    sim.inject("drop", path="/results")
    with pytest.raises(httpx.TransportError):
        httpx.get(url)
    assert httpx.get(url).status_code == 200


def test_random_faults_follow_the_rates():
    with Simulator(latency=0.05, error_rate=0.5, seed=3, access_key=ACCESS, secret_key=SECRET) as s:
        with httpx.Client(base_url=s.url, headers={"Authorization": f"Bearer {token()}"}) as c:
            codes = [c.get(f"{T2V}/none").status_code for _ in range(40)]
    errors = sum(1 for code in codes if code >= 500)
    assert 8 <= errors <= 32
    assert set(codes) <= {404, 500, 502, 503}


def test_stats_endpoint(http, sim):
    http.post(T2V, json=body(ext="s1"))
    stats = httpx.get(sim.url + "/_simulator/stats").json()
    assert stats["creations"] == {"s1": 1}
    assert stats["requests"]["create"] == 1


# -- animatics ---------------------------------------------------------------------------------------------

def test_storyboard_of_structured_shots():
    board = animatic.storyboard({
        "duration": "7", "aspect_ratio": "9:16", "sound": "on", "multi_shot": True,
        "multi_prompt": [
            {"index": 1, "prompt": "Location: a roof.\nWide shot. <<<element_1>>> looks out.", "duration": "3"},
            {"index": 2, "prompt": 'Jiho runs in. Jiho (breathless, Korean): "여기 있었구나." '
                                   'Minji (cold, Korean): "왜 왔어?"', "duration": "4"}]},
        elements={1: "Minji"})
    assert board.size == animatic.SIZES["9:16"]
    assert [(s.index, s.start, s.seconds) for s in board.shots] == [(1, 0.0, 3.0), (2, 3.0, 4.0)]
    assert board.shots[0].description == "Wide shot. Minji looks out."
    captions = board.shots[1].captions
    # the speaker and the tone (not the language), as it is spoken
    assert [c.text.split(":")[0] for c in captions] == ["Jiho (breathless)", "Minji (cold)"]
    assert 3.0 < captions[0].start < captions[0].end <= captions[1].start < captions[1].end <= 7.0 + 1e-9


def test_storyboard_of_text_shots_and_single_prompts():
    board = animatic.storyboard({"duration": "5", "prompt": "Shot 1 (2s): A door opens.\n"
                                                            'Shot 2 (3s): Man (softly): "Hello."'})
    assert [(s.index, s.seconds) for s in board.shots] == [(1, 2.0), (2, 3.0)]
    assert board.shots[1].captions[0].text.startswith("Man (softly):")
    single = animatic.storyboard({"duration": "4", "prompt": "A quiet street at dawn."})
    assert len(single.shots) == 1 and single.shots[0].seconds == 4.0 and not single.shots[0].captions


# -- the command ---------------------------------------------------------------------------------------------

def test_klingc_simulate_prints_its_url_and_serves(tmp_path):
    from runtime_support import REPO

    from conftest import klingc_command

    proc = subprocess.Popen([*klingc_command(), "simulate", "--port", "0", "--latency", "0.1", "--quiet"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO)
    try:
        line = proc.stdout.readline()
        assert line.startswith("Kling simulator listening on http://127.0.0.1:")
        url = line.split()[-1]
        from klingscript.runtime.simulator import DEFAULT_ACCESS_KEY, DEFAULT_SECRET_KEY

        t = token(secret=DEFAULT_SECRET_KEY, iss=DEFAULT_ACCESS_KEY)
        r = httpx.post(url + T2V, json=body(), headers={"Authorization": f"Bearer {t}"})
        assert r.status_code == 200 and r.json()["code"] == 0
    finally:
        proc.terminate()
        proc.wait(timeout=10)


# -- an independent client, written from Kling's pages (docs/api/*.md of aself101/kling-api) ---------

API_KEY = "independent-client-key"


@pytest.fixture
def kling():
    """The simulator with an API key, and a plain httpx client sending it as Kling's pages say."""
    s = Simulator(latency=0.1, concurrency=5, access_key=ACCESS, secret_key=SECRET, api_key=API_KEY, seed=2,
                  clips="card").start()
    with httpx.Client(base_url=s.url, timeout=10, headers={"Authorization": f"Bearer {API_KEY}",
                                                           "Content-Type": "application/json"}) as c:
        yield s, c
    s.stop()


def wait_tasks(c, query, limit=5.0):
    deadline = time.monotonic() + limit
    while True:
        data = c.get(f"/tasks?{query}").json()["data"]
        if (data and all(t["status"] in ("succeeded", "failed") for t in data)) or time.monotonic() > deadline:
            return data
        time.sleep(0.02)


def test_current_generation_text_to_video_with_defaults_only(kling):
    sim, c = kling
    r = c.post("/text-to-video/kling-3.0", json={"prompt": "A dog runs on the beach.",
                                                 "options": {"external_task_id": "mine-1"}})
    assert r.status_code == 200 and r.json()["code"] == 0
    data = r.json()["data"]
    assert data["status"] == "submitted" and data["external_id"] == "mine-1" and data["id"]
    c.post("/text-to-video/kling-3.0", json={"prompt": "A cat.", "settings": {"duration": 3, "audio": "native",
                                             "resolution": "1080p", "aspect_ratio": "9:16", "multi_shot": False},
                                             "options": {"external_task_id": "mine-2"}})
    tasks = wait_tasks(c, "external_task_ids=mine-1,mine-2")
    assert sorted(t["external_id"] for t in tasks) == ["mine-1", "mine-2"]
    for t in tasks:
        assert t["status"] == "succeeded"
        video = t["outputs"][0]
        assert video["type"] == "video" and video["url"].endswith(".mp4")
        assert t["billing"][0]["charge_type"] == "unit" and float(t["billing"][0]["amount"]) > 0
    by_id = c.get(f"/tasks?task_ids={data['id']}").json()["data"]
    assert [t["external_id"] for t in by_id] == ["mine-1"]
    assert c.get("/tasks?external_task_ids=nobody").json()["data"] == []
    clip = httpx.get(tasks[0]["outputs"][0]["url"], timeout=10)
    assert clip.status_code == 200 and clip.content[4:8] == b"ftyp"


def test_current_generation_refuses_what_kling_refuses(kling):
    sim, c = kling
    frame = base64.b64encode(_png()).decode()
    bad = [
        ("/text-to-video/kling-3.0", {"prompt": "x", "settings": {"duration": "5"}}, "settings.duration"),
        ("/text-to-video/kling-3.0", {"prompt": "x", "settings": {"resolution": "8k"}}, "settings.resolution"),
        ("/text-to-video/kling-3.0", {"prompt": "x" * 3073}, "prompt"),
        ("/text-to-video/kling-3.0", {"prompt": "shot 1, 2, a; shot 2, 2, b;", "settings": {"duration": 5}},
         "add up to 4"),
        ("/image-to-video/kling-3.0", {"contents": [{"type": "prompt", "text": "x"},
                                                    {"type": "last_frame", "url": frame}]}, "last_frame"),
        ("/image-to-video/kling-3.0", {"contents": [{"type": "prompt", "text": "x"},
                                                    {"type": "first_frame", "url": frame}] + [
            {"type": "element", "element_id": "1", "id": f"e{k}"} for k in range(4)]}, "4 elements"),
        ("/omni-video/kling-3.0-omni", {"contents": [{"type": "prompt", "text": "x"}]}, "aspect_ratio"),
        ("/omni-video/kling-3.0-omni", {"contents": [{"type": "prompt", "text": "x"},
                                                     {"type": "first_frame", "url": frame}] + [
            {"type": "element", "element_id": "1", "id": f"e{k}"} for k in range(4)]}, "at most 3"),
    ]
    for path, body, words in bad:
        r = c.post(path, json=body)
        assert r.status_code == 400 and r.json()["code"] == 1201, (path, body, r.json())
        assert words in r.json()["message"], (words, r.json()["message"])
        assert "data" not in r.json() and r.json()["request_id"]


def test_current_generation_image_to_video_and_omni(kling):
    sim, c = kling
    frame = base64.b64encode(_png()).decode()
    i2v = c.post("/image-to-video/kling-3.0", json={"contents": [{"type": "prompt", "text": "She smiles."},
                                                                 {"type": "first_frame", "url": frame}],
                                                    "settings": {"duration": 5},
                                                    "options": {"external_task_id": "i2v-1"}})
    assert i2v.json()["code"] == 0, i2v.json()
    omni = c.post("/omni-video/kling-3.0-omni", json={"contents": [{"type": "prompt", "text": "@image_1 at dusk"},
                                                                   {"type": "refer_image", "url": frame,
                                                                    "id": "image_1"}],
                                                      "settings": {"aspect_ratio": "1:1"}})
    assert omni.json()["code"] == 0, omni.json()


def test_jwt_is_for_legacy_paths_and_the_api_key_for_both(kling):
    sim, c = kling
    jwt_headers = {"Authorization": f"Bearer {token()}"}
    r = httpx.post(f"{sim.url}/text-to-video/kling-3.0", json={"prompt": "x"}, headers=jwt_headers)
    assert r.status_code == 401 and r.json()["code"] == 1002
    legacy = {"model_name": "kling-v3", "prompt": "A dog runs.", "external_task_id": "legacy-1"}
    r = httpx.post(f"{sim.url}{T2V}", json=legacy, headers=jwt_headers)
    assert r.status_code == 200 and r.json()["code"] == 0, r.json()       # no aspect_ratio, no duration
    r = c.get(f"{T2V}/legacy-1")
    assert r.json()["data"]["task_info"]["external_task_id"] == "legacy-1"
    r = httpx.get(f"{sim.url}{T2V}/legacy-1", headers={"Authorization": "Bearer wrong-key"})
    assert r.status_code == 401 and r.json()["code"] == 1002


def test_legacy_answers_carry_final_unit_deduction(kling):
    sim, c = kling
    c.post(T2V, json={"model_name": "kling-v3", "prompt": "x", "duration": "5", "mode": "pro", "sound": "off",
                      "external_task_id": "fud"})
    deadline = time.monotonic() + 5
    while True:
        data = c.get(f"{T2V}/fud").json()["data"]
        if data["task_status"] == "succeed" or time.monotonic() > deadline:
            break
        time.sleep(0.02)
    assert data["task_status"] == "succeed" and data["final_unit_deduction"] == "4"      # 5 s x 0.8


def test_voices_and_element_binding(kling):
    sim, c = kling
    presets = c.get("/v1/general/presets-voices?pageNum=1&pageSize=30").json()["data"]
    preset = presets[0]["task_result"]["voices"][0]
    assert preset["owned_by"] == "kling" and preset["voice_id"]
    wav = io.BytesIO()
    import wave

    with wave.open(wav, "wb") as w:
        w.setnchannels(1), w.setsampwidth(2), w.setframerate(8000), w.writeframes(b"\0\0" * 48000)
    r = c.post("/v1/general/custom-voices", json={"voice_name": "Mara", "external_task_id": "voice-mara",
                                                  "voice_url": base64.b64encode(wav.getvalue()).decode()})
    assert r.json()["code"] == 0 and r.json()["data"]["task_status"] == "submitted"
    voice = wait_status(c, "/v1/general/custom-voices", "voice-mara")
    vid = voice["task_result"]["voices"][0]["voice_id"]
    assert voice["final_unit_deduction"] == "0.05"
    listed = c.get("/v1/general/custom-voices").json()["data"]
    assert [v["task_result"]["voices"][0]["voice_id"] for v in listed] == [vid]
    image = base64.b64encode(_png()).decode()
    element = {"element_name": "Mara", "element_description": "a woman", "reference_type": "image_refer",
               "element_image_list": {"frontal_image": image, "refer_images": [{"image_url": image}]},
               "tag_list": [{"tag_id": "o_102"}]}
    r = c.post(ELEMENTS, json={**element, "element_voice_id": "nope"})
    assert r.json()["code"] == 1201 and "element_voice_id" in r.json()["message"]
    r = c.post(ELEMENTS, json={**element, "element_voice_id": vid, "external_task_id": "el-mara"})
    assert r.json()["code"] == 0
    data = wait_status(c, ELEMENTS, "el-mara")
    info = data["task_result"]["elements"][0]
    assert info["element_voice_info"]["voice_id"] == vid and info["status"] == "succeed"
    assert c.post("/v1/general/delete-voices", json={"voice_id": vid}).json()["code"] == 0
    assert c.get("/v1/general/custom-voices").json()["data"] == []


def test_forget_elements_after_n_video_tasks(kling):
    sim, c = kling
    sim.config.forget_elements_after = 1
    image = base64.b64encode(_png()).decode()
    c.post(ELEMENTS, json={"element_name": "Dog", "element_description": "a dog", "reference_type": "image_refer",
                           "element_image_list": {"frontal_image": image, "refer_images": [{"image_url": image}]},
                           "external_task_id": "el-dog"})
    eid = str(wait_status(c, ELEMENTS, "el-dog")["task_result"]["elements"][0]["element_id"])
    omni = {"contents": [{"type": "prompt", "text": "@Dog runs"}, {"type": "element", "element_id": eid, "id": "Dog"}],
            "settings": {"aspect_ratio": "16:9"}}
    assert c.post("/omni-video/kling-3.0-omni", json=omni).json()["code"] == 0     # the first video task
    assert wait_status(c, ELEMENTS, "el-dog")["task_result"]["elements"][0]["status"] == "deleted"
    r = c.post("/omni-video/kling-3.0-omni", json=omni)
    assert r.status_code == 400 and r.json()["code"] == 1201
    assert "not an element of this account" in r.json()["message"]


@pytest.mark.parametrize("code, status", [(1004, 401), (1101, 429), (1102, 429), (1103, 403)])
def test_account_errors_on_demand(code, status):
    with Simulator(latency=0.1, access_key=ACCESS, secret_key=SECRET, api_key=API_KEY, account_error=code,
                   account_error_after=2) as sim:
        headers = {"Authorization": f"Bearer {API_KEY}"}
        answers = [httpx.get(f"{sim.url}/tasks?external_task_ids=x", headers=headers) for _ in range(4)]
    assert [a.status_code for a in answers] == [200, 200, status, status]
    assert answers[3].json()["code"] == code and answers[3].json()["message"]


def test_klingc_simulate_takes_the_new_options():
    from klingscript.cli import build_parser

    args = build_parser("simulate").parse_args(["simulate", "--forget-elements-after", "3", "--account-error",
                                                 "1102", "--account-error-after", "10"])
    assert (args.forget_elements_after, args.account_error, args.account_error_after) == (3, 1102, 10)
    with pytest.raises(SystemExit):
        build_parser("simulate").parse_args(["simulate", "--account-error", "1201"])


def _png() -> bytes:
    return (EXAMPLES / "refs" / "hero_front.png").read_bytes()

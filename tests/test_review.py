"""klingc review (issue 10 item 3): the page's content and escaping, and the page in a real
headless Chromium (the system's, as .ci/run installs it): no script errors, no network, videos
pointing at the take files, and a click in --serve that changes the pick."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from conftest import klingc_command  # noqa: E402
from runtime_support import ACCESS, EXAMPLES, SECRET, build_plan, render  # noqa: E402

from klingscript.cli import main  # noqa: E402
from klingscript.runtime import ledger as L  # noqa: E402
from klingscript.runtime.simulator import Simulator  # noqa: E402

SCRIPT = '''title: Escapes <b>here</b>
model: kling-v3
resolution: 720p

scene "Two & two <i>":
    Shot 1 (3s): A wide shot of a kitchen. A kettle boils.
        Woman (calm): "<script>window.__pwned = 1</script> Tea?"

scene "The second":
    Shot 1 (3s): A wide shot of a garden. Rain falls.
        Man (tired): "No thanks."
'''


def simulator():
    return Simulator(access_key=ACCESS, secret_key=SECRET, latency=0.05, concurrency=8, seed=5)


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    """A two-scene render with two takes of each job, and its review page."""
    tmp = tmp_path_factory.mktemp("review")
    path = tmp / "film.kls"
    path.write_text(SCRIPT, encoding="utf-8")
    plan, d, root = build_plan(path)
    out = tmp / "out"
    with simulator() as sim:
        assert render(plan, d, root, sim, out, takes=2).code == 0
    assert main(["review", str(path), "-o", str(out)]) == 0
    return path, plan, out


def test_the_page_is_escaped_and_self_contained(rendered):
    _, plan, out = rendered
    page = (out / "review.html").read_text(encoding="utf-8")
    assert "&lt;script&gt;window.__pwned = 1&lt;/script&gt; Tea?" in page
    assert "<script>window.__pwned" not in page and "Escapes &lt;b&gt;here&lt;/b&gt;" in page
    assert "Two &amp; two &lt;i&gt;" in page
    # nothing from the network: every src is a clip of the folder or a data: URI
    for src in re.findall(r'src="([^"]*)"', page):
        assert src.startswith(("clips/", "data:")), src
    assert re.findall(r'<video[^>]*src="([^"]*)"', page) == [
        f"clips/{L.take_name(j['id'], n)}.mp4" for j in plan["jobs"] for n in (1, 2)]
    assert "length <b>6s</b>" in page and "<b>4</b> takes (4 made)" in page
    assert "A wide shot of a kitchen." in page                     # the prompt sent


def test_the_page_shows_thumbnails_shots_and_dialogue(tmp_path, capsys):
    path = EXAMPLES / "sitcom_coffee_shop.kls"
    plan, d, root = build_plan(path)
    out = tmp_path / "out"
    assert main(["review", str(path), "-o", str(out)]) == 2          # nothing rendered there yet
    assert "holds no render yet" in capsys.readouterr().err and not out.exists()
    with simulator() as sim:
        assert render(plan, d, root, sim, out, assemble=False).code == 0
    assert main(["review", str(path), "-o", str(out)]) == 0
    page = (out / "review.html").read_text(encoding="utf-8")
    assert page.count('src="data:image/jpeg;base64,') == 2           # the café's image, in both parts
    assert "refs/coffee_shop.png" in page
    assert "Shot 5 <span class=\"meta\">(4s)</span>" in page and "Wait. Do dogs even like coffee?" in page
    assert "Part 2 of 2" in page


# -- in a real browser ---------------------------------------------------------------------------------

CHROMIUMS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def chromium() -> str:
    found = os.environ.get("KLINGC_CHROMIUM") or next(filter(None, map(shutil.which, CHROMIUMS)), None)
    if not found and os.environ.get("KLINGC_REQUIRE_CHROMIUM"):
        pytest.fail(f"no Chromium found (looked for {', '.join(CHROMIUMS)}), and $KLINGC_REQUIRE_CHROMIUM is set")
    if not found:
        pytest.skip(f"no Chromium found (looked for {', '.join(CHROMIUMS)} on PATH and $KLINGC_CHROMIUM); "
                    f".ci/run installs Debian's chromium package")
    return found


@pytest.fixture
def browser():
    exe = chromium()
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install -e '.[test]')")
    with sync_api.sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=exe, headless=True, args=["--no-sandbox", "--disable-gpu"])
        try:
            yield b
        finally:
            b.close()


def open_page(browser, url: str, allowed: str):
    """A page at ``url`` that records script errors and refuses every request outside ``allowed``."""
    page = browser.new_page()
    errors, outside = [], []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)

    def route(r):
        if r.request.url.startswith(allowed):
            r.continue_()
        else:
            outside.append(r.request.url)
            r.abort()

    page.route("**/*", route)
    page.goto(url)
    page.wait_for_load_state("load")
    return page, errors, outside


def test_the_page_in_chromium_from_the_file_system(rendered, browser):
    _, plan, out = rendered
    page, errors, outside = open_page(browser, (out / "review.html").as_uri(), "file://")
    assert errors == [] and outside == []
    assert page.evaluate("window.__pwned") is None                 # the script in the dialogue did not run
    said = page.locator(".said").first.text_content()
    assert said == "<script>window.__pwned = 1</script> Tea?"
    videos = page.eval_on_selector_all("video", "vs => vs.map(v => v.currentSrc || v.src)")
    files = [Path(v[len("file://"):]) for v in videos]
    assert files == [out / "clips" / f"{L.take_name(j['id'], n)}.mp4" for j in plan["jobs"] for n in (1, 2)]
    assert all(f.is_file() for f in files)
    # without a server the pick buttons are hidden and the command is shown instead
    assert not page.locator("button.pick").first.is_visible()
    assert page.locator(".hint").first.is_visible()
    # the take in the film is marked: the latest
    assert page.eval_on_selector_all(".take.used", "ts => ts.map(t => t.dataset.take)") == ["2", "2"]


def test_a_click_in_serve_changes_the_pick(rendered, browser):
    path, plan, out = rendered
    proc = subprocess.Popen([*klingc_command(), "review", str(path), "-o", str(out), "--serve"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "NO_COLOR": "1"})
    try:
        url = None
        for _ in range(5):
            line = proc.stdout.readline()
            m = re.search(r"serving the review at (http://127\.0\.0\.1:\d+/)", line)
            if m:
                url = m.group(1)
                break
        assert url, proc.stderr.read() if proc.poll() is not None else "no URL printed"
        page, errors, outside = open_page(browser, url, url)
        first = plan["jobs"][0]["id"]
        part = page.locator(f"#job-{first}")
        part.locator("button.pick[data-take='1']").click()
        page.wait_for_selector("#status:has-text('picked')", timeout=60_000)     # the page's CSP allows no eval
        assert "take 1 of 1 picked" in page.text_content("#status")
        assert part.locator(".take.used").get_attribute("data-take") == "1"
        assert errors == [] and outside == []
        with L.Ledger.open_readonly(out) as led:
            assert led.get(first).picked == 1
            assert led.get(plan["jobs"][1]["id"]).picked is None
        # the page written to the file system follows the pick too
        page2, errors2, _ = open_page(browser, (out / "review.html").as_uri(), "file://")
        assert page2.eval_on_selector_all(".take.used", "ts => ts.map(t => t.dataset.take)") == ["1", "2"]
        assert errors2 == []
    finally:
        proc.terminate()
        proc.wait(timeout=30)

"""Issue 12 items 2, 3 and 4a: only regular files are read, and no more than a sane size of
them (files.read_regular); a symbolic link loop is a path diagnostic, not an internal error; a
file holding the value of KLING_SECRET_KEY or KLING_API_KEY is never read (so never shown or
cached); KLING_API_BASE is checked as --api-base is."""

from __future__ import annotations

import asyncio
import os
import socket
import sys
import time
from pathlib import Path

import pytest
import pytest_lsp
from lsprotocol import types as T
from pytest_lsp import ClientServerConfig, LanguageClient

from klingscript import files
from klingscript.files import FileTooLarge, NotRegularFile, read_regular

SECRET = "sk-test-Secret-0123456789abcdef"
PUBLISH = "textDocument/publishDiagnostics"

HEAD = 'title: T\nmodel: kling-v3\n'


def script(folder: Path, body: str, name: str = "main.kls") -> Path:
    path = folder / name
    path.write_text(HEAD + body, encoding="utf-8")
    return path


def character(images: str = "", sample: str = "") -> str:
    text = 'character Dad:\n    description: "man in his 40s, grey cardigan"\n'
    if images:
        text += f"    images: {images}\n"
    if sample:
        text += f'    voice sample: "{sample}"\n'
    return text


@pytest.fixture
def fifo(tmp_path) -> Path:
    path = tmp_path / "pipe.kls"
    os.mkfifo(path)
    return path


@pytest.fixture
def loop(tmp_path) -> Path:
    """``a`` -> ``b`` -> ``a``."""
    os.symlink("b", tmp_path / "a")
    os.symlink("a", tmp_path / "b")
    return tmp_path / "a"


# -- the helper -----------------------------------------------------------------------------

def test_read_regular_refuses_what_is_not_a_regular_file_by_name(tmp_path, fifo):
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(tmp_path / "s.kls"))
    try:
        cases = {fifo: "a FIFO (named pipe)", Path("/dev/null"): "a character device",
                 Path("/dev/zero"): "a character device", tmp_path / "s.kls": "a socket"}
        for path, kind in cases.items():
            start = time.monotonic()
            with pytest.raises(NotRegularFile) as e:
                read_regular(path, "script")
            assert e.value.kind == kind and e.value.strerror == f"it is {kind}, not a file"
            assert time.monotonic() - start < 1           # a FIFO without a writer does not block
    finally:
        sock.close()
    with pytest.raises(IsADirectoryError):
        read_regular(tmp_path, "script")


def test_read_regular_refuses_a_file_above_its_limit_without_reading_it(tmp_path, monkeypatch):
    big = tmp_path / "big.kls"
    with open(big, "wb") as f:
        f.truncate(files.MAX_BYTES["script"] + 1)          # sparse: nothing to read
    with pytest.raises(FileTooLarge, match="klingc reads scripts of at most 8 MB"):
        read_regular(big, "script")
    # A file that says it is empty but is not (/proc) is read no further than the limit.
    monkeypatch.setitem(files.MAX_BYTES, "script", 16)
    with pytest.raises(FileTooLarge):
        read_regular("/proc/self/status", "script")
    small = tmp_path / "small.kls"
    small.write_bytes(b"x" * 16)
    assert read_regular(small, "script") == b"x" * 16


def test_the_limits_are_documented():
    decisions = (Path(__file__).resolve().parent.parent / "docs" / "decisions.md").read_text(encoding="utf-8")
    section = decisions[decisions.index("## Only regular files"):]
    for kind, limit in files.MAX_BYTES.items():
        assert f"`{kind}`" in section and files.megabytes(limit) in section, kind


# -- scripts and use files, from the command line -------------------------------------------

def test_a_fifo_given_to_check_fmt_or_import_is_exit_2_at_once(klingc, tmp_path, fifo):
    for argv in (["check", fifo], ["fmt", fifo], ["build", fifo, "-o", tmp_path / "out"]):
        r = klingc(*argv, timeout=20)
        assert r.returncode == 2, r
        assert "is a FIFO (named pipe), not a .kls file" in r.stderr and "Traceback" not in r.stderr
    (tmp_path / "import").mkdir()
    screenplay = tmp_path / "import" / "pipe.fountain"
    os.mkfifo(screenplay)
    r = klingc("import", screenplay, timeout=20)
    assert r.returncode == 2 and "it is a FIFO (named pipe), not a screenplay" in r.stderr, r
    r = klingc("check", "/dev/zero", timeout=20)
    assert r.returncode == 2 and "/dev/zero: is a character device, not a .kls file" in r.stderr


def test_a_fifo_or_a_device_in_use_is_kls204_and_does_not_block(klingc, tmp_path, fifo):
    main = script(tmp_path, f'use "{fifo.name}"\nuse "/dev/zero"\n')
    r = klingc("check", main, "--allow-outside", timeout=20)
    assert r.returncode == 1, r
    assert 'error[KLS204]: cannot read "pipe.kls": it is a FIFO (named pipe), not a file' in r.stdout
    assert 'error[KLS204]: cannot read "/dev/zero": it is a character device, not a file' in r.stdout


def test_a_script_above_the_limit_is_refused(klingc, tmp_path):
    big = tmp_path / "big.kls"
    with open(big, "wb") as f:
        f.write(HEAD.encode())
        f.truncate(9 * files.MB)
    r = klingc("check", big, timeout=20)
    assert r.returncode == 2 and "it is 9 MB; klingc reads scripts of at most 8 MB" in r.stderr, r
    main = script(tmp_path, 'use "big.kls"\n')
    r = klingc("check", main, timeout=20)
    assert r.returncode == 1 and 'cannot read "big.kls": it is 9 MB' in r.stdout, r


def test_a_fifo_among_the_profiles_or_as_the_pricing_file_is_exit_2_at_once(klingc, tmp_path):
    profiles = tmp_path / "profiles"
    profiles.mkdir()
    os.mkfifo(profiles / "kling-v3.toml")
    main = script(tmp_path, "")
    r = klingc("check", main, env={"KLINGSCRIPT_PROFILES": str(profiles)}, timeout=20)
    assert r.returncode == 2 and "kling-v3.toml: cannot be read (it is a FIFO (named pipe), not a file)" in r.stderr, r
    os.mkfifo(tmp_path / "pricing.toml")
    r = klingc("cost", main, "--pricing", tmp_path / "pricing.toml", timeout=20)
    assert r.returncode == 2 and "it is a FIFO (named pipe), not a file" in r.stderr, r


def test_a_profile_or_pricing_file_holding_a_secret_is_refused(klingc, tmp_path):
    from klingscript.model import profiles as P
    from klingscript.resources import data_path

    folder = tmp_path / "profiles"
    folder.mkdir()
    for p in P.folder().glob("*.toml"):
        (folder / p.name).write_text(p.read_text(encoding="utf-8") + f"\n# {SECRET}\n", encoding="utf-8")
    pricing = tmp_path / "pricing.toml"
    pricing.write_text(data_path("pricing.toml").read_text(encoding="utf-8") + f"\n# {SECRET}\n",
                       encoding="utf-8")
    main = script(tmp_path, "")
    env = {"KLING_SECRET_KEY": SECRET}
    for argv, extra in ((["check", main], {"KLINGSCRIPT_PROFILES": str(folder)}),
                        (["cost", main, "--pricing", pricing], {})):
        r = klingc(*argv, env={**env, **extra}, timeout=30)
        assert r.returncode == 2, (argv, r)
        assert "holds the value of KLING_SECRET_KEY" in r.stderr and SECRET not in r.stdout + r.stderr


# -- images and voice samples ---------------------------------------------------------------

def test_a_fifo_or_a_device_used_as_an_image_or_sample_is_named_for_what_it_is(klingc, tmp_path):
    os.mkfifo(tmp_path / "front.png")
    os.mkfifo(tmp_path / "voice.wav")
    main = script(tmp_path, character('"front.png", "/dev/zero"', "voice.wav"))
    r = klingc("check", main, "--allow-outside", timeout=20)
    assert r.returncode == 1, r
    assert 'an image of Dad, "front.png", is a FIFO (named pipe), not an image' in r.stdout
    assert 'an image of Dad, "/dev/zero", is a character device, not an image' in r.stdout
    assert 'the voice sample of Dad, "voice.wav", is a FIFO (named pipe), not a sound file' in r.stdout
    assert "a folder" not in r.stdout


def test_an_image_above_the_limit_is_refused_without_being_opened(tmp_path, monkeypatch):
    from klingscript.model import images

    big = tmp_path / "huge.png"
    with open(big, "wb") as f:
        f.truncate(files.MAX_BYTES["image"] + 1)

    def never(*a):
        raise AssertionError("the image was opened")
    monkeypatch.setattr(images, "_read", never)
    info = images.inspect(big)
    assert info.size == files.MAX_BYTES["image"] + 1 and info.format is None and info.error is None

    from klingscript.model import profiles
    profile = profiles.load("kling-v3")
    (message, _), = images.problems(info, profile.images, "Kling 3.0", 10 * files.MB)
    assert message == "is 64 MB; Kling 3.0 takes images up to 10 MB"


def test_a_sample_above_the_limit_is_refused_without_being_opened(tmp_path, monkeypatch):
    from klingscript.model import voices

    big = tmp_path / "long.wav"
    with open(big, "wb") as f:
        f.truncate(files.MAX_BYTES["sample"] + 1)
    monkeypatch.setattr(voices, "_read", lambda p: pytest.fail("the sample was opened"))
    info = voices.inspect(big)
    assert info.error == "is 256 MB; klingc reads voice samples of at most 256 MB"


def test_render_reads_only_regular_images(tmp_path):
    from klingscript.runtime.render import Images, _LocalProblem

    os.mkfifo(tmp_path / "front.png")
    with pytest.raises(_LocalProblem, match="cannot read image front.png: it is a FIFO"):
        Images(tmp_path, tmp_path, False).read("front.png")


def test_the_review_page_reads_only_regular_images(tmp_path):
    from PIL import Image

    from klingscript.runtime.review import _Thumbs

    os.mkfifo(tmp_path / "front.png")
    Image.new("RGB", (64, 48), (10, 20, 30)).save(tmp_path / "side.png")
    thumbs = _Thumbs(tmp_path)
    assert thumbs.get("front.png") is None                  # not opened (it would block)
    assert thumbs.get("side.png").startswith("data:image/jpeg;base64,")


# -- symbolic link loops ----------------------------------------------------------------------

@pytest.mark.parametrize("outside", [False, True])
def test_a_symlink_loop_is_a_path_diagnostic_not_an_internal_error(klingc, tmp_path, loop, outside):
    main = script(tmp_path, 'use "a"\n' + character('"b", "side.png"', "a/voice.wav"))
    r = klingc("check", main, *(["--allow-outside"] if outside else []), timeout=20)
    assert r.returncode == 1, r
    assert "internal error" not in r.stderr and "Traceback" not in r.stderr
    loops = "it is a symbolic link that loops back on itself"
    assert f'error[KLS204]: cannot read "a": {loops}' in r.stdout
    assert f'error[KLS501]: an image of Dad, "b", cannot be read ({loops})' in r.stdout
    assert 'error[KLS503]: the voice sample of Dad, "a/voice.wav", cannot be read' in r.stdout
    r = klingc("check", loop, timeout=20)
    assert r.returncode == 2 and f"a: cannot read ({loops})" in r.stderr, r


# -- secrets ----------------------------------------------------------------------------------

def test_a_file_holding_a_secret_is_never_read_shown_or_cached(klingc, tmp_path):
    cache = tmp_path / "cache"
    main = script(tmp_path, 'use "/proc/self/environ"\n')
    for variable in ("KLING_SECRET_KEY", "KLING_API_KEY"):
        env = {"XDG_CACHE_HOME": str(cache), "KLINGSCRIPT_NO_CACHE": None,
               "KLING_SECRET_KEY": None, "KLING_API_KEY": None, variable: SECRET}
        r = klingc("check", main, "--allow-outside", env=env, timeout=20)
        assert r.returncode == 1, r
        assert f'cannot read "/proc/self/environ": it holds the value of {variable}' in r.stdout
        assert SECRET not in r.stdout + r.stderr
    assert cache.is_dir()
    for p in cache.rglob("*"):
        if p.is_file():
            assert SECRET.encode() not in p.read_bytes(), p


def test_a_script_holding_a_secret_is_refused_by_every_command(klingc, tmp_path):
    text = HEAD + f'character Dad:\n    description:   "key {SECRET}"\n'
    main = tmp_path / "main.kls"
    main.write_text(text, encoding="utf-8")
    env = {"KLING_API_KEY": SECRET}
    for argv in (["check", main], ["fmt", main], ["fmt", "--diff", main], ["build", main, "-o", tmp_path / "b"]):
        r = klingc(*argv, env=env, timeout=60)
        assert r.returncode == 2, (argv, r)
        assert "holds the value of KLING_API_KEY" in r.stderr and SECRET not in r.stdout + r.stderr
    assert main.read_text(encoding="utf-8") == text                   # fmt wrote nothing
    fountain = tmp_path / "film.fountain"
    fountain.write_text(f"INT. HOUSE - DAY\n\n{SECRET}\n", encoding="utf-8")
    r = klingc("import", fountain, env=env, timeout=60)
    assert r.returncode == 2 and SECRET not in r.stdout + r.stderr, r
    # A value too short to be told from ordinary text is not looked for.
    r = klingc("check", main, env={"KLING_API_KEY": "key"}, timeout=60)
    assert "holds the value" not in r.stderr


def test_an_editor_buffer_holding_a_secret_never_reaches_the_disk_cache(tmp_path, monkeypatch):
    """The language server checks an open document from the editor's buffer; one that holds a
    secret's value, saved (the same as on disk) or not, is checked in memory only."""
    from klingscript import compiler
    from klingscript.project import Loader

    cache = tmp_path / "cache"
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache))
    monkeypatch.delenv("KLINGSCRIPT_NO_CACHE", raising=False)
    monkeypatch.setenv("KLING_API_KEY", SECRET)
    text = HEAD + f'character Dad:\n    description: "key {SECRET}"\n\nscene "A":\n    @Dad waits.\n'
    main = tmp_path / "main.kls"
    main.write_text(text, encoding="utf-8")
    for buffer in (text, text + "\n    @Dad sits.\n"):          # saved, then unsaved
        memory: dict = {}
        for _ in range(2):
            compiler.diagnose(main, loader=Loader({main: buffer}), memory=memory)
        compiler.check(main, loader=Loader({main: buffer}))
    for p in cache.rglob("*") if cache.exists() else ():
        if p.is_file():
            assert SECRET.encode() not in p.read_bytes(), p


# -- KLING_API_BASE is checked as --api-base is --------------------------------------------------

@pytest.mark.parametrize("command", ["render", "voices"])
@pytest.mark.parametrize("url, says", [
    ("http://user:secret@127.0.0.1:9", "user name or password"),
    ("api.example.com", "does not start with http:// or https://"),
    ("ht!tp://%%%", "does not start with http:// or https://"),
    ("http://[::1", "Invalid IPv6 URL"),
])
def test_a_bad_kling_api_base_is_a_usage_error_at_once(klingc, tmp_path, command, url, says):
    main = script(tmp_path, "")
    out = tmp_path / "out"
    argv = ["render", main, "-o", out] if command == "render" else ["voices"]
    start = time.monotonic()
    r = klingc(*argv, env={"KLING_API_KEY": SECRET, "KLING_API_BASE": url}, timeout=60)
    assert r.returncode == 2, r
    assert "KLING_API_BASE: not a usable API base URL" in r.stderr and says in r.stderr
    assert "secret" not in r.stderr and SECRET not in r.stderr and "Traceback" not in r.stderr
    assert time.monotonic() - start < 30 and not out.exists()


# -- the language server ----------------------------------------------------------------------

@pytest_lsp.fixture(
    scope="module",
    config=ClientServerConfig(server_command=[sys.executable, "-m", "klingscript", "lsp"]),
)
async def client(lsp_client: LanguageClient):
    await lsp_client.initialize_session(T.InitializeParams(
        capabilities=pytest_lsp.client_capabilities("visual-studio-code")))
    yield
    await lsp_client.shutdown_session()


async def published(client: LanguageClient, uri: str, code: str, limit: float = 20):
    while True:
        diags = client.diagnostics.get(uri)
        if diags is not None and any(str(d.code) == code for d in diags):
            return diags
        await asyncio.wait_for(client.wait_for_notification(PUBLISH), limit)


aio = pytest.mark.asyncio(loop_scope="module")


@aio
async def test_the_language_server_answers_a_use_of_a_fifo_or_a_symlink_loop(client, tmp_path):
    os.mkfifo(tmp_path / "pipe.kls")
    os.symlink("b", tmp_path / "a")
    os.symlink("a", tmp_path / "b")
    path = tmp_path / "main.kls"
    text = HEAD + 'use "pipe.kls"\n' + character('"a"')
    uri = path.as_uri()
    try:
        await _answered_despite_a_fifo(client, tmp_path, uri, text)
    finally:
        _unblock(tmp_path / "pipe.kls")


def _unblock(fifo: Path) -> None:
    """Let a reader blocked on ``fifo`` go (end of file), so a server that blocked can exit."""
    for _ in range(20):
        try:
            os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        except OSError:         # no reader: nothing is blocked on it
            return


async def _answered_despite_a_fifo(client, tmp_path: Path, uri: str, text: str) -> None:
    client.text_document_did_open(T.DidOpenTextDocumentParams(T.TextDocumentItem(uri, "klingscript", 1, text)))
    diags = await published(client, uri, "KLS204")
    messages = sorted(d.message for d in diags)
    assert any("it is a FIFO (named pipe), not a file" in m for m in messages), messages
    assert any("symbolic link that loops back on itself" in m for m in messages), messages
    # Every edit is answered, and so is another document (no worker is left blocked).
    for version in range(2, 6):
        client.text_document_did_change(T.DidChangeTextDocumentParams(
            T.VersionedTextDocumentIdentifier(uri=uri, version=version),
            [T.TextDocumentContentChangeWholeDocument(text + f"# edit {version}\n")]))
    other = tmp_path / "other.kls"
    other_text = HEAD + 'use "missing.kls"\n'
    client.text_document_did_open(T.DidOpenTextDocumentParams(
        T.TextDocumentItem(other.as_uri(), "klingscript", 1, other_text)))
    await published(client, other.as_uri(), "KLS204")
    hover = await asyncio.wait_for(client.text_document_hover_async(T.HoverParams(
        T.TextDocumentIdentifier(uri), T.Position(4, 11))), 20)
    assert hover is None or hover.contents


def test_a_template_holding_a_secret_is_never_read(klingc, tmp_path):
    """``--templates``: each template is read as every other file a user names (a regular file,
    of a sane size, holding no API secret), not by Jinja2 itself."""
    from klingscript.backends.prompts import TEMPLATES

    folder = tmp_path / "tpl"
    folder.mkdir()
    for p in TEMPLATES.glob("*.j2"):
        (folder / p.name).write_text(p.read_text(encoding="utf-8") + f"\n{{# {SECRET} #}}\n", encoding="utf-8")
    main = script(tmp_path, 'character Dad:\n    description: "tall man"\n\nscene "A":\n    @Dad waits.\n')
    cache = tmp_path / "cache"
    env = {"KLING_API_KEY": SECRET, "XDG_CACHE_HOME": str(cache), "KLINGSCRIPT_NO_CACHE": None}
    for argv in (["prompt", "--templates", folder, main], ["build", "--templates", folder, main, "-o", tmp_path / "b"]):
        r = klingc(*argv, env=env, timeout=60)
        assert r.returncode == 2, (argv, r)
        assert "holds the value of KLING_API_KEY" in r.stderr and SECRET not in r.stdout + r.stderr
    for p in cache.rglob("*") if cache.exists() else ():
        if p.is_file():
            assert SECRET.encode() not in p.read_bytes(), p
    os.mkfifo(folder / "extra.j2")                                     # never waited on
    r = klingc("prompt", "--templates", folder, main, env={"KLING_API_KEY": None}, timeout=60)
    assert r.returncode == 2 and "FIFO" in r.stderr, r

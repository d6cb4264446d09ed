"""``klingc review``: one HTML page to look at a render — every scene, part, shot and take.

``write(compilation, folder)`` writes ``folder/review.html`` from the script as
it stands (its shots, dialogue and the requests of its jobs) and the folder's
ledger (the takes, their states and costs, the picks). The page is
self-contained: its style and script are inline, the images used are
embedded as small JPEG thumbnails (``data:`` URIs), and each take is an HTML5
``<video>`` pointing at its file in ``clips/`` by a relative path, so it
opens from the file system with no server and no network.

Everything from the script goes through Jinja2's autoescape: a ``<script>`` in
a line of dialogue is shown as text.

``serve(...)`` serves the same page on loopback (``klingc review --serve``):
GET serves the page and the folder's clips (byte ranges, for seeking); POST
``/pick`` with ``{"where": "3.2", "take": 2}`` calls ``takes.pick`` — the
code of ``klingc pick`` — and the page marks the new pick. The served page
carries a random token that a pick must send back, so no other page the
browser has open can pick.
"""

from __future__ import annotations

import base64
import io
import json
import secrets
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Callable, Optional

from ..files import write_atomic
from ..resources import data_path
from . import chain
from . import ledger as L
from .costs import CREDITS, UNITS, USD, fmt

PAGE = "review.html"
TEMPLATE = "review.html.j2"
THUMB = (240, 240)
_IMAGE_KEYS = {"image": "first frame", "image_tail": "last frame", "first_frame": "first frame",
               "last_frame": "last frame", "refer_image": "reference image", "frontal_image": "element image"}



def _prose(text) -> str:
    return "".join(p if isinstance(p, str) else p.name for p in text or ())


def _lines(lines) -> list[dict]:
    from ..lower import Action, Cue, Speech

    out = []
    for line in lines or ():
        if isinstance(line, Speech):
            out.append({"kind": "speech", "speaker": line.speaker, "tones": ", ".join(line.tones),
                        "text": line.text, "offscreen": line.offscreen or ""})
        elif isinstance(line, Cue):
            out.append({"kind": "sound", "text": line.text})
        elif isinstance(line, Action):
            out.append({"kind": "action", "text": _prose(line.text)})
    return out


def prompt_of(request: dict) -> str:
    """The prompt text a job's request sends (each shot's, for a multi-shot request)."""
    if isinstance(request.get("multi_prompt"), list):
        return "\n\n".join(f"[shot {p.get('index')}, {p.get('duration')}s] {p.get('prompt', '')}"
                           for p in request["multi_prompt"] if isinstance(p, dict))
    if isinstance(request.get("prompt"), str):
        return request["prompt"]
    texts = [c.get("text", "") for c in request.get("contents") or []
             if isinstance(c, dict) and c.get("type") == "prompt"]
    return "\n\n".join(texts)


def _images(request: dict, what: str = "") -> list[tuple[str, str]]:
    """``(label, path)`` of every ``file:`` image in a request, in order, without repeats."""
    found: list[tuple[str, str]] = []

    def walk(v, key=""):
        if isinstance(v, dict):
            kind = v.get("type") if isinstance(v.get("type"), str) else ""
            for k, x in v.items():
                walk(x, kind if k == "url" and kind else k)
        elif isinstance(v, list):
            for x in v:
                walk(x, key)
        elif isinstance(v, str) and v.startswith("file:"):
            label = _IMAGE_KEYS.get(key, "reference image")
            path = v[len("file:"):]
            if all(p != path for _, p in found):
                found.append((f"{what} {label}".strip() if what else label, path))

    walk(request)
    return found


class _Thumbs:
    """Images as small JPEG ``data:`` URIs (once each); None for one that cannot be read."""

    def __init__(self, script_dir: Path):
        self.script_dir = Path(script_dir)
        self.cache: dict[str, Optional[str]] = {}

    def get(self, rel: str) -> Optional[str]:
        if rel not in self.cache:
            self.cache[rel] = self._make(rel)
        return self.cache[rel]

    def _make(self, rel: str) -> Optional[str]:
        from PIL import Image

        from ..files import open_regular

        try:
            with open_regular(self.script_dir / rel, "image") as f, Image.open(f) as im:
                im = im.convert("RGB")
                im.thumbnail(THUMB)
                buf = io.BytesIO()
                im.save(buf, "JPEG", quality=80)
        except (OSError, ValueError):
            return None
        return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _cost(units, credits, usd, currency) -> str:
    parts = []
    if units is not None:
        parts.append(fmt(units, UNITS))
    if credits:
        parts.append(fmt(credits, CREDITS, currency))
    if usd is not None:
        parts.append(fmt(usd, USD))
    return " / ".join(parts)


def context(plan: dict, production, script_dir: Path, folder: Path, ledger: Optional[L.Ledger]) -> dict:
    """What the page shows: the plan's scenes and parts, with the script's shots and the takes."""
    from .takes import chosen, good_takes

    folder = Path(folder)
    entries = ledger.entries() if ledger is not None else []
    currency = plan.get("currency", "credits")
    thumbs = _Thumbs(script_dir)
    elements = {e["id"]: e for e in plan.get("elements") or []}
    shots_of = {s.number: s for s in getattr(production, "scenes", ())}
    scenes: list[dict] = []
    by_number: dict[int, dict] = {}
    totals = {"takes": 0, "made": 0, "units": 0.0, "credits": 0.0, "usd": 0.0, "charged": {},
              "has_units": True, "has_usd": True}
    for job in plan.get("jobs") or []:
        n = int(job["scene"])
        scene = by_number.get(n)
        if scene is None:
            lowered = shots_of.get(n)
            scene = by_number[n] = {"number": n, "title": job.get("scene_title") or f"scene {n}", "parts": [],
                                    "preamble": _lines(lowered.preamble) if lowered is not None else []}
            scenes.append(scene)
        lowered = shots_of.get(n)
        shots = []
        if lowered is not None:
            for shot in lowered.shots:
                if shot.number in (job.get("shots") or []):
                    shots.append({"number": shot.number, "seconds": shot.seconds, "text": _prose(shot.text),
                                  "lines": _lines(shot.lines)})
        images = _images(job.get("request") or {})
        for dep in job.get("depends_on") or []:
            el = elements.get(dep)
            if el is not None:
                images += [x for x in _images(el.get("request") or {}, f"{el.get('name')}:")
                           if all(p != x[1] for _, p in images)]
        parts = int(job.get("parts") or 1)
        part = int(job.get("part") or 1)
        takes = []
        used = None
        picked = None
        stale = frame = None
        if ledger is not None:
            e = ledger.get(job["id"])
            picked = e.picked if e is not None else None
            good = good_takes(ledger, folder, job["id"])
            used_take = chosen(ledger, folder, job["id"], good)
            used = used_take.take if used_take is not None else None
            good_numbers = {t.take for t in good}
            for t in ledger.takes(job["id"]):
                totals["takes"] += 1
                if t.paid:
                    totals["made"] += 1
                    totals["credits"] += t.credits or 0
                    if t.units is None:
                        totals["has_units"] = False
                    totals["units"] += t.units or 0
                    if t.usd is None:
                        totals["has_usd"] = False
                    totals["usd"] += t.usd or 0
                if t.charged is not None:
                    unit = t.charge_unit or "units"
                    totals["charged"][unit] = totals["charged"].get(unit, 0) + t.charged
                takes.append({"take": t.take, "state": t.state, "playable": t.take in good_numbers,
                              "src": t.file if t.take in good_numbers else None, "message": t.message,
                              "cost": _cost(t.units, t.credits, t.usd, currency),
                              "charged": "" if t.charged is None else fmt(t.charged, t.charge_unit or UNITS,
                                                                          currency),
                              "used": t.take == used, "picked": t.take == picked})
            stale, frame = _chained(ledger, folder, e, used_take, entries, thumbs)
        scene["parts"].append({
            "id": job["id"], "part": part, "parts": parts, "where": f"{n}.{part}" if parts > 1 else f"{n}",
            "duration": int(job.get("duration") or 0), "endpoint": job.get("endpoint", ""),
            "shots": shots, "prompt": prompt_of(job.get("request") or {}),
            "images": [frame] * (frame is not None) +
                      [{"label": label, "path": path, "src": thumbs.get(path)} for label, path in images],
            "estimate": _cost(_value(job, UNITS), float(job.get("credits") or 0), _value(job, USD), currency),
            "takes": takes, "used": used, "picked": picked, "stale": stale})
    est = plan.get("totals") or {}
    from .costs import estimate

    units_est = [estimate(j, UNITS) for j in plan.get("jobs") or []]
    summary = {
        "title": plan.get("title") or plan.get("source") or "film",
        "seconds": int(est.get("duration") or sum(int(j.get("duration") or 0) for j in plan.get("jobs") or [])),
        "jobs": len(plan.get("jobs") or []), "scenes": len(scenes), "takes": totals["takes"],
        "made": totals["made"],
        "spent": _cost(totals["units"] if totals["has_units"] and totals["made"] else None, totals["credits"],
                       totals["usd"] if totals["has_usd"] and totals["made"] else None, currency) or "nothing",
        "estimate": _cost(sum(units_est) if units_est and None not in units_est else None,
                          float(est.get("credits") or 0), None, currency),
        "charged": ", ".join(fmt(v, u, currency) for u, v in sorted(totals["charged"].items())),
        "rendered": ledger is not None, "folder": str(folder),
    }
    return {"summary": summary, "scenes": scenes}


def _chained(ledger: L.Ledger, folder: Path, e, used, entries, thumbs) -> tuple:
    """(what to say of a stale part or None, the image of the chained first frame the take in use
    was sent with or None)."""
    if e is None or used is None or not used.first_frame:
        return None, None
    src = chain.source_entry(entries, e)
    label = f"first frame: the last frame of {src.label}" if src is not None else "first frame"
    image = {"label": label, "path": used.first_frame,
             "src": thumbs.get(str((Path(folder) / used.first_frame).resolve()))}
    stale = chain.stale(ledger, folder, entries, e, used)
    return (chain.stale_note(e, stale) if stale is not None else None), image


def _value(job: dict, unit: str):
    from .costs import estimate

    return estimate(job, unit)


def render_page(ctx: dict, token: str = "") -> str:
    import jinja2

    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(data_path())),
                             autoescape=jinja2.select_autoescape(("html", "j2"), default=True),
                             trim_blocks=True, lstrip_blocks=True)
    return env.get_template(TEMPLATE).render(token=token, **ctx)


class Review:
    """The page of one render folder, built again after every pick."""

    def __init__(self, plan: dict, production, script_dir: Path, folder: Path):
        self.plan, self.production, self.script_dir, self.folder = plan, production, Path(script_dir), Path(folder)

    def html(self, token: str = "") -> str:
        try:
            ledger = L.Ledger.open_readonly(self.folder)
        except L.LedgerError:
            ledger = None
        try:
            ctx = context(self.plan, self.production, self.script_dir, self.folder, ledger)
        finally:
            if ledger is not None:
                ledger.close()
        return render_page(ctx, token)

    def write(self) -> Path:
        path = self.folder / PAGE
        write_atomic(path, self.html())
        return path


# -- serving ---------------------------------------------------------------------------------

class _Handler(BaseHTTPRequestHandler):
    review: Review
    token: str
    lock: threading.Lock
    log: Callable[[str], None]

    def log_message(self, format, *args):          # noqa: A002 - the base class's name
        pass

    def _send(self, status: int, body: bytes, kind: str, extra: Optional[dict] = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def do_HEAD(self):
        self.do_GET()

    def do_GET(self):
        path = self.path.split("?", 1)[0]
        if path in ("/", "/" + PAGE):
            with self.lock:
                body = self.review.html(self.token).encode("utf-8")
            return self._send(200, body, "text/html; charset=utf-8")
        target = (self.review.folder / path.lstrip("/")).resolve()
        clips = (self.review.folder / "clips").resolve()
        try:
            target.relative_to(clips)
        except ValueError:
            return self._send(404, b"not found", "text/plain")
        if target.suffix != ".mp4" or not target.is_file():
            return self._send(404, b"not found", "text/plain")
        self._file(target)

    def _file(self, target: Path) -> None:
        size = target.stat().st_size
        start, end = 0, size - 1
        status = 200
        rng = self.headers.get("Range", "")
        if rng.startswith("bytes="):
            first = rng[len("bytes="):].split(",")[0].strip()
            a, _, b = first.partition("-")
            try:
                if a:
                    start = int(a)
                    end = min(int(b), size - 1) if b else size - 1
                elif b:
                    start = max(0, size - int(b))
                status = 206
            except ValueError:
                status = 200
            if start > end or start >= size:
                return self._send(416, b"", "text/plain", {"Content-Range": f"bytes */{size}"})
        with open(target, "rb") as f:
            f.seek(start)
            body = f.read(end - start + 1)
        extra = {"Accept-Ranges": "bytes"}
        if status == 206:
            extra["Content-Range"] = f"bytes {start}-{end}/{size}"
        self._send(status, body, "video/mp4", extra)

    def do_POST(self):
        from .takes import PickError, pick

        if self.path != "/pick":
            return self._send(404, b"not found", "text/plain")
        if self.headers.get("X-Klingc-Token") != self.token:
            return self._answer(403, {"ok": False, "error": "this page may not pick: open the page klingc printed"})
        try:
            length = int(self.headers.get("Content-Length") or 0)
            data = json.loads(self.rfile.read(min(length, 10_000)) or b"{}")
            where, take = str(data["where"]), int(data["take"])
        except (ValueError, KeyError, TypeError):
            return self._answer(400, {"ok": False, "error": "a pick needs where (3.2) and take (2)"})
        with self.lock:
            try:
                done = pick(self.review.folder, where, take)
            except PickError as e:
                return self._answer(400, {"ok": False, "error": str(e)})
            self.review.write()
        self.log(f"picked take {take} of {done.job.label}" + (f"; film: {done.film}" if done.film else
                                                                 f" ({done.message})" if done.message else ""))
        self._answer(200, {"ok": True, "job": done.job.id, "take": take, "where": where,
                           "film": str(done.film) if done.film else None, "message": done.message})

    def _answer(self, status: int, data: dict) -> None:
        self._send(status, json.dumps(data).encode("utf-8"), "application/json")


def serve(review: Review, port: int = 0, log: Callable[[str], None] = print) -> ThreadingHTTPServer:
    """A server of the page on 127.0.0.1 (``port`` 0: a free one); the caller runs
    ``serve_forever`` and ``server_close``."""
    handler = type("ReviewHandler", (_Handler,), {"review": review, "token": secrets.token_urlsafe(16),
                                                  "lock": threading.Lock(), "log": staticmethod(log)})
    server = ThreadingHTTPServer(("127.0.0.1", port), handler)
    server.daemon_threads = True
    return server

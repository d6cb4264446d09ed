"""The render ledger: an SQLite file (``ledger.sqlite``) in the render folder.

One row per element, voice and job ever sent from this folder, keyed by its
id (the content hash that ``klingc build`` gives it; for a voice made from a
sample, ``voice-`` and a hash of its name and sample), so that:

- the intent to send a request is committed *before* the request goes out
  (``state = 'sending'``, with the ``external_task_id`` it carries); a
  render that dies at any moment finds the row on its next run and looks
  the task up by ``external_task_id`` instead of creating it again;
- the task id, status, result URL, downloaded file and its SHA-256 follow as
  they become known; a clip counts as done only when its file exists and
  matches the recorded size and checksum;
- an edited script changes the ids of the jobs it changes and no others,
  so only those are rendered again (old rows stay, marked not current; an
  edit that is undone finds its old clip again).

**Takes.** Every generation of a job is a *take*, one row of ``takes``
(``job``, ``take`` from 1), kept for good: its state, external and task ids,
file, checksum, estimate and what Kling charged. Take 1 is sent under the
job's id as ``external_task_id`` and saved as ``clips/<job-id>.mp4``; take
*n* > 1 under ``<job-id>-t<n>`` and saved as ``clips/<job-id>-t<n>.mp4``, so
takes never collide. A job's row in ``entries`` follows the take it is working
on (``take``), and every change to it is written to that take's row in the
same transaction. A failed take stays failed; the next generation is a new
take. ``picked`` is the take the writer chose (``klingc pick``); without one
the latest successful take is used (``takes.py``). ``retake`` is the number
of successful takes an unfinished ``--retake`` asked for: a render that dies
during a retake finds it and resumes the take instead of asking for another.
``first_frame`` is the chained first frame a take was sent with
(``frames/<digest>.jpg``, ``runtime/chain.py``): it says which take before it
the take started from, so a part can be shown as stale.

Each row also keeps the estimate (``credits`` in the plan's currency, and
``units`` / ``usd`` when the plan has them) and what Kling charged for the
task (``charged`` in ``charge_unit``, with Kling's own ``billing`` field as
JSON). A ledger written by an earlier klingc gains these columns when a render
opens it.

The database runs in WAL mode (``klingc status`` can read it while a render
writes) and every change is one transaction. Credentials are never stored.

States: ``pending`` (not sent yet), ``sending`` (intent recorded),
``submitted``/``processing`` (Kling has the task), ``succeed`` (result
ready, not downloaded), ``done`` (downloaded and checked; for an element:
created), ``failed`` (Kling's task failed; a new render sends it again under
a new ``external_task_id``), ``rejected`` (Kling refused the request; no
task exists), ``error`` (this run gave up, e.g. the network; resumable),
``gone`` (an element or voice Kling no longer has; made again, under a new
``external_task_id``)."""

from __future__ import annotations

import json
import os
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Optional

FILENAME = "ledger.sqlite"
SCHEMA_VERSION = 4

LIVE = ("submitted", "processing")
STATES = ("pending", "sending", "submitted", "processing", "succeed", "done", "failed", "rejected", "error",
          "gone")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS entries (
    id               TEXT PRIMARY KEY,      -- the element's or job's id in plan.json
    kind             TEXT NOT NULL,         -- 'element', 'voice' or 'job'
    position         INTEGER NOT NULL,      -- order in the script
    current          INTEGER NOT NULL DEFAULT 1,
    endpoint         TEXT NOT NULL,
    name             TEXT NOT NULL DEFAULT '',   -- element name, or the scene title
    scene            INTEGER,
    part             INTEGER,
    parts            INTEGER,
    shots            TEXT NOT NULL DEFAULT '',
    duration         INTEGER NOT NULL DEFAULT 0,
    credits          REAL NOT NULL DEFAULT 0,
    state            TEXT NOT NULL DEFAULT 'pending',
    attempt          INTEGER NOT NULL DEFAULT 0,
    external_task_id TEXT,
    task_id          TEXT,
    message          TEXT NOT NULL DEFAULT '',
    result_url       TEXT,
    element_id       TEXT,                  -- the element's (or voice's) id at Kling
    file             TEXT,
    bytes            INTEGER,
    sha256           TEXT,
    created_at       REAL NOT NULL,
    updated_at       REAL NOT NULL,
    units            REAL,                  -- estimate in resource-pack units, when the plan has one
    usd              REAL,                  -- estimate in USD, when the plan has one
    charged          REAL,                  -- what Kling charged for the task
    charge_unit      TEXT,                  -- "units", or a currency for cash
    billing          TEXT,                  -- Kling's billing field, as JSON
    take             INTEGER NOT NULL DEFAULT 1,  -- a job: the take this row follows
    picked           INTEGER,               -- a job: the take picked by the writer
    retake           INTEGER,               -- a job: successful takes an unfinished --retake wants
    first_frame      TEXT                   -- a job: the chained first frame its take was sent with
);
CREATE INDEX IF NOT EXISTS entries_external ON entries (external_task_id);
CREATE TABLE IF NOT EXISTS takes (
    job              TEXT NOT NULL,         -- the job's id
    take             INTEGER NOT NULL,      -- from 1
    state            TEXT NOT NULL DEFAULT 'pending',
    external_task_id TEXT,
    task_id          TEXT,
    message          TEXT NOT NULL DEFAULT '',
    result_url       TEXT,
    file             TEXT,
    bytes            INTEGER,
    sha256           TEXT,
    credits          REAL NOT NULL DEFAULT 0,
    units            REAL,
    usd              REAL,
    charged          REAL,
    charge_unit      TEXT,
    billing          TEXT,
    created_at       REAL NOT NULL,
    updated_at       REAL NOT NULL,
    first_frame      TEXT,                  -- frames/<digest>.jpg: the chained first frame sent
    PRIMARY KEY (job, take)
);
"""


@dataclass
class Entry:
    id: str
    kind: str
    position: int
    current: bool
    endpoint: str
    name: str
    scene: Optional[int]
    part: Optional[int]
    parts: Optional[int]
    shots: str
    duration: int
    credits: float
    state: str
    attempt: int
    external_task_id: Optional[str]
    task_id: Optional[str]
    message: str
    result_url: Optional[str]
    element_id: Optional[str]
    file: Optional[str]
    bytes: Optional[int]
    sha256: Optional[str]
    created_at: float
    updated_at: float
    units: Optional[float] = None
    usd: Optional[float] = None
    charged: Optional[float] = None
    charge_unit: Optional[str] = None
    billing: Optional[str] = None
    take: int = 1
    picked: Optional[int] = None
    retake: Optional[int] = None
    first_frame: Optional[str] = None

    @property
    def label(self) -> str:
        if self.kind in ("element", "voice"):
            return f"{self.kind} {self.name}"
        part = f" part {self.part}/{self.parts}" if (self.parts or 1) > 1 else ""
        return f"scene {self.scene}{part}"


@dataclass
class Take:
    job: str
    take: int
    state: str
    external_task_id: Optional[str]
    task_id: Optional[str]
    message: str
    result_url: Optional[str]
    file: Optional[str]
    bytes: Optional[int]
    sha256: Optional[str]
    credits: float
    units: Optional[float]
    usd: Optional[float]
    charged: Optional[float]
    charge_unit: Optional[str]
    billing: Optional[str]
    created_at: float
    updated_at: float
    first_frame: Optional[str] = None     # a chained first frame: frames/<take digest>.jpg

    @property
    def paid(self) -> bool:
        """Whether Kling made (or is making) this take: its estimate counts as spent."""
        return self.state in ("done", "succeed")


def take_name(job: str, take: int) -> str:
    """The take's external task id and file stem: the job's id, then ``<id>-t<n>``."""
    return job if take <= 1 else f"{job}-t{take}"


# The fields of an entry that belong to the take it follows.
TAKE_FIELDS = frozenset(("state", "external_task_id", "task_id", "message", "result_url", "file", "bytes", "sha256",
               "charged", "charge_unit", "billing", "first_frame"))


class LedgerError(Exception):
    """A ledger that cannot be opened or is not one."""


class Ledger:
    """``Ledger.open(folder)``; every method is one transaction."""

    def __init__(self, path: Path, db: sqlite3.Connection):
        self.path = path
        self.db = db

    @classmethod
    def open(cls, folder: Path, create: bool = True) -> "Ledger":
        path = Path(folder) / FILENAME
        if not create and not path.is_file():
            raise LedgerError(f"{folder} has no {FILENAME}: not a klingc render folder")
        try:
            if create:
                path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(str(path), timeout=30.0, isolation_level=None)
            db.row_factory = sqlite3.Row
            db.execute("PRAGMA journal_mode=WAL")
            # WAL with synchronous=NORMAL keeps every committed transaction through a crash
            # of the process (kill -9); the external_task_id covers a power cut.
            db.execute("PRAGMA synchronous=NORMAL")
            db.execute("PRAGMA busy_timeout=30000")
            if create:
                db.executescript(_SCHEMA)
                _migrate(db)
                db.execute("INSERT OR IGNORE INTO meta (key, value) VALUES ('schema', ?)", (str(SCHEMA_VERSION),))
            else:
                db.execute("SELECT 1 FROM entries LIMIT 1")
        except sqlite3.DatabaseError as e:
            raise LedgerError(f"{path}: not a readable ledger ({e})") from None
        return cls(path, db)

    @classmethod
    def open_readonly(cls, folder: Path) -> "Ledger":
        path = Path(folder) / FILENAME
        if not path.is_file():
            raise LedgerError(f"{folder} has no {FILENAME}: not a klingc render folder")
        try:
            # Read-only, but not immutable: a running render may be writing (WAL).
            db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30.0, isolation_level=None)
            db.row_factory = sqlite3.Row
            db.execute("SELECT 1 FROM entries LIMIT 1")
        except sqlite3.DatabaseError as e:
            raise LedgerError(f"{path}: not a readable ledger ({e})") from None
        return cls(path, db)

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> "Ledger":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- reading --
    def get(self, id: str) -> Optional[Entry]:
        row = self.db.execute("SELECT * FROM entries WHERE id = ?", (id,)).fetchone()
        return _entry(row) if row is not None else None

    def entries(self, current_only: bool = True) -> list[Entry]:
        where = "WHERE current = 1" if current_only else ""
        rows = self.db.execute(f"SELECT * FROM entries {where} "
                               f"ORDER BY current DESC, kind = 'job', position, id").fetchall()
        return [_entry(r) for r in rows]

    def takes(self, job: Optional[str] = None) -> list[Take]:
        """The takes of ``job`` (of every job ever rendered here when None), by job and number."""
        if job is None:
            rows = self.db.execute("SELECT * FROM takes ORDER BY job, take").fetchall()
        else:
            rows = self.db.execute("SELECT * FROM takes WHERE job = ? ORDER BY take", (job,)).fetchall()
        return [Take(**dict(r)) for r in rows]

    def meta(self, key: str) -> Optional[str]:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row is not None else None

    # -- writing --
    def set_meta(self, **values: Any) -> None:
        with self._tx():
            for k, v in values.items():
                self.db.execute("INSERT INTO meta (key, value) VALUES (?, ?) "
                                "ON CONFLICT(key) DO UPDATE SET value = excluded.value", (k, str(v)))

    def sync_plan(self, plan: dict, voices: Iterable[dict] = ()) -> None:
        """Make the plan's elements and jobs (and ``voices``: ``{id, name, endpoint}`` with their
        estimates) the current entries, adding the new ones."""
        from .costs import estimates

        now = time.time()
        with self._tx():
            self.db.execute("UPDATE entries SET current = 0")
            for pos, v in enumerate(voices):
                self._upsert(v["id"], "voice", pos, v.get("endpoint", ""), v.get("name", ""),
                             None, None, None, "", 0, estimates(v), now)
            for pos, el in enumerate(plan.get("elements") or []):
                self._upsert(el["id"], "element", pos, el.get("endpoint", ""), el.get("name", ""),
                             None, None, None, "", 0, estimates(el), now)
            for pos, job in enumerate(plan.get("jobs") or []):
                shots = ",".join(str(s) for s in job.get("shots") or [])
                self._upsert(job["id"], "job", pos, job.get("endpoint", ""), job.get("scene_title", ""),
                             job.get("scene"), job.get("part"), job.get("parts"), shots,
                             int(job.get("duration") or 0), estimates(job), now)
            self.db.execute("INSERT INTO meta (key, value) VALUES ('plan', ?) "
                            "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                            (json.dumps({"title": plan.get("title"), "source": plan.get("source")}),))

    def _upsert(self, id, kind, pos, endpoint, name, scene, part, parts, shots, duration, cost, now):
        credits, units, usd = cost
        self.db.execute(
            "INSERT INTO entries (id, kind, position, current, endpoint, name, scene, part, parts, shots, "
            "duration, credits, units, usd, created_at, updated_at) "
            "VALUES (?, ?, ?, 1, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT(id) DO UPDATE SET current = 1, position = excluded.position, kind = excluded.kind, "
            "endpoint = excluded.endpoint, name = excluded.name, scene = excluded.scene, part = excluded.part, "
            "parts = excluded.parts, shots = excluded.shots, duration = excluded.duration, "
            "credits = excluded.credits, units = excluded.units, usd = excluded.usd",
            (id, kind, pos, endpoint, name, scene, part, parts, shots, duration, credits, units, usd, now, now))

    def intend(self, id: str) -> Entry:
        """Record the intent to create ``id``'s task; returns the entry with its ``external_task_id``.

        The first attempt sends the id itself as ``external_task_id``. After a
        failed task (whose ``external_task_id`` is taken) the next attempt
        sends ``<id>-<n>``. A ``sending`` entry keeps its external id: its
        task may exist.
        """
        with self._tx():
            e = self.get(id)
            if e is None:
                raise LedgerError(f"no ledger entry {id}")
            if e.state == "sending" and e.external_task_id:
                return e
            if e.kind == "job":
                return self._intend_take(e)
            attempt = e.attempt
            if e.state in ("failed", "gone") or attempt == 0:
                attempt += 1
            external = id if attempt <= 1 else f"{id}-{attempt}"
            self.db.execute("UPDATE entries SET state = 'sending', attempt = ?, external_task_id = ?, "
                            "task_id = NULL, result_url = NULL, message = '', updated_at = ? WHERE id = ?",
                            (attempt, external, time.time(), id))
        return self.get(id)

    def _intend_take(self, e: Entry) -> Entry:
        """A job's intent: its take's external id (a failed take's successor is a new take)."""
        take = e.take or 1
        if e.state == "failed":
            take = self._last_take(e.id) + 1
        external = take_name(e.id, take)
        now = time.time()
        self.db.execute("UPDATE entries SET state = 'sending', take = ?, attempt = ?, external_task_id = ?, "
                        "task_id = NULL, result_url = NULL, message = '', updated_at = ? WHERE id = ?",
                        (take, take, external, now, e.id))
        if take != e.take:
            self.db.execute("UPDATE entries SET file = NULL, bytes = NULL, sha256 = NULL, charged = NULL, "
                            "charge_unit = NULL, billing = NULL, first_frame = NULL WHERE id = ?", (e.id,))
        self._new_take_row(e, take, now)
        self._mirror(e.id, take, {"state": "sending", "external_task_id": external, "task_id": None,
                                  "result_url": None, "message": ""}, now)
        return self.get(e.id)

    def _last_take(self, job: str) -> int:
        row = self.db.execute("SELECT MAX(take) FROM takes WHERE job = ?", (job,)).fetchone()
        return int(row[0] or 0)

    def _new_take_row(self, e: Entry, take: int, now: float) -> None:
        self.db.execute("INSERT OR IGNORE INTO takes (job, take, credits, units, usd, created_at, updated_at) "
                        "VALUES (?, ?, ?, ?, ?, ?, ?)", (e.id, take, e.credits, e.units, e.usd, now, now))

    def _mirror(self, job: str, take: int, fields: dict, now: float) -> None:
        mine = {k: v for k, v in fields.items() if k in TAKE_FIELDS}
        if not mine:
            return
        cols = ", ".join(f"{k} = ?" for k in mine)
        self.db.execute(f"UPDATE takes SET {cols}, updated_at = ? WHERE job = ? AND take = ?",
                        (*mine.values(), now, job, take))

    def new_take(self, id: str) -> Entry:
        """Start another take of job ``id`` (its take so far is kept as it is): the row follows a
        new, pending take with nothing sent yet."""
        with self._tx():
            e = self.get(id)
            if e is None or e.kind != "job":
                raise LedgerError(f"no job {id} in the ledger")
            take = max(self._last_take(id), e.take or 1) + 1
            now = time.time()
            self.db.execute("UPDATE entries SET take = ?, state = 'pending', external_task_id = NULL, "
                            "task_id = NULL, message = '', result_url = NULL, file = NULL, bytes = NULL, "
                            "sha256 = NULL, charged = NULL, charge_unit = NULL, billing = NULL, "
                            "first_frame = NULL, updated_at = ? WHERE id = ?", (take, now, id))
            self._new_take_row(e, take, now)
        return self.get(id)

    def pick(self, id: str, take: Optional[int]) -> None:
        """Make take ``take`` of job ``id`` the one its scene and the film use (None: no pick)."""
        with self._tx():
            self.db.execute("UPDATE entries SET picked = ?, updated_at = ? WHERE id = ?", (take, time.time(), id))

    def update(self, id: str, **fields: Any) -> None:
        if not fields:
            return
        unknown = set(fields) - set(Entry.__dataclass_fields__)
        if unknown:
            raise LedgerError(f"unknown ledger fields {sorted(unknown)}")
        if "state" in fields and fields["state"] not in STATES:
            raise LedgerError(f"unknown state {fields['state']!r}")
        cols = ", ".join(f"{k} = ?" for k in fields)
        now = time.time()
        with self._tx():
            self.db.execute(f"UPDATE entries SET {cols}, updated_at = ? WHERE id = ?",
                            (*fields.values(), now, id))
            row = None
            if not TAKE_FIELDS.isdisjoint(fields):
                row = self.db.execute("SELECT kind, take FROM entries WHERE id = ?", (id,)).fetchone()
            if row is not None and row["kind"] == "job":
                if self.db.execute("SELECT 1 FROM takes WHERE job = ? AND take = ?",
                                   (id, row["take"])).fetchone() is None:
                    self._new_take_row(self.get(id), row["take"], now)
                self._mirror(id, row["take"], fields, now)

    def _tx(self):
        return _Transaction(self.db)


class _Transaction:
    def __init__(self, db: sqlite3.Connection):
        self.db = db
        self.depth_owner = False

    def __enter__(self):
        if not self.db.in_transaction:
            self.db.execute("BEGIN IMMEDIATE")
            self.depth_owner = True
        return self

    def __exit__(self, exc_type, exc, tb):
        if not self.depth_owner:
            return False
        if exc_type is None:
            self.db.execute("COMMIT")
        else:
            self.db.execute("ROLLBACK")
        return False


def _entry(row: sqlite3.Row) -> Entry:
    d = dict(row)
    d["current"] = bool(d["current"])
    return Entry(**{k: v for k, v in d.items() if k in _FIELDS})


_FIELDS = set(Entry.__dataclass_fields__)
# Columns added since schema 1 (a ledger of an earlier render gains them on open).
_ADDED = (("units", "REAL"), ("usd", "REAL"), ("charged", "REAL"), ("charge_unit", "TEXT"),
          ("billing", "TEXT"), ("take", "INTEGER NOT NULL DEFAULT 1"), ("picked", "INTEGER"),
          ("retake", "INTEGER"), ("first_frame", "TEXT"))
_ADDED_TAKES = (("first_frame", "TEXT"),)


def _migrate(db: sqlite3.Connection) -> None:
    have = {r[1] for r in db.execute("PRAGMA table_info(entries)")}
    for name, kind in _ADDED:
        if name not in have:
            db.execute(f"ALTER TABLE entries ADD COLUMN {name} {kind}")
    have = {r[1] for r in db.execute("PRAGMA table_info(takes)")}
    for name, kind in _ADDED_TAKES:
        if name not in have:
            db.execute(f"ALTER TABLE takes ADD COLUMN {name} {kind}")
    # A ledger from before takes: each job that was sent becomes its take 1.
    db.execute("INSERT OR IGNORE INTO takes (job, take, state, external_task_id, task_id, message, result_url, "
               "file, bytes, sha256, credits, units, usd, charged, charge_unit, billing, created_at, updated_at) "
               "SELECT id, take, state, external_task_id, task_id, message, result_url, file, bytes, sha256, "
               "credits, units, usd, charged, charge_unit, billing, created_at, updated_at FROM entries "
               "WHERE kind = 'job' AND state != 'pending' "
               "AND NOT EXISTS (SELECT 1 FROM takes t WHERE t.job = entries.id)")
    db.execute("INSERT INTO meta (key, value) VALUES ('schema', ?) "
               "ON CONFLICT(key) DO UPDATE SET value = excluded.value", (str(SCHEMA_VERSION),))


def file_ok(folder: Path, entry: Entry, checksum: bool = True) -> bool:
    """Whether the entry's downloaded file exists with its recorded size (and SHA-256).

    Downloads are renamed into place only when complete, so a render checks
    the size; ``checksum=True`` reads the whole file.
    """
    import hashlib

    if not entry.file or entry.sha256 is None:
        return False
    path = Path(folder) / entry.file
    try:
        if path.stat().st_size != entry.bytes:
            return False
        if not checksum:
            return True
        digest = hashlib.sha256()
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                digest.update(chunk)
    except OSError:
        return False
    return digest.hexdigest() == entry.sha256


def summarize(entries: Iterable[Entry], takes: Optional[Iterable[Take]] = None) -> dict:
    """Counts and totals of ``entries``; with ``takes`` (every take of the folder, of earlier
    versions of the script too) what was spent and charged counts every take, not only the one
    each job's row follows."""
    entries = list(entries)
    jobs = [e for e in entries if e.kind == "job"]
    counts: dict = {}
    for e in jobs:
        counts[e.state] = counts.get(e.state, 0) + 1
    charged: dict = {}
    charging = [e for e in entries if takes is None or e.kind != "job"]
    charging += list(takes or [])
    for e in charging:
        if e.charged is not None:
            unit = e.charge_unit or "units"
            charged[unit] = charged.get(unit, 0.0) + e.charged

    def est(field, rows):
        """The estimate in ``field``: None when a job has none (elements and voices without
        one count as nothing)."""
        if any(getattr(e, field) is None for e in rows if e.kind == "job"):
            return None
        return sum(getattr(e, field) or 0.0 for e in rows)

    if takes is None:
        spent = sum(e.credits for e in jobs if e.state in ("done", "succeed"))
    else:
        spent = sum(t.credits for t in takes if t.paid)
    return {"jobs": len(jobs), "states": counts,
            "done_seconds": sum(e.duration for e in jobs if e.state == "done"),
            "spent": spent,
            "to_spend": sum(e.credits for e in jobs if e.state not in ("done", "succeed") + LIVE),
            "estimated": {"credits": sum(e.credits for e in jobs), "units": est("units", entries),
                          "usd": est("usd", entries)},
            "charged": charged}


def relpath(folder: Path, path: Path) -> str:
    return os.path.relpath(path, folder)

"""The render ledger: intent before sending, attempts, persistence, WAL, file checks."""

from __future__ import annotations

import hashlib
import sqlite3

import pytest

from klingscript.runtime import ledger as L

PLAN = {
    "title": "T", "source": "t.kls",
    "elements": [{"id": "el1", "name": "Alex", "endpoint": "/v1/general/advanced-custom-elements"}],
    "jobs": [
        {"id": "job1", "scene": 1, "scene_title": "One", "part": 1, "parts": 2, "shots": [1, 2],
         "duration": 5, "credits": 45, "endpoint": "/v1/videos/text2video"},
        {"id": "job2", "scene": 1, "scene_title": "One", "part": 2, "parts": 2, "shots": [3],
         "duration": 4, "credits": 36, "endpoint": "/v1/videos/text2video"},
    ],
}


def test_sync_plan_and_reopen(tmp_path):
    with L.Ledger.open(tmp_path) as led:
        led.sync_plan(PLAN)
        assert led.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert [e.id for e in led.entries()] == ["el1", "job1", "job2"]
        led.update("job1", state="done", task_id="t1")
    with L.Ledger.open(tmp_path) as led:
        e = led.get("job1")
        assert (e.state, e.task_id, e.label) == ("done", "t1", "scene 1 part 1/2")
        assert led.get("el1").label == "element Alex"
        assert e.shots == "1,2" and e.credits == 45


def test_an_edited_plan_keeps_old_rows_but_not_as_current(tmp_path):
    with L.Ledger.open(tmp_path) as led:
        led.sync_plan(PLAN)
        edited = dict(PLAN, jobs=[PLAN["jobs"][0], dict(PLAN["jobs"][1], id="job2b")])
        led.sync_plan(edited)
        assert [e.id for e in led.entries()] == ["el1", "job1", "job2b"]
        assert {e.id for e in led.entries(current_only=False)} == {"el1", "job1", "job2", "job2b"}
        assert not led.get("job2").current
        led.sync_plan(PLAN)          # the edit undone: the old row is current again
        assert led.get("job2").current and not led.get("job2b").current


def test_intent_and_attempts(tmp_path):
    with L.Ledger.open(tmp_path) as led:
        led.sync_plan(PLAN)
        e = led.intend("job1")
        assert (e.state, e.attempt, e.external_task_id) == ("sending", 1, "job1")
        assert led.intend("job1").external_task_id == "job1"      # still sending: the same id
        led.update("job1", state="rejected", message="bad")
        assert led.intend("job1").external_task_id == "job1"      # no task exists: the same id
        led.update("job1", state="failed", task_id="t1")
        e = led.intend("job1")                                    # the failed task holds "job1"
        assert (e.attempt, e.take, e.external_task_id, e.task_id) == (2, 2, "job1-t2", None)
        # the failed generation stays, as take 1
        assert [(t.take, t.state, t.external_task_id) for t in led.takes("job1")] == \
            [(1, "failed", "job1"), (2, "sending", "job1-t2")]


def test_intent_is_committed_before_returning(tmp_path):
    with L.Ledger.open(tmp_path) as led:
        led.sync_plan(PLAN)
        led.intend("job2")
        # Another connection (a process that reads after a crash) sees it at once.
        other = sqlite3.connect(str(tmp_path / L.FILENAME))
        assert other.execute("SELECT state, external_task_id FROM entries WHERE id='job2'").fetchone() == \
            ("sending", "job2")
        other.close()


def test_update_rejects_unknown_fields_and_states(tmp_path):
    with L.Ledger.open(tmp_path) as led:
        led.sync_plan(PLAN)
        with pytest.raises(L.LedgerError):
            led.update("job1", colour="red")
        with pytest.raises(L.LedgerError):
            led.update("job1", state="half-done")


def test_file_ok_checks_size_and_checksum(tmp_path):
    clip = tmp_path / "clips" / "job1.mp4"
    clip.parent.mkdir()
    clip.write_bytes(b"abc")
    with L.Ledger.open(tmp_path) as led:
        led.sync_plan(PLAN)
        led.update("job1", state="done", file="clips/job1.mp4", bytes=3,
                   sha256=hashlib.sha256(b"abc").hexdigest())
        assert L.file_ok(tmp_path, led.get("job1"))
        clip.write_bytes(b"abd")
        assert L.file_ok(tmp_path, led.get("job1"), checksum=False)
        assert not L.file_ok(tmp_path, led.get("job1"))
        clip.unlink()
        assert not L.file_ok(tmp_path, led.get("job1"), checksum=False)


def test_readonly_open_of_a_folder_without_a_ledger(tmp_path):
    with pytest.raises(L.LedgerError) as e:
        L.Ledger.open_readonly(tmp_path)
    assert "not a klingc render folder" in str(e.value)
    (tmp_path / L.FILENAME).write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(L.LedgerError):
        L.Ledger.open_readonly(tmp_path)


def test_summary_counts_spent_and_still_to_spend(tmp_path):
    with L.Ledger.open(tmp_path) as led:
        led.sync_plan(PLAN)
        led.update("job1", state="processing", task_id="t1")
        s = L.summarize(led.entries())
        assert s["to_spend"] == 36 and s["spent"] == 0
        led.update("job1", state="done")
        s = L.summarize(led.entries())
        assert s["spent"] == 45 and s["done_seconds"] == 5

"""Progress of a render: a live table on a terminal (rich), plain log lines otherwise.

Both take the same calls: ``start(title, jobs, elements, names)`` once, with
the number of jobs and of elements (and voices) to make and each one's
display name (a job: its scene's title); ``state(key, label, state,
detail)`` when an element or job changes state, ``note(text)`` for anything
else worth a line, and ``close()``. The live table counts against the totals
given at the start, so ``3/10 jobs done`` means ten from the first frame. Lines go to stderr; the summary of ``klingc render`` goes to
stdout.
"""

from __future__ import annotations

import sys
import time
from typing import Optional, TextIO

FINAL = ("done", "failed", "rejected", "error", "skipped")


class Progress:
    """Plain log lines: ``12:00:03 scene 1 part 1/2 [019cad4c5b28] submitted (task 8000...)``."""

    def __init__(self, stream: Optional[TextIO] = None):
        self.stream = stream or sys.stderr

    def start(self, title: str, jobs: int, elements: int, names: Optional[dict] = None) -> None:
        what = f"{jobs} job{'s' if jobs != 1 else ''}"
        if elements:
            what += f" and {elements} element{'s' if elements != 1 else ''}"
        self.note(f"rendering {title}: {what}")

    def state(self, key: str, label: str, state: str, detail: str = "") -> None:
        self._line(f"{label} [{key}] {state}" + (f" ({detail})" if detail else ""))

    def note(self, text: str) -> None:
        self._line(text)

    def _line(self, text: str) -> None:
        try:
            self.stream.write(f"{time.strftime('%H:%M:%S')} {text}\n")
            self.stream.flush()
        except (OSError, ValueError):
            pass

    def close(self) -> None:
        pass


class Quiet(Progress):
    def _line(self, text: str) -> None:
        pass


class RichProgress(Progress):
    """A live table of the elements and jobs, refreshed a few times a second."""

    def __init__(self, stream: Optional[TextIO] = None):
        from rich.console import Console
        from rich.live import Live

        super().__init__(stream)
        self.console = Console(file=self.stream)
        self.rows: dict[str, list] = {}
        self.title = ""
        self.jobs = 0
        self.elements = 0
        self.names: dict = {}
        self.started = time.monotonic()
        self.notes: list[str] = []
        self.live = Live(self._render(), console=self.console, refresh_per_second=4, transient=False,
                         get_renderable=self._render)
        self.live.start()

    def start(self, title: str, jobs: int, elements: int, names: Optional[dict] = None) -> None:
        self.title, self.jobs, self.elements = title, jobs, elements
        self.names = dict(names or {})
        self.started = time.monotonic()

    def state(self, key: str, label: str, state: str, detail: str = "") -> None:
        name = self.names.get(key)
        self.rows[key] = [f"{label}: {name}" if name else label, state, detail]

    def note(self, text: str) -> None:
        self.console.print(text, markup=False, highlight=False)

    def _render(self):
        from rich.table import Table
        from rich.text import Text

        styles = {"done": "green", "failed": "red", "rejected": "red", "error": "red",
                  "succeed": "cyan", "processing": "yellow", "submitted": "yellow", "sending": "yellow",
                  "downloading": "cyan", "waiting": "dim", "pending": "dim"}
        rows = list(self.rows.items())
        jobs = [r for k, r in rows if k in self.names]
        done = sum(1 for r in jobs if r[1] == "done")
        bad = sum(1 for _, r in rows if r[1] in ("failed", "rejected", "error"))
        made = sum(1 for k, r in rows if k not in self.names and r[1] == "done")
        total = max(self.jobs, len(jobs))
        head = f"{self.title}  {done}/{total} job{'s' if total != 1 else ''} done"
        if self.elements:
            head += f", {made}/{self.elements} element{'s' if self.elements != 1 else ''}"
        table = Table(title=Text(head + (f", {bad} failed" if bad else "")
                                 + f"  elapsed {_clock(time.monotonic() - self.started)}"),
                      expand=False, show_edge=False, pad_edge=False)
        table.add_column("id")
        table.add_column("what")
        table.add_column("state")
        table.add_column("detail", overflow="ellipsis", no_wrap=True, max_width=70)
        limit = max(5, self.console.size.height - 6)
        active = [(k, r) for k, r in rows if r[1] not in ("done", "skipped")]
        shown = active[:limit] if len(rows) > limit else rows
        for key, (label, state, detail) in shown:
            table.add_row(key, label, Text(state, style=styles.get(state, "")), detail)
        if len(shown) < len(rows):
            table.caption = f"{len(rows) - len(shown)} more not shown"
        return table

    def close(self) -> None:
        try:
            self.live.stop()
        except Exception:
            pass


def _clock(seconds: float) -> str:
    """Elapsed time as ``m:ss`` (``h:mm:ss`` past an hour)."""
    s = int(max(0, seconds))
    h, m = divmod(s // 60, 60)
    return f"{h}:{m:02d}:{s % 60:02d}" if h else f"{m}:{s % 60:02d}"


def make(kind: str = "auto", stream: Optional[TextIO] = None) -> Progress:
    stream = stream or sys.stderr
    if kind == "quiet":
        return Quiet(stream)
    if kind == "rich" or (kind == "auto" and _is_terminal(stream)):
        try:
            return RichProgress(stream)
        except Exception:
            return Progress(stream)
    return Progress(stream)


def _is_terminal(stream) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False

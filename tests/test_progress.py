"""The render's live view (issue 10 item 7): the total number of jobs from the start, scenes by
their titles, the elapsed time labelled as such."""

from __future__ import annotations

import io

from rich.console import Console

from klingscript.runtime.progress import RichProgress, _clock


def shown(progress) -> str:
    out = io.StringIO()
    Console(file=out, width=160, color_system=None).print(progress._render())
    return " ".join(out.getvalue().split())     # the title wraps to the width of the table


def test_the_live_table_counts_against_every_job_from_the_start():
    p = RichProgress(io.StringIO())
    try:
        p.start("Bottomless Refills", 10, 2, {f"job{n}": f"Scene title {n}" for n in range(10)})
        p.state("el1", "element Priya", "sending")
        p.state("job0", "scene 1 part 1/2", "submitted", "task 1")
        text = shown(p)
        assert "0/10 jobs done, 0/2 elements" in text
        assert "scene 1 part 1/2: Scene title 1" not in text and "scene 1 part 1/2: Scene title 0" in text
        assert "elapsed 0:00" in text
        for n in range(4):
            p.state(f"job{n}", f"scene {n + 1}", "done")
        p.state("el1", "element Priya", "done")
        assert "4/10 jobs done, 1/2 elements" in shown(p)
    finally:
        p.close()


def test_elapsed_time_reads_as_a_clock():
    assert (_clock(5), _clock(65), _clock(3725)) == ("0:05", "1:05", "1:02:05")

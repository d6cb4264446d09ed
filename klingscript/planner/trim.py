"""KLS412 (note): a scene a few seconds over one job, made as two generations.

``17s: 2s over a single 15s job``: trimming those seconds from its shots makes
the scene one generation (one take to review, no cut between two clips).
"A few" is at most a fifth of the longest job (3 s of 15 s): the share of a
scene a writer can take out of its shots without rewriting it
(docs/decisions.md).
"""

from __future__ import annotations

from ..diagnostics.codes import make


def trim_note(scene, jobs, job_max: int, shots_fit: bool, fewest: int):
    """The KLS412 note for ``scene`` planned as ``jobs``, or None.

    ``shots_fit``: its shots fit one job's shot count (so duration alone splits it);
    ``fewest``: the fewest jobs its duration and shot count need (more jobs mean
    prompt lengths or inputs split it too, which trimming would not change)."""
    over = scene.duration - job_max
    if len(jobs) != 2 or fewest != 2 or not shots_fit or not 0 < over <= job_max // 5:
        return None
    return make("KLS412", scene.title_span,
                f'scene "{scene.title}" lasts {scene.duration}s: {over}s over a single {job_max}s job, '
                f"so it is made as 2 generations",
                help=f"trim {over}s from its shots ({job_max}s in all) to make it one generation")

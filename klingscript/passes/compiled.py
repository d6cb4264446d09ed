"""Checks after compilation: the scenes are planned into jobs and their prompts written.

- KLS302: a scene that no valid set of jobs can carry (why, and where).
- KLS305: a prompt, a shot's prompt or the negative prompt over the model's limit.
- KLS306: a job with more reference inputs than the model takes.
- KLS308: inputs the model does not combine (element images without the omni
  model, frames with structured multi-shot, a last frame alone on omni).
- KLS404 (note): a scene split into several jobs.

The planner and the prompt templates are loaded only when the script has
scenes, so checking a cast file stays fast. Scenes with front-end errors are
left out: their durations and references are not known well enough to plan.
"""

from __future__ import annotations

from ..diagnostics.model import Diagnostic, Severity
from ..project import Program


def run(program: Program) -> list[Diagnostic]:
    doc = program.main.doc
    if not doc.scenes:
        return []
    main = program.main.display
    errors = [d.span for d in program.diagnostics
              if d.severity is Severity.ERROR and d.span.file == main]
    clean = set()
    for number, scene in enumerate(doc.scenes, 1):
        s = scene.span
        if not any(s.start <= e.start < max(s.end, s.start + 1) for e in errors):
            clean.add(number)
    if not clean:
        return []
    from ..lower import lower
    from ..planner.scene import make_plan

    plan = make_plan(lower(program, scenes=clean))
    program.plan = plan  # reused by `klingc build` when it renders with the same templates
    return list(plan.diagnostics)

"""Continuity between parts (issue 10 item 4) in the planner.

With ``continuity: chain`` every part of a split scene after the first starts
from the last frame of the part before it, and ``first frame: previous``
starts a scene from the last frame of the scene before it. The planner counts
such a frame as the job's first frame, against every limit a first frame has
(``ScenePlanner.input_limits``: omni's elements with a first frame, image to
video's elements, …) and against the two that an image file of the writer's is
checked for after planning (``_combinations``): a model that takes no first
frame, and a first frame with structured multi-shot where the profile does not
take one. Counted while the split is searched, a chained part avoids what it
cannot carry when another split can; when none can, ``plan`` reports KLS309,
with the reason and the fix, before anything is paid.

In a request the frame is a placeholder (``lower.previous_frame``):
``previous:S.P`` (scene S part P) or ``previous:S`` (the last part of scene S),
which ``klingc render`` fills with the last frame of that job's picked take
(``runtime/chain.py``).
"""

from __future__ import annotations

from .. import lower as L
from ..diagnostics.codes import make
from ..diagnostics.model import Severity


def chain_frame(scene: L.Scene):
    """The first frame of a part after the first (``frames(i, …)`` with i > 0): a chained frame
    under ``continuity: chain``, else None. ``numbered`` gives it its part."""
    if scene.settings.continuity != "chain":
        return None
    span = scene.setting_spans.get("continuity", scene.title_span)
    return L.previous_frame(scene.number, 0, span)


def numbered(frame, scene: L.Scene, part: int):
    """A part's chained first frame names the part before it (``previous:S.P``)."""
    if frame is None or not frame.chained or frame.path != f"{L.PREVIOUS}{scene.number}.0":
        return frame
    return L.previous_frame(scene.number, part - 1, frame.span)


def frame_limits(planner, label, structured: bool, first) -> list:
    """What a job with a chained first frame breaks besides ``input_limits``: (code, reason,
    help, span), as ``input_limits`` gives them."""
    if first is None or not first.chained:
        return []
    frames = planner.profile.frames
    model = planner.profile.label
    if not frames.first_frame:
        return [("KLS309", f"{label()} would start from a last frame, but {model} takes no first frame",
                 None, first.span)]
    if structured and not frames.with_multishot:
        return [("KLS309", f"{label()} would start from a last frame, and {model} takes no first frame "
                 f"together with structured multi-shot", None, first.span)]
    return []


def plan(planner) -> list:
    """``planner.plan()``, with KLS309 for a scene whose chained frames no set of jobs can carry
    (planned without them, it would be valid) and for `first frame: previous` in the first scene."""
    scene = planner.scene
    first = scene.first_frame
    if first is not None and first.chained and scene.number == 1:
        planner.diags.append(make(
            "KLS309", first.span, f'scene "{scene.title}" is the first scene: `first frame: previous` '
            f"has no scene before it to start from",
            help='give it an image (`first frame: "frames/start.png"`) or remove the line'))
        return []
    jobs = planner.plan()
    chained = scene.settings.continuity == "chain" or (first is not None and first.chained)
    if not chained or not any(d.severity == Severity.ERROR for d in planner.diags):
        return jobs
    plain = scene._replace(settings=scene.settings._replace(continuity="none"),
                           first_frame=None if first is not None and first.chained else first)
    other = type(planner)(plain, planner.production, planner.renderer, planner.pricing)
    other.plan()
    if any(d.severity == Severity.ERROR for d in other.diags):
        return jobs            # not the chain's fault: its own diagnostics say why
    why = next(d for d in planner.diags if d.severity == Severity.ERROR)
    fixes = []
    structured = "structured multi-shot" in why.message
    if structured and scene.settings.multishot != "text":
        fixes.append("write `multishot: text` in this scene (the shots of a part go into one prompt)")
    elif why.help and why.code != "KLS302":
        fixes.append(why.help)
    if scene.settings.continuity == "chain":
        fixes.append("remove `continuity: chain` from this scene (write `continuity: none` in it), so "
                     "its parts start wherever Kling likes")
    if first is not None and first.chained:
        fixes.append("remove `first frame: previous`")
    span = why.span
    planner.diags[:] = [d for d in planner.diags if d.severity != Severity.ERROR]
    planner.diags.append(make(
        "KLS309", span, f'scene "{scene.title}" cannot start its parts from the frames before them: '
        f"{why.message}", help="; or ".join(fixes)))
    return []

"""klingc render FILE [-o DIR] [--takes N] [--retake 3 --retake 5.2] [--budget 40u|$5|N] [--api-base URL] ...

Builds the plan, then generates every job with Kling, downloads the clips
and assembles ``DIR/scenes/NN-<scene>.mp4`` and ``DIR/film.mp4``. DIR
(default ``render/<stem>/``) also holds ``plan.json``, ``clips/`` and the
ledger (``ledger.sqlite``) that makes the command resumable: run it again
after a crash or Ctrl-C and it carries on without paying twice.

Credentials come from the environment: KLING_API_KEY (an API key from the
Kling console; either API generation) or KLING_ACCESS_KEY + KLING_SECRET_KEY
(legacy generation only). With none that can serve the plan's generation the
render refuses before sending anything (exit 2). The API base comes from
--api-base, else KLING_API_BASE, else Kling's Singapore endpoint.

Every generation of a job is a take, kept in ``clips/`` and the ledger.
``--takes N`` makes sure each job has N successful takes; ``--retake 3``
makes one more take of every part of scene 3, ``--retake 5.2`` of scene 5
part 2, even when they are done. The scenes and the film use each job's
picked take (``klingc pick``), else its latest successful one. What is asked
(the new takes, and the elements and voices to make) and its estimate is
shown before anything is sent.

``--budget`` caps what this render will add, takes, elements and voices included:
``40u`` (resource-pack units), ``$5`` (US dollars) or a plain number (the
plan's credits; ``--max-credits N`` is the same). ``--callback-url URL`` is
passed to Kling as each task's callback option; klingc still polls.
``--simulate`` renders against a local simulator instead (no account, no
credits): animatic clips of the script. ``--burn-subtitles`` draws every line of
dialogue into ``film.mp4`` (the subtitles of ``klingc export --srt``). The render
also writes ``DIR/storyboard.json``, what ``klingc export`` reads.

Exit codes: 0 the film is done; 1 errors in the script, or a render over
--max-credits (nothing sent); 2 usage errors, missing credentials, an
unusable output folder; 3 a job failed, Kling refused the credentials, or
the clips could not be assembled.
"""

from __future__ import annotations

import sys
from pathlib import Path

HELP = "generate the clips with Kling (or the local simulator) and assemble the film"


def add_arguments(p) -> None:
    from ._args import api_base_url, credits, positive_int, seconds

    def budget(text):
        import argparse

        from ..runtime.costs import BudgetError, parse_budget

        try:
            return parse_budget(text)
        except BudgetError as e:
            raise argparse.ArgumentTypeError(str(e)) from None
    from .build import add_api, add_common, add_pricing

    add_common(p)
    p.add_argument("-o", "--output", metavar="DIR", help="render folder (default: render/<stem>/)")
    p.add_argument("--api-base", metavar="URL", type=api_base_url,
                   help="Kling API base URL (default: $KLING_API_BASE, else https://api-singapore.klingai.com)")
    p.add_argument("--concurrency", type=positive_int, default=4, metavar="N",
                   help="tasks in flight at Kling at once (default 4; lowered when Kling says 1303)")
    p.add_argument("--max-credits", type=credits, metavar="N",
                   help="refuse to start when the credits still to spend exceed N")
    p.add_argument("--budget", type=budget, metavar="B",
                   help="refuse to start when what this render adds exceeds B: units (40u), "
                        "US dollars ($5) or credits (a plain number)")
    p.add_argument("--takes", type=positive_int, default=1, metavar="N",
                   help="make sure each job has N successful takes (default 1)")
    p.add_argument("--retake", action="append", default=[], metavar="SCENE[.PART]",
                   help="one more take of scene SCENE (all its parts) or of its part PART, even if done; "
                        "may be given more than once")
    p.add_argument("--callback-url", metavar="URL",
                   help="Kling's callback option for every task (klingc still polls)")
    p.add_argument("--poll-interval", type=seconds, metavar="S",
                   help="seconds between queries of one task (default 10; 0.2 with --simulate)")
    add_pricing(p)
    add_api(p)
    p.add_argument("--simulate", action="store_true",
                   help="render against a local Kling simulator started for this render (no account needed)")
    p.add_argument("--latency", type=seconds, default=1.0, metavar="S",
                   help="with --simulate: seconds each simulated task takes (default 1)")
    p.add_argument("--progress", choices=("auto", "rich", "plain", "quiet"), default="auto",
                   help="live table on a terminal (auto), or plain log lines")
    p.add_argument("--no-assemble", action="store_true", help="download the clips only")
    p.add_argument("--burn-subtitles", action="store_true",
                   help="draw the dialogue into film.mp4 as subtitles (speaker: line)")


def _spending(result, plan: dict, currency: str) -> str:
    """What this render spent and the whole film so far, as ``klingc cost`` shows costs: units
    and US dollars (the plan's estimates from Kling's table), credits marked as an estimate.
    A plan without units (built by an older klingc) shows its credits alone."""
    from ..planner.pricing import money, number

    costs = {j.get("id"): (j.get("cost") or {"credits": j.get("credits") or 0})
             for j in plan.get("jobs", [])}

    def total(ids) -> dict:
        out: dict = {}
        for jid in ids:
            for unit, value in costs.get(jid, {}).items():
                out[unit] = out.get(unit, 0) + value
        return {k: number(round(v, 4)) for k, v in out.items()}

    estimate = (plan.get("pricing") or {}).get("credits") == "estimate"
    now = total(o.id for o in result.outcomes if o.spent_now)
    done = total(o.id for o in result.done)
    whole = total(costs)
    if "units" in whole:
        for figures in (now, done):
            figures.setdefault("units", 0)
            figures.setdefault("usd", 0)
            figures.setdefault("credits", 0)
        so_far = f"{done['units']} of {whole['units']} units"
        if "usd" in whole:
            so_far += f" (${done['usd']:.2f} of ${whole['usd']:.2f})"
        credits = f"{done.get('credits', 0)} of {whole.get('credits', 0)} {currency}"
        so_far += f", ~{credits} (estimate)" if estimate else f", {credits}"
    else:
        so_far = f"{done.get('credits', 0)} of {whole.get('credits', 0)} {currency}"
    return (f"spent by this render: {money(now, currency, estimate)}; the whole film so far: "
            f"{so_far}")


def _summary(result, folder: Path, plan: dict, redact, simulated: bool = False) -> str:

    cur = plan.get("currency", "credits")
    title = plan.get("title") or plan.get("source") or "film"
    jobs = len(result.outcomes)
    done = result.done
    seconds = sum(o.seconds for o in done)
    lines = [f"{title}: {len(done)} of {jobs} job{'s' if jobs != 1 else ''} done ({seconds}s)"
             + (f", {len(result.failed)} failed" if result.failed else "")]
    for o in result.failed:
        lines.append(f"  failed: {o.label} [{o.id}]: {o.message or o.state}")
    lines.append(_spending(result, plan, cur) + (" (simulated: nothing was charged)" if simulated else ""))
    if result.charged:
        from ..runtime.costs import fmt

        charged = ", ".join(fmt(v, u) for u, v in sorted(result.charged.items()))
        lines.append(f"charged by Kling for this folder: {charged}"
                     + (" (simulated)" if simulated else ""))
    if result.message:
        lines.append(f"stopped: {result.message}")
    for scene in result.scenes:
        lines.append(f"scene: {scene}")
    if result.film is not None:
        lines.append(f"film: {result.film}")
    elif jobs:
        missing = ", ".join(str(n) for n in result.incomplete_scenes)
        old = " (the film.mp4 there is from an earlier render)" if (folder / "film.mp4").exists() else ""
        lines.append("film: not assembled" + (f"; scenes {missing} are incomplete" if missing else "") + old
                     + "; run the same command again to retry")
    return redact("\n".join(lines)) + "\n"


def run(args) -> int:
    import asyncio
    from argparse import ArgumentTypeError

    from ..runtime import progress as P
    from ..runtime.client import Credentials, MissingCredentials
    from ..runtime.costs import BudgetUnknown
    from ..runtime.generations import CURRENT, plan_generation
    from ..runtime.ledger import LedgerError
    from ..runtime.render import SIMULATOR, BudgetExceeded, Options, ServiceChanged, render_plan
    from ..compiler import OUTPUTS
    from ._args import chosen_api_base
    from .build import Stop, compile_args

    try:
        c = compile_args(args, OUTPUTS)
    except Stop as s:
        return s.code
    program, out = c.program, c.output
    folder = Path(args.output) if args.output else Path("render") / program.main.path.stem
    generation = plan_generation(out.plan)
    simulator = None
    try:
        if args.simulate:
            from ..runtime.simulator import DEFAULT_ACCESS_KEY, DEFAULT_API_KEY, DEFAULT_SECRET_KEY, Simulator

            simulator = Simulator(latency=args.latency, concurrency=args.concurrency,
                                  shots={j["id"]: j["shots"] for j in out.plan["jobs"]}).start()
            # The current generation takes an API key; a legacy plan renders with the keys (JWT).
            credentials = (Credentials(api_key=DEFAULT_API_KEY) if generation == CURRENT
                           else Credentials(DEFAULT_ACCESS_KEY, DEFAULT_SECRET_KEY))
            base = simulator.url
            print(f"klingc: rendering against the local simulator at {base} (no credits are spent)",
                  file=sys.stderr)
        else:
            try:
                credentials = Credentials.from_env(generation=generation)
            except MissingCredentials as e:
                print(f"klingc: {e}", file=sys.stderr)
                return 2
            try:
                base = chosen_api_base(args.api_base)
            except ArgumentTypeError as e:
                print(f"klingc: KLING_API_BASE: {e}", file=sys.stderr)
                return 2
        poll = args.poll_interval or (0.2 if args.simulate else 10.0)
        options = Options(output=folder, api_base=base, concurrency=args.concurrency,
                          max_credits=args.max_credits, poll_interval=poll, assemble=not args.no_assemble,
                          root=program.root, allow_outside=args.allow_outside,
                          service=SIMULATOR if args.simulate else None, budget=args.budget,
                          callback_url=args.callback_url, takes=args.takes, retake=tuple(args.retake))
        from ..runtime.takes import PickError, select_plan_jobs

        try:
            select_plan_jobs(out.plan, options.retake)
        except PickError as e:
            print(f"klingc: --retake: {e}", file=sys.stderr)
            return 2
        progress = P.make(args.progress)
        try:
            try:
                result = asyncio.run(render_plan(out.plan, program.main.path.parent, credentials, options,
                                                 progress))
            finally:
                progress.close()           # before anything is printed
        except BudgetExceeded as e:
            print(f"klingc: {e}", file=sys.stderr)
            return 1
        except (BudgetUnknown, MissingCredentials) as e:
            print(f"klingc: {e}", file=sys.stderr)
            return 2
        except ServiceChanged as e:
            print(f"klingc: {e}", file=sys.stderr)
            return 2
        except (OSError, LedgerError) as e:
            print(f"klingc: cannot render into {folder}: {getattr(e, 'strerror', None) or e}", file=sys.stderr)
            return 2
        from ..runtime.export import after_render
        from ..storyboard import of_plan

        notes, burn_failed = after_render(folder, of_plan(c.plan, out.plan["jobs"]), program.main.path.parent,
                                          result.film, args.burn_subtitles, args.simulate)
        for note in notes:
            print(f"klingc: {note}", file=sys.stderr)
        if burn_failed and result.code == 0:
            result.code = 3
        sys.stdout.write(_summary(result, folder, out.plan, credentials.redact, args.simulate))
        sys.stdout.flush()
        return result.code
    finally:
        if simulator is not None:
            simulator.stop()

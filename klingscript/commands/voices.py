"""klingc voices [--api-base URL] [--simulate] [--format table|json] — the account's Kling voices.

Lists the preset voices (``GET /v1/general/presets-voices``) and the
account's custom voices (``GET /v1/general/custom-voices``): name, id and
source (``preset``, or ``custom`` with its owner), so a writer can pick an id
for ``voice id: "…"``. Credentials as for ``klingc render``: KLING_API_KEY, or
KLING_ACCESS_KEY + KLING_SECRET_KEY (these paths are legacy-generation paths,
so both work). ``--simulate`` asks a local simulator instead.

Exit codes: 0 listed; 2 no credentials; 3 Kling refused or could not be reached.
"""

from __future__ import annotations

import json
import sys

HELP = "list the Kling account's preset and custom voices (name, id, source)"


def add_arguments(p) -> None:
    from ._args import api_base_url

    p.add_argument("--api-base", metavar="URL", type=api_base_url,
                   help="Kling API base URL (default: $KLING_API_BASE, else https://api-singapore.klingai.com)")
    p.add_argument("--simulate", action="store_true", help="list the voices of a local Kling simulator")
    p.add_argument("--format", choices=("table", "json"), default="table")


def voice_rows(entries: list, source: str) -> list[dict]:
    """Kling's list answers (tasks with ``task_result.voices[]``) as rows."""
    rows = []
    for entry in entries:
        result = entry.get("task_result") if isinstance(entry, dict) else None
        for v in (result or {}).get("voices") or []:
            if not isinstance(v, dict) or not v.get("voice_id"):
                continue
            owner = str(v.get("owned_by") or "")
            kind = "preset" if source == "preset" or owner == "kling" else "custom"
            rows.append({"name": str(v.get("voice_name") or ""), "id": str(v["voice_id"]), "source": kind,
                         "owned_by": owner})
    return rows


async def fetch(base: str, credentials, transport=None) -> list[dict]:
    from ..runtime.client import KlingClient
    from ..runtime.generations import paths

    async with KlingClient(base, credentials, transport=transport) as api:
        presets = await api.list_all(paths()["preset_voices"])
        custom = await api.list_all(paths()["voices"])
    return voice_rows(presets, "preset") + voice_rows(custom, "custom")


def _table(rows: list[dict]) -> str:
    head = ("name", "id", "source")
    table = [head] + [(r["name"], r["id"], r["source"] + (f" ({r['owned_by']})" if r["source"] == "custom"
                                                          and r["owned_by"] else "")) for r in rows]
    widths = [max(len(row[i]) for row in table) for i in range(2)]
    lines = []
    for n, row in enumerate(table):
        lines.append(f"{row[0].ljust(widths[0])}  {row[1].ljust(widths[1])}  {row[2]}".rstrip())
        if n == 0:
            lines.append(f"{'-' * widths[0]}  {'-' * widths[1]}  ------")
    if not rows:
        lines.append("(no voices)")
    return "\n".join(lines) + "\n"


def run(args) -> int:
    import asyncio
    from argparse import ArgumentTypeError

    from ..runtime.client import Credentials, KlingError, MissingCredentials
    from ._args import chosen_api_base

    simulator = None
    try:
        if args.simulate:
            from ..runtime.simulator import DEFAULT_API_KEY, Simulator

            simulator = Simulator(latency=0.1).start()
            base, credentials = simulator.url, Credentials(api_key=DEFAULT_API_KEY)
        else:
            try:
                credentials = Credentials.from_env()
            except MissingCredentials as e:
                print(f"klingc: {e}", file=sys.stderr)
                return 2
            try:
                base = chosen_api_base(args.api_base)
            except ArgumentTypeError as e:
                print(f"klingc: KLING_API_BASE: {e}", file=sys.stderr)
                return 2
        try:
            rows = asyncio.run(fetch(base, credentials))
        except KlingError as e:
            print(f"klingc: cannot list the voices: {credentials.redact(e.message)}", file=sys.stderr)
            return 3
    finally:
        if simulator is not None:
            simulator.stop()
    if args.format == "json":
        sys.stdout.write(json.dumps({"voices": rows}, ensure_ascii=False, indent=2) + "\n")
    else:
        sys.stdout.write(_table(rows))
    return 0

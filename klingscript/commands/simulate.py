"""klingc simulate [--port P] [--latency S] [--fail-rate R] [--error-rate R] [--concurrency N] [--seed N]
                [--forget-elements-after N] [--account-error CODE --account-error-after N]

Serves a local Kling-compatible API on loopback until stopped (Ctrl-C): both
generations' JSON, authentication (API key, or JWT on legacy paths),
validation, rate limits and errors as Kling, elements and voices, billing
fields, and real animatic clips as results. Point a render at it with
``klingc render FILE --api-base URL`` and its API key in KLING_API_KEY (or
its keys in KLING_ACCESS_KEY / KLING_SECRET_KEY for a legacy plan).

The API key it accepts: ``--api-key``, else KLINGC_SIMULATOR_API_KEY, else
``klingc-simulator-api-key``. The keys it accepts: ``--access-key`` / ``--secret-key``, else
KLINGC_SIMULATOR_ACCESS_KEY / KLINGC_SIMULATOR_SECRET_KEY, else the
well-known test keys ``klingc-simulator-access-key`` /
``klingc-simulator-secret-key-for-tests``.
"""

from __future__ import annotations

import os
import sys

HELP = "run a local Kling-compatible API for trying renders offline"

ACCESS_ENV, SECRET_ENV = "KLINGC_SIMULATOR_ACCESS_KEY", "KLINGC_SIMULATOR_SECRET_KEY"
API_KEY_ENV = "KLINGC_SIMULATOR_API_KEY"


def add_arguments(p) -> None:
    from ._args import number, port, positive_int, rate, seconds

    account_code = number(int, lambda n: 1000 <= n <= 1004 or 1100 <= n <= 1103,
                          "must be an authentication (1000-1004) or account (1100-1103) code", "a code")
    non_negative = number(int, lambda n: n >= 0, "cannot be negative", "a whole number")

    p.add_argument("--port", type=port, default=8765, help="port on 127.0.0.1 (default 8765; 0: any free port)")
    p.add_argument("--latency", type=seconds, default=2.0, metavar="S",
                   help="seconds from creating a task to its result (default 2)")
    p.add_argument("--fail-rate", type=rate, default=0.0, metavar="R",
                   help="share of tasks that end `failed` with a task_status_msg")
    p.add_argument("--error-rate", type=rate, default=0.0, metavar="R",
                   help="share of requests answered with HTTP 500/502/503 (codes 5000-5002)")
    p.add_argument("--drop-rate", type=rate, default=0.0, metavar="R",
                   help="share of requests whose connection is dropped without an answer")
    p.add_argument("--throttle-rate", type=rate, default=0.0, metavar="R",
                   help="share of requests answered with HTTP 429, code 1302")
    p.add_argument("--concurrency", type=positive_int, default=5, metavar="N",
                   help="tasks that may run at once per account (more get 429, code 1303)")
    p.add_argument("--seed", type=int, metavar="N", help="seed for the fault injection")
    p.add_argument("--clips", choices=("animatic", "card"), default="animatic",
                   help="animatic clips of the request (default), or a plain card per duration (faster)")
    p.add_argument("--access-key", metavar="KEY", help=f"access key to accept (default: ${ACCESS_ENV} or the test key)")
    p.add_argument("--secret-key", metavar="KEY", help=f"secret key to verify tokens with (default: ${SECRET_ENV} "
                                                       f"or the test key)")
    p.add_argument("--api-key", metavar="KEY", help=f"API key to accept (default: ${API_KEY_ENV} or the test key)")
    p.add_argument("--forget-elements-after", type=positive_int, metavar="N",
                   help="drop every element and voice after N video tasks (as when Kling expires them)")
    p.add_argument("--account-error", type=account_code, metavar="CODE",
                   help="answer with this account error (1000-1004, 1100-1103) after --account-error-after N requests")
    p.add_argument("--account-error-after", type=non_negative, default=0, metavar="N",
                   help="API requests answered normally before --account-error (default 0)")
    p.add_argument("--quiet", action="store_true", help="print only the address")


def run(args) -> int:
    import time

    from ..runtime.simulator import DEFAULT_ACCESS_KEY, DEFAULT_API_KEY, DEFAULT_SECRET_KEY, Simulator

    access = args.access_key or os.environ.get(ACCESS_ENV) or DEFAULT_ACCESS_KEY
    secret = args.secret_key or os.environ.get(SECRET_ENV) or DEFAULT_SECRET_KEY
    api_key = args.api_key or os.environ.get(API_KEY_ENV) or DEFAULT_API_KEY

    def log(message: str) -> None:
        print(f"{time.strftime('%H:%M:%S')} {message}", flush=True)

    sim = Simulator(port=args.port, latency=args.latency, fail_rate=args.fail_rate, error_rate=args.error_rate,
                    drop_rate=args.drop_rate, throttle_rate=args.throttle_rate, concurrency=args.concurrency,
                    seed=args.seed, access_key=access, secret_key=secret, api_key=api_key, clips=args.clips,
                    forget_elements_after=args.forget_elements_after, account_error=args.account_error,
                    account_error_after=args.account_error_after, log=None if args.quiet else log)
    try:
        sim.start()
    except OSError as e:
        print(f"klingc: cannot listen on 127.0.0.1:{args.port}: {e.strerror or e}", file=sys.stderr)
        return 2
    print(f"Kling simulator listening on {sim.url}", flush=True)
    if not args.quiet:
        if api_key == DEFAULT_API_KEY:
            print(f"  render with: KLING_API_KEY={DEFAULT_API_KEY} klingc render FILE --api-base {sim.url}",
                  flush=True)
        if access == DEFAULT_ACCESS_KEY and secret == DEFAULT_SECRET_KEY:
            print(f"  or (legacy API only): KLING_ACCESS_KEY={DEFAULT_ACCESS_KEY} "
                  f"KLING_SECRET_KEY={DEFAULT_SECRET_KEY} klingc render FILE --api-base {sim.url}", flush=True)
        else:
            print(f"  render with: klingc render FILE --api-base {sim.url} "
                  f"(and the simulator's keys in KLING_ACCESS_KEY / KLING_SECRET_KEY)", flush=True)
        print("  stop with Ctrl-C", flush=True)
    try:
        sim.serve_forever()            # stops the simulator when it returns or raises
    except KeyboardInterrupt:
        pass
    return 0

"""Checked number arguments for the command line: a clear one-line error, exit 2."""

from __future__ import annotations


def number(convert, ok, rule: str, noun: str):
    """An argparse ``type`` that converts with ``convert`` and accepts values where ``ok``."""
    def parse(text: str):
        import argparse

        try:
            value = convert(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {noun}") from None
        if not ok(value):
            raise argparse.ArgumentTypeError(rule)
        return value
    return parse


positive_int = number(int, lambda n: n >= 1, "must be at least 1", "a whole number")
seconds = number(float, lambda x: 0 < x <= 3600, "must be more than 0 and at most 3600 seconds",
                 "a number of seconds")
credits = number(float, lambda x: x >= 0, "cannot be negative", "a number of credits")
rate = number(float, lambda x: 0 <= x <= 1, "must be between 0 and 1", "a number")
port = number(int, lambda n: 0 <= n <= 65535, "must be 0 to 65535 (0: any free port)", "a port number")


def api_base_url(text: str) -> str:
    """An argparse ``type`` for ``--api-base``: an http(s) URL with a host, and no user name or
    password in it (they would be stored with the render's ledger; issue 12). A bad value is a
    usage error at once, not an internal error or a minute of retries. The value is never echoed
    back when it holds credentials."""
    import argparse
    import re
    from urllib.parse import urlsplit

    def bad(why: str):
        return argparse.ArgumentTypeError(f"not a usable API base URL: {why}")

    if "@" in urlsplit_netloc(text):
        raise bad("it holds a user name or password; give the keys in KLING_API_KEY "
                  "(or KLING_ACCESS_KEY and KLING_SECRET_KEY) instead")
    try:
        url = urlsplit(text.strip())
        host, _ = url.hostname, url.port          # both check the authority part
    except ValueError as e:
        raise bad(f"{e} (expected e.g. https://api-singapore.klingai.com)") from None
    if url.scheme not in ("http", "https"):
        raise bad(f"{text!r} does not start with http:// or https://")
    if not host or not re.fullmatch(r"[A-Za-z0-9._~-]+|[0-9A-Fa-f:.]+", host):
        raise bad(f"{text!r} has no valid host name")
    return text


def chosen_api_base(flag) -> str:
    """The API base a command talks to: ``--api-base`` (``api_base_url`` checked it), else
    ``KLING_API_BASE`` checked exactly the same way (``argparse.ArgumentTypeError``, a usage
    error: the command says so and exits 2 before anything is sent or stored), else Kling's."""
    import os

    from ..runtime.client import BASE_ENV, api_base

    if not flag and os.environ.get(BASE_ENV):
        api_base_url(os.environ[BASE_ENV])
    return api_base(flag)


def urlsplit_netloc(text: str) -> str:
    """The authority part of a URL (what is between ``//`` and the path), without parsing it."""
    rest = text.strip().partition("//")[2] if "//" in text else ""
    for end in "/?#":
        rest = rest.split(end, 1)[0]
    return rest

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

"""Passes over a loaded program. Each collects diagnostics and never stops at the first.

- ``resolve``: declarations, references, duplicates, kinds, unused elements.
- ``check``:   settings and values, shots and durations, languages, element
               limits, images and paths.
- ``lint``:    warnings and notes: speech that cannot fit its shot, text in
               the wrong script for its language, inferred durations.
"""

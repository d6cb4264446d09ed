"""KlingScript: a screenplay language for Kling 3.0, and its compiler klingc."""

__version__ = "0.1.0"
LANGUAGE_VERSION = "0.1"

"""Answers about a file kept until the file changes (its path, modification time and size)."""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Callable, Generic, TypeVar

T = TypeVar("T")


class FileCache(Generic[T]):
    """At most ``limit`` answers, each for one version of a file; thread-safe."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._answers: dict[tuple, T] = {}
        self._lock = threading.Lock()

    def get(self, path: Path, st: os.stat_result, read: Callable[[], T]) -> T:
        """The answer for ``path`` as ``st`` finds it, from ``read()`` the first time."""
        key = (str(path), st.st_mtime_ns, st.st_size)
        with self._lock:
            hit = self._answers.get(key)
        if hit is not None:
            return hit
        answer = read()
        with self._lock:
            if len(self._answers) >= self.limit:
                self._answers.clear()
            self._answers[key] = answer
        return answer

    def clear(self) -> None:
        with self._lock:
            self._answers.clear()

"""Work on a second core: forked helper processes, with a plain serial fallback.

``klingc`` is one Python process, and Python runs one thread of Python code at
a time. Two pieces of work are independent of what follows them, and a
machine with more than one core can do them alongside:

- writing a parse result into the cache (``cache.py``) while the checks run;
- building the API requests of a long script (``klingc build``): a helper
  imports pydantic and builds each job's request as soon as this process has
  rendered the job's prompts.

A helper is a ``fork`` of this process: it starts with everything already
parsed and imported, does its share, sends the result back through a pipe
(pickled) and exits with ``os._exit`` (no ``atexit`` handlers, no flushing of
this process's output buffers). The results are the same, byte for byte, as
doing the work here: a helper that fails, or cannot be started, has its share
done here instead.

Helpers are used only by the ``klingc`` command line (``enable()``), only
where ``os.fork`` exists, only while this process runs no other thread, and
only with a second CPU (and, for a build, enough jobs to be worth it).
``KLINGSCRIPT_WORKERS=1`` turns helpers off; ``2`` uses them even for a
short script (the tests do). Every helper is waited for before ``klingc``
exits.
"""

from __future__ import annotations

import os
import pickle
import threading
from typing import Callable, Optional

# The fewest jobs worth a helper: below this, starting one costs more than it saves.
MIN_JOBS = 48

_enabled = False
_background: list["Helper"] = []
_held: set[int] = set()   # this process's ends of helpers' pipes, closed in every new helper


def enable() -> None:
    """Let this process start helpers (the ``klingc`` command line does)."""
    global _enabled
    _enabled = True


def disable() -> None:
    global _enabled
    _enabled = False


def _cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _forced() -> Optional[int]:
    value = os.environ.get("KLINGSCRIPT_WORKERS", "").strip()
    if value.isdigit() and int(value) >= 1:
        return int(value)
    return None


def can_fork() -> bool:
    return _enabled and hasattr(os, "fork") and threading.active_count() == 1


def workers(jobs: int) -> int:
    """How many processes should share the work of ``jobs`` jobs, this one included
    (a build takes one helper when this is more than 1)."""
    forced = _forced()
    if not can_fork():
        return 1
    if forced is not None:
        return min(forced, max(1, jobs))
    if jobs < MIN_JOBS:
        return 1
    return min(2, _cpus())


class HelperFailed(Exception):
    pass


class Helper:
    """``func(*args)`` in a forked process; ``result()`` waits for it and returns its value."""

    def __init__(self, func: Callable, *args):
        import gc

        r, w = os.pipe()
        # Objects the collector would walk (and so touch) stay out of its way in both
        # processes: pages shared after the fork are then copied less.
        gc.freeze()
        pid = -1
        try:
            pid = os.fork()
        finally:
            if pid != 0:
                gc.unfreeze()
        if pid == 0:  # the helper
            code = 0
            try:
                os.close(r)
                for fd in _held:   # other helpers' pipe ends: theirs to close, not ours to keep open
                    try:
                        os.close(fd)
                    except OSError:
                        pass
                try:
                    data = pickle.dumps((True, func(*args)), protocol=pickle.HIGHEST_PROTOCOL)
                except BaseException as e:  # reported to the parent, which does the work itself
                    data = pickle.dumps((False, f"{type(e).__name__}: {e}"))
                    code = 1
                with os.fdopen(w, "wb") as f:
                    f.write(data)
            except BaseException:
                code = 2
            finally:
                os._exit(code)
        os.close(w)
        self.pid = pid
        self._fd: Optional[int] = r
        _held.add(r)

    def result(self):
        data = b""
        try:
            fd = self._take_fd()
            if fd is not None:
                with os.fdopen(fd, "rb") as f:
                    data = f.read()   # to the end first: the helper may be blocked writing
        finally:
            self.wait()
        if not data:
            raise HelperFailed("the helper process sent nothing back")
        ok, value = pickle.loads(data)
        if not ok:
            raise HelperFailed(value)
        return value

    def _take_fd(self) -> Optional[int]:
        """The read end of the helper's pipe, now this caller's to close."""
        fd, self._fd = self._fd, None
        _held.discard(fd)
        return fd

    def close(self) -> None:
        """Close the pipe without reading the helper's answer."""
        fd = self._take_fd()
        if fd is not None:
            os.close(fd)

    def wait(self) -> None:
        if self.pid:
            try:
                os.waitpid(self.pid, 0)
            except ChildProcessError:
                pass
            self.pid = 0


class Feeder:
    """``func(items, *args)`` in a helper, ``items`` being what this process ``send``s
    meanwhile; ``result()`` ends the items and returns func's value.

    A thread in the helper takes the items off the pipe as they come, so that
    ``send`` does not wait while ``func`` is busy (importing, say).
    """

    def __init__(self, func: Callable, *args):
        r, w = os.pipe()

        def run():
            os.close(w)
            return func(_received(r), *args)

        try:
            self._helper = Helper(run)
        except BaseException:
            os.close(r)
            os.close(w)
            raise
        os.close(r)
        _held.add(w)    # a helper forked later must not keep this pipe open: its reader waits for the end
        self._out = os.fdopen(w, "wb")

    def send(self, item) -> None:
        pickle.dump(item, self._out, protocol=pickle.HIGHEST_PROTOCOL)
        self._out.flush()

    def result(self):
        _held.discard(self._out.fileno())
        try:
            self._out.close()     # the end of the items
        except OSError:
            pass
        return self._helper.result()


def _received(fd: int):
    """The items sent to this helper, read off the pipe by a thread as they arrive."""
    import queue

    items: queue.SimpleQueue = queue.SimpleQueue()
    end = object()

    def read() -> None:
        try:
            with os.fdopen(fd, "rb") as f:
                while True:
                    items.put(pickle.load(f))
        except Exception:   # EOFError: the end (or a broken pipe: the end too)
            items.put(end)

    threading.Thread(target=read, daemon=True).start()   # at once, not at the first item

    def drain():
        while True:
            item = items.get()
            if item is end:
                return
            yield item

    return drain()


def in_background(func: Callable, *args) -> None:
    """``func(*args)``, in a helper when one can run alongside (waited for by ``wait_all``)."""
    if can_fork() and _cpus() > 1 and _forced() != 1:
        _reap()
        try:
            _background.append(Helper(func, *args))
            return
        except OSError:
            pass
    func(*args)


def _reap() -> None:
    """Forget the background helpers that have finished."""
    for helper in list(_background):
        try:
            pid, _ = os.waitpid(helper.pid, os.WNOHANG)
        except ChildProcessError:
            pid = helper.pid
        if pid:
            helper.pid = 0
            helper.close()
            _background.remove(helper)


def wait_all() -> None:
    """Wait for every background helper (before the process exits)."""
    while _background:
        helper = _background.pop()
        helper.close()
        helper.wait()

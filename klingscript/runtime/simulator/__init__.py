"""``klingc simulate``: a local Kling-compatible API for trying renders offline.

``Simulator(latency=0.1, concurrency=4).start()`` serves on a free loopback
port (``.url``) from a background thread; ``klingc simulate`` runs one until
it is stopped. See ``server.py`` for what it does and ``animatic.py`` for the
clips it returns.
"""

from .server import DEFAULT_ACCESS_KEY, DEFAULT_API_KEY, DEFAULT_SECRET_KEY, FAULTS, Config, Simulator

__all__ = ["DEFAULT_ACCESS_KEY", "DEFAULT_API_KEY", "DEFAULT_SECRET_KEY", "FAULTS", "Config", "Simulator"]

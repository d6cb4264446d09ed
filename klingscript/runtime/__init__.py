"""Rendering: from a plan to a film.

- ``client``: the Kling API over HTTP (JWT authentication, create and query,
  error mapping, retries with backoff).
- ``ledger``: the SQLite record of every element and job a render sends, so
  that a render never pays twice and always resumes.
- ``render``: the orchestration behind ``klingc render``.
- ``assemble``: scene files and the film, joined with the ffmpeg that
  imageio-ffmpeg ships.
- ``simulator``: ``klingc simulate``, a local Kling-compatible API.

Nothing here is imported by ``klingc check``; the heavy libraries (httpx,
PyJWT, rich, PyAV, Pillow) are imported inside the functions that use them.
"""

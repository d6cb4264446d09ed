"""What differs between Kling's two API generations, in one place (facts in ``data/kling_api.toml``).

- **Which generation a path belongs to**: Kling's rule is that a path carrying
  the model version (``/text-to-video/kling-3.0``) is the current generation;
  ``/v1/...`` is legacy. Elements and voices live under ``/v1/general`` for
  both, so their answers always have the legacy shape.
- **Authentication**: an API key works everywhere; access key + secret key
  (a JWT) only on legacy paths (``auth``).
- **Answers**: ``parse_task`` reads either shape into one ``Task`` whose
  status is one of ``submitted``, ``processing``, ``succeed``, ``failed`` (the
  current generation's ``succeeded`` is mapped), with its videos, element or
  voice ids and the charge (``billing[]`` on current, ``final_unit_deduction``
  on legacy).
- **Requests**: where the job options go (``options.external_task_id`` /
  ``options.callback_url`` on current; top-level on legacy and for elements and
  voices), and how a task is queried (legacy: ``GET <create path>/<id>``;
  current: batched ``GET /tasks?external_task_ids=a,b,c``).
- **Errors**: ``error_rule(code)`` is Kling's table (action, meaning, fix).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Optional

CURRENT, LEGACY = "current", "legacy"
GENERATIONS = (CURRENT, LEGACY)


@lru_cache(maxsize=1)
def facts() -> dict:
    from ..resources import data_toml

    return data_toml("kling_api.toml")


def plan_generation(plan: dict) -> str:
    """The generation a plan's requests are written for: its ``api``; absent means legacy
    (plan.json files written before klingc knew the current generation)."""
    api = plan.get("api") if isinstance(plan, dict) else None
    return api if api in GENERATIONS else LEGACY


def path_generation(path: str) -> str:
    """Kling's rule: the model version in the path is the current generation; ``/v1/`` is legacy."""
    return LEGACY if path.startswith("/v1/") else CURRENT


def auth_schemes(generation: str) -> tuple[str, ...]:
    return tuple(facts()["generations"][generation]["auth"])


def paths() -> dict:
    return facts()["paths"]


def error_rule(code) -> Optional[dict]:
    if not isinstance(code, int):
        return None
    return facts()["errors"]["codes"].get(str(code))


def min_backoff() -> float:
    return float(facts()["errors"]["min_backoff"])


# -- requests ---------------------------------------------------------------------------------

def set_job_options(path: str, body: dict, external_task_id: str, callback_url: Optional[str]) -> None:
    """Put the external id (and the callback URL) where ``path``'s generation takes them."""
    if path_generation(path) == CURRENT:
        options = body.setdefault("options", {})
        options["external_task_id"] = external_task_id
        if callback_url:
            options["callback_url"] = callback_url
    else:
        body["external_task_id"] = external_task_id
        if callback_url:
            body["callback_url"] = callback_url


def external_id_of(path: str, body: dict) -> Optional[str]:
    if path_generation(path) == CURRENT:
        options = body.get("options")
        return options.get("external_task_id") if isinstance(options, dict) else None
    return body.get("external_task_id")


def query_path(create_path: str, ident: str) -> str:
    """The legacy query of one task (by task id or external id)."""
    return f"{create_path.rstrip('/')}/{ident}"


def batch_query(external_ids: list[str]) -> tuple[str, dict]:
    """The current generation's batched query: path and query parameters."""
    g = facts()["generations"][CURRENT]
    return g["query_path"], {g["query_by_external"]: ",".join(external_ids)}


def task_query(task_ids: list[str]) -> tuple[str, dict]:
    g = facts()["generations"][CURRENT]
    return g["query_path"], {g["query_by_task"]: ",".join(task_ids)}


# -- answers -----------------------------------------------------------------------------------

@dataclass
class Video:
    id: str
    url: str
    duration: Optional[float]


@dataclass
class Charge:
    """What Kling charged for a task: ``amount`` in ``unit`` ("units" of a resource pack, or a
    currency for cash), and the raw field as Kling sent it."""
    amount: float
    unit: str
    raw: Any = None


@dataclass
class Task:
    task_id: str
    status: str                     # submitted, processing, succeed, failed
    message: str = ""
    external_task_id: str = ""
    videos: list[Video] = field(default_factory=list)
    element_id: Optional[Any] = None
    voice_id: Optional[str] = None
    deleted: bool = False           # the element or voice is gone (status "deleted")
    charge: Optional[Charge] = None

    @property
    def finished(self) -> bool:
        return self.status in ("succeed", "failed")


class BadAnswer(ValueError):
    pass


def _status(generation: str, word) -> str:
    return facts()["generations"][generation]["statuses"].get(str(word or "submitted"), "processing")


def _float(v) -> Optional[float]:
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


def parse_task(path: str, data: dict) -> Task:
    """A task from a create or query answer's ``data`` (one entry of ``data[]`` on current)."""
    if path_generation(path) == CURRENT:
        return _current_task(data)
    return _legacy_task(data)


def _legacy_task(data: dict) -> Task:
    if not isinstance(data, dict) or not data.get("task_id"):
        raise BadAnswer("Kling answered without a task (no data.task_id)")
    info = data.get("task_info") or {}
    result = data.get("task_result") or {}
    videos = []
    for v in result.get("videos") or []:
        if isinstance(v, dict) and v.get("url"):
            videos.append(Video(str(v.get("id", "")), str(v["url"]), _float(v.get("duration"))))
    task = Task(str(data["task_id"]), _status(LEGACY, data.get("task_status")),
                str(data.get("task_status_msg") or ""), str(info.get("external_task_id") or ""), videos)
    for e in result.get("elements") or []:
        if isinstance(e, dict) and e.get("element_id", e.get("id")) is not None:
            task.element_id = e.get("element_id", e.get("id"))
            task.deleted = e.get("status") == "deleted"
            break
    for v in result.get("voices") or []:
        if isinstance(v, dict) and v.get("voice_id"):
            task.voice_id = str(v["voice_id"])
            task.deleted = v.get("status") == "deleted"
            break
    units = _float(data.get(facts()["generations"][LEGACY]["billing"]))
    if units is not None:
        task.charge = Charge(units, "units", data.get("final_unit_deduction"))
    return task


def _current_task(data: dict) -> Task:
    if not isinstance(data, dict) or not data.get("id"):
        raise BadAnswer("Kling answered without a task (no data.id)")
    videos = []
    for o in data.get("outputs") or []:
        if isinstance(o, dict) and o.get("type", "video") == "video" and o.get("url"):
            videos.append(Video(str(o.get("id", "")), str(o["url"]), _float(o.get("duration"))))
    task = Task(str(data["id"]), _status(CURRENT, data.get("status")), str(data.get("message") or ""),
                str(data.get("external_id") or ""), videos)
    task.charge = _billing(data.get(facts()["generations"][CURRENT]["billing"]))
    return task


def _billing(items) -> Optional[Charge]:
    """``billing[]``: units (``charge_type: unit``) summed, else cash in its currency."""
    if not isinstance(items, list) or not items:
        return None
    units = cash = 0.0
    currency = None
    seen_units = False
    for b in items:
        if not isinstance(b, dict):
            continue
        amount = _float(b.get("amount"))
        if amount is None:
            continue
        if b.get("charge_type") == "cash":
            cash += amount
            currency = str(b.get("currency") or "cash")
        else:
            units += amount
            seen_units = True
    if seen_units:
        return Charge(units, "units", items)
    if currency is not None:
        return Charge(cash, currency, items)
    return None

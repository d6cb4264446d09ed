"""Estimates and budgets of a render: what the plan says each task costs, in which unit.

**What the runtime reads from plan.json** (the seam with the build's pricing):
every job, element and voice may carry ``"cost": {"units": U, "usd": D,
"credits": C}`` (any of them); a job's ``"credits"`` (today's estimate, in the
plan's ``currency``) stands for ``cost.credits`` when there is no ``cost``. An
element with a ``voice_sample`` may carry ``"voice_cost": {...}`` for the
custom voice made from it. A job without an estimate in the unit of a budget
makes that budget uncheckable (``BudgetUnknown``); an element or voice without
one counts as nothing.

**Budgets** (``--budget``): ``40u`` / ``40 units`` (resource-pack units),
``$5`` / ``5usd`` / ``USD 5`` (US dollars), or a plain number (the plan's
currency, as ``--max-credits``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Optional

UNITS, USD, CREDITS = "units", "usd", "credits"


class BudgetError(ValueError):
    """A budget that cannot be read."""


class BudgetUnknown(Exception):
    """The plan has no estimate in the budget's unit for some job."""


@dataclass(frozen=True)
class Budget:
    amount: float
    unit: str            # units, usd, credits

    def show(self, currency: str = "credits") -> str:
        return fmt(self.amount, self.unit, currency)


_BUDGET = re.compile(r"^\s*(?:(?P<dollar>\$|usd\s*)(?P<a>\d+(?:\.\d+)?)|(?P<b>\d+(?:\.\d+)?)\s*"
                     r"(?P<unit>u|units?|usd|\$|credits?)?)\s*$", re.IGNORECASE)


def parse_budget(text: str) -> Budget:
    m = _BUDGET.match(text or "")
    if not m:
        raise BudgetError(f"{text!r} is not a budget: write units as 40u, US dollars as $5 (or 5usd), "
                          f"or a plain number of credits")
    if m.group("a") is not None:
        return Budget(float(m.group("a")), USD)
    unit = (m.group("unit") or "").lower()
    if unit in ("u", "unit", "units"):
        return Budget(float(m.group("b")), UNITS)
    if unit in ("usd", "$"):
        return Budget(float(m.group("b")), USD)
    return Budget(float(m.group("b")), CREDITS)


def _num(x: float):
    return int(x) if float(x).is_integer() else round(x, 2)


def fmt(amount: float, unit: str, currency: str = "credits") -> str:
    if unit == USD:
        return f"${amount:.2f}"
    if unit == UNITS:
        return f"{_num(amount)} units"
    return f"{_num(amount)} {currency if unit == CREDITS else unit}"


def _cost(item: dict, key: str = "cost") -> dict:
    cost = item.get(key) if isinstance(item, dict) else None
    return cost if isinstance(cost, dict) else {}


def _value(v) -> Optional[float]:
    if isinstance(v, bool):
        return None
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


def estimate(item: dict, unit: str, key: str = "cost") -> Optional[float]:
    """``item``'s estimate in ``unit``, or None when the plan has none."""
    value = _value(_cost(item, key).get(unit))
    if value is None and unit == CREDITS and key == "cost":
        value = _value(item.get("credits"))
    return value


def estimates(item: dict, key: str = "cost") -> tuple[float, Optional[float], Optional[float]]:
    """(credits, units, usd) of an item, for the ledger (credits 0 when unknown)."""
    return (estimate(item, CREDITS, key) or 0.0, estimate(item, UNITS, key), estimate(item, USD, key))


def to_spend(items: list[tuple[str, dict, str]], budget: Budget) -> float:
    """What the items still to send (``(kind, plan item, cost key)``) cost in the budget's unit."""
    total = 0.0
    missing = []
    for kind, item, key in items:
        value = estimate(item, budget.unit, key)
        if value is None:
            if kind == "job":
                missing.append(item.get("id", "?"))
            continue
        total += value
    if missing:
        what = {UNITS: "resource-pack units", USD: "US dollars"}.get(budget.unit, "credits")
        raise BudgetUnknown(f"plan.json has no estimate in {what} for {len(missing)} job"
                            f"{'s' if len(missing) != 1 else ''} (e.g. {missing[0]}): rebuild with a klingc "
                            f"that prices in {what}, or give the budget in credits (--budget N)")
    return total

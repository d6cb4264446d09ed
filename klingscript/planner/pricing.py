"""Prices: the pricing table (``data/pricing.toml`` or ``--pricing FILE``) and what a job costs.

Two tables: ``[units]``, Kling's published API prices (resource-pack units per
second by model, resolution and audio, and US dollars per unit, with the
table's date), and ``[per_second]``, the web app's credits per second (an
estimate: Kling publishes none). ``cost`` gives a job's ``{"units", "usd",
"credits"}`` as plan.json carries it (``runtime/costs.py`` reads it back).
"""

from pathlib import Path


class PricingError(Exception):
    """A pricing file that cannot be read or lacks a rate."""


def load_pricing(path: str | Path | None = None) -> dict:
    from ..resources import data_toml

    if path is None:
        data = data_toml("pricing.toml")
    else:
        import tomllib

        from ..files import read_checked

        try:
            data = tomllib.loads(read_checked(path, "data").decode("utf-8"))
        except UnicodeDecodeError:
            raise PricingError(f"{path}: not UTF-8 text") from None
        except FileNotFoundError:
            raise PricingError(f"{path}: no such pricing file") from None
        except OSError as e:
            raise PricingError(f"{path}: cannot read ({e.strerror or e})") from None
        except tomllib.TOMLDecodeError as e:
            raise PricingError(f"{path}: not a valid TOML file ({e})") from None
    table = data.get("per_second")
    if not isinstance(table, dict) or not table:
        raise PricingError(f"{path or 'pricing.toml'}: needs a [per_second.\"720p\"] table "
                           f"with `silent` and `audio` credits per second")
    for res, rates in table.items():
        for key in ("silent", "audio"):
            value = rates.get(key) if isinstance(rates, dict) else None
            if not isinstance(value, (int, float)) or isinstance(value, bool) or value < 0:
                raise PricingError(f"{path or 'pricing.toml'}: per_second.\"{res}\".{key} must be "
                                   f"a number of credits per second")
    _check_units(data, path)
    return data


def _number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and v >= 0


def _check_units(data: dict, path) -> None:
    units = data.get("units")
    if units is None:
        return
    where = path or "pricing.toml"
    if not isinstance(units, dict) or not _number(units.get("usd_per_unit")):
        raise PricingError(f"{where}: [units] needs `usd_per_unit`, the US dollars of one unit")
    for key in ("custom_voice", "element"):
        if key in units and not _number(units[key]):
            raise PricingError(f"{where}: units.{key} must be a number of units")
    models = units.get("per_second")
    if not isinstance(models, dict):
        raise PricingError(f"{where}: [units] needs [units.per_second.\"<model>\"] tables")
    for model, table in models.items():
        for res, rates in (table.items() if isinstance(table, dict) else [("?", None)]):
            for key in ("silent", "audio"):
                if not _number(rates.get(key) if isinstance(rates, dict) else None):
                    raise PricingError(f"{where}: units.per_second.\"{model}\".\"{res}\".{key} must be "
                                       f"a number of units per second")


def rate(pricing: dict, resolution: str, audio: str) -> float:
    table = pricing["per_second"].get(resolution)
    if table is None:
        raise PricingError(f"the pricing has no rate for {resolution} "
                           f"(it has {', '.join(pricing['per_second'])})")
    return table["audio" if audio == "on" else "silent"]


def units_rate(pricing: dict, model_name: str, resolution: str, audio: str):
    """Kling's units per second for ``model_name`` at ``resolution`` with ``audio`` (on/off), or
    None when the pricing has no such figure."""
    table = ((pricing.get("units") or {}).get("per_second") or {}).get(model_name) or {}
    rates = table.get(resolution)
    return rates["audio" if audio == "on" else "silent"] if rates else None


def _priced(pricing: dict, units, credits) -> dict:
    out = {}
    if units is not None:
        out["units"] = number(round(units, 4))
        out["usd"] = number(round(units * pricing["units"]["usd_per_unit"], 4))
    if credits is not None:
        out["credits"] = number(credits)
    return out


def cost(pricing: dict, model_name: str, resolution: str, audio: str, seconds: int, credits) -> dict:
    """A job's ``{"units", "usd", "credits"}`` (``units`` and ``usd`` when the pricing has them)."""
    rate_ = units_rate(pricing, model_name, resolution, audio)
    return _priced(pricing, None if rate_ is None else rate_ * seconds, credits)


def flat_cost(pricing: dict, what: str) -> dict:
    """The cost of one call that has a flat price (``custom_voice``, ``element``), in units and
    USD; empty when the pricing has none."""
    units = (pricing.get("units") or {}).get(what)
    return _priced(pricing, units, None) if units is not None else {}


def number(x: float):
    """Credits as written in output: whole numbers without a decimal point."""
    if isinstance(x, float) and x.is_integer():
        return int(x)
    return round(x, 4) if isinstance(x, float) else x


def money(figures: dict, currency: str = "credits", estimate: bool = True) -> str:
    """``12 units ($1.68), ~144 credits (estimate)`` of a cost, scene or totals entry of plan.json
    (credits alone, as given, when it has no units)."""
    credits = f"{figures.get('credits', 0)} {currency}"
    if "units" not in figures:
        return credits
    usd = figures.get("usd")
    shown = f"{figures['units']} units" + (f" (${usd:.2f})" if usd is not None else "")
    return shown + (f", ~{credits} (estimate)" if estimate else f", {credits}")

"""Credits: the pricing table (``data/pricing.toml`` or ``--pricing FILE``) and a job's rate."""

from pathlib import Path


class PricingError(Exception):
    """A pricing file that cannot be read or lacks a rate."""


def load_pricing(path: str | Path | None = None) -> dict:
    from ..resources import data_toml

    if path is None:
        data = data_toml("pricing.toml")
    else:
        import tomllib

        try:
            with open(path, "rb") as f:
                data = tomllib.load(f)
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
    return data


def rate(pricing: dict, resolution: str, audio: str) -> float:
    table = pricing["per_second"].get(resolution)
    if table is None:
        raise PricingError(f"the pricing has no rate for {resolution} "
                           f"(it has {', '.join(pricing['per_second'])})")
    return table["audio" if audio == "on" else "silent"]


def number(x: float):
    """Credits as written in output: whole numbers without a decimal point."""
    if isinstance(x, float) and x.is_integer():
        return int(x)
    return round(x, 4) if isinstance(x, float) else x

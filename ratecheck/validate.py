"""Input validation at the public boundary (constructors, CLI): one error type, messages that name
the parameter, its value and the valid range (scikit-learn's habit)."""

from __future__ import annotations

import math
import numbers


class InputError(ValueError):
    """Bad input to a public constructor or to the CLI. The message names the parameter and the
    valid range; the CLI prints it without a traceback and exits with status 2."""


def _is_real(value: object) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def positive(name: str, value: object, *, allow_zero: bool = False, allow_inf: bool = False) -> float:
    """``value`` as a float, checked to be > 0 (or >= 0 with ``allow_zero``) and finite."""
    bound = ">= 0" if allow_zero else "> 0"
    if not _is_real(value) or math.isnan(float(value)):
        raise InputError(f"{name} must be a real number {bound}, got {value!r}")
    v = float(value)
    if (v < 0 or (v == 0 and not allow_zero)) or (math.isinf(v) and not allow_inf):
        raise InputError(f"{name} must be a finite number {bound}, got {value!r}")
    return v


def integer(name: str, value: object, *, low: int | None = None, high: int | None = None) -> int:
    """``value`` as an int, checked to lie in ``[low, high]`` (either end optional)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        if _is_real(value) and float(value).is_integer():
            value = int(value)  # accept 4.0 for 4
        else:
            raise InputError(f"{name} must be an integer{_range_text(low, high)}, got {value!r}")
    v = int(value)
    if (low is not None and v < low) or (high is not None and v > high):
        raise InputError(f"{name} must be an integer{_range_text(low, high)}, got {v}")
    return v


def in_interval(name: str, value: object, low: float, high: float, *, closed: str = "both") -> float:
    """``value`` as a float in the interval from ``low`` to ``high``; ``closed`` is one of
    'both', 'left', 'right', 'neither' and says which ends belong to the interval."""
    lb = "[" if closed in ("both", "left") else "("
    rb = "]" if closed in ("both", "right") else ")"
    text = f"{lb}{low:g}, {high:g}{rb}"
    if not _is_real(value) or math.isnan(float(value)):
        raise InputError(f"{name} must be a real number in {text}, got {value!r}")
    v = float(value)
    ok_low = v >= low if lb == "[" else v > low
    ok_high = v <= high if rb == "]" else v < high
    if not (ok_low and ok_high):
        raise InputError(f"{name} must be in {text}, got {value!r}")
    return v


def _range_text(low: int | None, high: int | None) -> str:
    if low is not None and high is not None:
        return f" in [{low}, {high}]"
    if low is not None:
        return f" >= {low}"
    if high is not None:
        return f" <= {high}"
    return ""


def build(kind: str, name: str, classes: dict[str, type], params: dict[str, object]) -> object:
    """The class called ``name`` in ``classes`` (a registry of compressors, aggregators, ...) built with
    ``params``: an unknown name gets a suggestion, parameters that do not fit the constructor name its own."""
    import difflib
    import inspect

    cls = classes.get(name)
    if cls is None:
        close = difflib.get_close_matches(str(name), list(classes), n=1, cutoff=0.5)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise InputError(f"unknown {kind} {name!r}{hint} (known: {', '.join(sorted(classes))})")
    signature = inspect.signature(cls)
    try:
        signature.bind(**params)
    except TypeError as err:
        raise InputError(f"{name}: {err}; its parameters are {', '.join(signature.parameters)}") from None
    return cls(**params)

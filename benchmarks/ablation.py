"""Verdicts of the check ablations (light: no geodata imports, for the docs renderer too)."""

from __future__ import annotations

from typing import Any


def f1(p: float | None, r: float | None) -> float:
    """The harmonic mean of precision and recall (0 when both are 0 or missing)."""
    a, b = p or 0.0, r or 0.0
    return 0.0 if a + b == 0 else 2 * a * b / (a + b)


def verdicts(result: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Per toggled check: the change it makes when run, and whether that helps.

    Running a check *helps* when it raises the towns' building F1 by at least 0.01 or cuts
    the negative scenes' false findings per hectare by at least 10 %; it *harms* when it
    does the opposite. ``with NAME`` rows are checks off by default (switched on), ``without
    NAME`` rows default ones (switched off): the sign is that of running the check.
    """
    towns = (result.get("towns") or {}).get("pooled") or {}
    neg = (result.get("negatives") or {}).get("pooled") or {}
    names = [n for n in (towns or neg) if n != "default checks"]
    out: dict[str, dict[str, Any]] = {}
    for run_name in names:
        on = run_name.startswith("with ")
        helps = harms = False
        row: dict[str, Any] = {"check": run_name.split(" ", 1)[1],
                               "default": "off" if on else "on"}
        if towns:
            base, alt = towns["default checks"], towns[run_name]
            gain = f1(alt["precision"], alt["recall"]) - f1(base["precision"], base["recall"])
            gain *= 1 if on else -1
            row["towns"] = {k: (base[k], alt[k]) for k in ("precision", "recall",
                                                           "mean_iou_matched", "detected")}
            helps |= gain >= 0.01
            harms |= gain <= -0.01
        if neg:
            a = neg["default checks"]["findings_per_ha"] or 0.0
            b = neg[run_name]["findings_per_ha"] or 0.0
            with_check, without = (b, a) if on else (a, b)
            row["negatives_per_ha"] = (a, b)
            helps |= with_check <= 0.9 * without and without > 0
            harms |= without <= 0.9 * with_check and with_check > 0
        row["verdict"] = ("mixed" if helps and harms else "helps" if helps else
                          "harms" if harms else "no effect measured")
        out[run_name] = row
    return out

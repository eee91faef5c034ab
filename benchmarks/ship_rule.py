"""Whether a candidate model may replace the shipped one: the rule, written before evaluating.

A candidate is judged on sets no model or check was trained or tuned on: the cross-world
benchmark's held-out worlds of both generators (``benchmarks.bench_crossworld``), the held-out
real town and the negative scenes (``benchmarks.bench_real``). It replaces the shipped model
only when (default checks, pooled figures):

- **classic** worlds (the generator the shipped model learned from): no category's precision
  or recall, nor the resolved precision or recall, more than ``SLACK`` lower;
- **village** worlds (the independent generator): no figure lower, and at least two categories
  better (one of precision or recall higher, neither lower);
- the **real town** (tiles of 10 cm or finer): recall and precision not lower;
- the **negative scenes**: no more false findings per hectare.

Rerun on the results files::

    .venv/bin/python -m benchmarks.ship_rule \\
        --shipped benchmarks/results/crossworld.json --candidate CROSSWORLD.json \\
        --real REAL.json --shipped-label shipped --candidate-label mixed

where REAL.json holds both models (``SKYPATROL_BENCH_CARDS``), or ``--real`` twice: the shipped
model's file, then the candidate's. Exit status 0: ship it; 1: keep the shipped model.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

#: How much lower a classic-world figure may be (one task in ~50).
SLACK = 0.02
CATEGORIES = ("illegal_construction", "green_encroachment", "illegal_billboard", "resolved")
TOWN = "nepal-banepa"


def _pooled(crossworld: dict[str, Any], renderer: str) -> dict[str, dict[str, float]]:
    return crossworld["renderers"][renderer]["pooled"]["default checks"]


def _town(real: dict[str, Any]) -> dict[str, float]:
    return real["towns"][TOWN]["gsd_le_10cm"]


def decide(shipped_cw: dict[str, Any], candidate_cw: dict[str, Any],
           shipped_real: dict[str, Any], candidate_real: dict[str, Any],
           slack: float = SLACK) -> tuple[bool, list[str]]:
    """The verdict and every reason against it (none when it ships).

    ``*_real`` are one model's entry of a ``real`` result (``towns`` and ``negatives``).
    """
    against: list[str] = []
    for cat in CATEGORIES:
        old, new = _pooled(shipped_cw, "classic")[cat], _pooled(candidate_cw, "classic")[cat]
        for m in ("precision", "recall"):
            if new[m] < old[m] - slack:
                against.append(f"classic {cat} {m} {old[m]:.2f} -> {new[m]:.2f}")
    better = 0
    for cat in CATEGORIES:
        old, new = _pooled(shipped_cw, "village")[cat], _pooled(candidate_cw, "village")[cat]
        lower = [m for m in ("precision", "recall") if new[m] < old[m]]
        against += [f"village {cat} {m} {old[m]:.2f} -> {new[m]:.2f}" for m in lower]
        if not lower and any(new[m] > old[m] for m in ("precision", "recall")):
            better += 1
    if better < 2:
        against.append(f"village: {better} categories better, 2 needed")
    old_t, new_t = _town(shipped_real), _town(candidate_real)
    for m in ("recall", "precision"):
        if new_t[m] < old_t[m]:
            against.append(f"real town {TOWN} (<= 10 cm) {m} {old_t[m]:.2f} -> {new_t[m]:.2f}")
    old_n = shipped_real["negatives"]["findings_per_ha"]
    new_n = candidate_real["negatives"]["findings_per_ha"]
    if new_n > old_n:
        against.append(f"negative scenes {old_n:.2f} -> {new_n:.2f} findings/ha")
    return not against, against


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.ship_rule",
                                description=__doc__.split("\n\n")[0])
    p.add_argument("--shipped", type=Path, required=True, help="crossworld result, shipped")
    p.add_argument("--candidate", type=Path, required=True, help="crossworld result, candidate")
    p.add_argument("--real", type=Path, action="append", required=True,
                   help="real result holding both models, or given twice: shipped, candidate")
    p.add_argument("--shipped-label", default="shipped")
    p.add_argument("--candidate-label", required=True)
    a = p.parse_args(argv)
    load = lambda path: json.loads(path.read_text(encoding="utf-8"))  # noqa: E731
    reals = [load(r)["models"] for r in a.real]
    try:
        old = reals[0][a.shipped_label]
        new = reals[-1][a.candidate_label]
    except KeyError as e:
        print(f"error: no model labelled {e} in {', '.join(map(str, a.real))}", file=sys.stderr)
        return 2
    ok, why = decide(load(a.shipped), load(a.candidate), old, new)
    print("ship it" if ok else "keep the shipped model:\n  " + "\n  ".join(why))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

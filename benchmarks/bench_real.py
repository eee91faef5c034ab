"""Real imagery: buildings in held-out towns (never trained on) and scenes with no structures.

The data stays outside the repository (docs/real-data.md says how to bring it in):
``SKYPATROL_REAL_DATA`` (default ``data/real``) holds labelled tiles with a SOURCE.json,
``SKYPATROL_NEGATIVES`` (default ``data/negatives``) folders of GeoTIFFs with no structures.
Each model card named in ``SKYPATROL_BENCH_CARDS`` (comma-separated ``LABEL=CARD`` entries;
default the shipped model) is evaluated, so a new model is reported next to the previous one.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from typing import Any

from benchmarks.common import machine


def run() -> dict[str, Any]:
    from models.real import DEFAULT_HOLD_OUT
    from pipeline.real_evaluation import evaluate_negatives, evaluate_towns

    real = Path(os.environ.get("SKYPATROL_REAL_DATA", "data/real"))
    negatives = Path(os.environ.get("SKYPATROL_NEGATIVES", "data/negatives"))
    # "LABEL=CARD" entries, comma-separated (a bare CARD is labelled by its path)
    entries = [c for c in os.environ.get("SKYPATROL_BENCH_CARDS", "").split(",") if c]
    cards: list[tuple[str, str | None]] = [
        (e.partition("=")[0], e.partition("=")[2]) if "=" in e else (e, e) for e in entries
    ] or [("shipped", None)]
    out: dict[str, Any] = {
        "benchmark": "real",
        "date": dt.date.today().isoformat(),
        "held_out_towns": [h.name for h in DEFAULT_HOLD_OUT],
        "note": "towns held out of training and validation, fixed before training; "
                "OpenStreetMap misses some roofs, so precision is a lower bound",
        "goal": "towns <= 10 cm: recall and precision >= 0.85, mean IoU >= 0.7; "
                "negatives <= 0.3 findings/ha",
        "models": {},
        "machine": machine(),
    }
    for name, card in cards:
        res: dict[str, Any] = {"card": card or "models/weights/skypatrol-seg.json"}
        if real.is_dir():
            res["towns"] = evaluate_towns([real], DEFAULT_HOLD_OUT, card)["towns"]
        else:
            res["towns"] = f"skipped: no {real} (see docs/real-data.md)"
        neg = [p for p in sorted(negatives.iterdir()) if p.is_dir()] if negatives.is_dir() else []
        res["negatives"] = (evaluate_negatives(neg, card) if neg
                            else f"skipped: no {negatives} (see docs/real-data.md)")
        out["models"][name] = res
    if not real.is_dir() and not neg:
        out["skipped"] = f"no {real} and no {negatives} (see docs/real-data.md)"
    return out

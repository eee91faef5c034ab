"""Cross-world survey accuracy, and what each named check is worth.

Worlds of two independently written generators (``classic``: ``geodata.synthetic``, the
worlds the shipped model was trained on and the checks tuned against; ``village``:
``geodata.village``, dense urban villages drawn by other code), 300 m at 5 cm, two epochs.
The held-out seeds below were fixed before anything was measured on them and are never used
for training or tuning. For each world the whole survey job runs on both epochs (one case
register, so resolved cases are scored), with the shipped model or ``--model CARD`` (a model
trained on one generator only, for the cross-generator rows); with ``--ablate`` once more with
each named check toggled in turn (a default one switched off, one off by default switched on;
the detections are computed once per epoch and reused: the checks come after detection).

``python -m benchmarks crossworld`` writes ``results/crossworld.json``; pooled task
precision and recall per category (the contract's task matching, ``pipeline.evaluate``),
area found / true, resolved precision and recall.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

#: Held-out worlds, fixed on 2026-12-02 before any run: never trained or tuned on.
HELD_OUT = {"classic": tuple(range(21000, 21006)), "village": tuple(range(22000, 22006))}
SIZE_M = 300.0
CATEGORIES = ("illegal_construction", "green_encroachment", "illegal_billboard")


def detect_once(spec: Any, detection_paths: list[str] | None = None,
                keep: Path | None = None) -> tuple[Any, Any, list[str], list[str]]:
    """A survey's first stages: ``(registry, ingest report, rasters, detection files)``.

    Detects only when ``detection_paths`` is None; new detections are copied to ``keep``
    when given (a survey removes its work folder when done). Images the ingest refuses are
    in the report, not in the rasters.
    """
    from pipeline import survey as sv

    registry = sv.start_checks(spec)
    report = sv.ingest(spec.inputs, registry.crs, spec.ingest, strict=False)
    rasters = [sv.prepare_raster(i, spec.workdir, registry.crs) for i in report.ok]
    if detection_paths is None:
        detection_paths = [sv.detect_image(r, spec.model, registry.crs, spec.workdir)
                           for r in rasters]
        if keep is not None:
            keep.mkdir(parents=True, exist_ok=True)
            detection_paths = [shutil.copy(d, str(keep)) for d in detection_paths]
    return registry, report, rasters, detection_paths


def _survey(spec: Any, detection_paths: list[str] | None, keep: Path,
            light: bool = False) -> list[str]:
    """The survey job of ``pipeline.survey.run_survey``, detecting only when not yet done.

    New detections are copied to ``keep`` (a survey removes its work folder when done).
    ``light``: the register and the task files only (no evidence, report or work orders:
    what the accuracy is scored on, for the ablation runs).
    """
    from models.runtime import Detector
    from pipeline import survey as sv

    registry, report, rasters, paths = detect_once(spec, detection_paths, keep)
    survey_id, date = sv.survey_identity(spec, report)
    cov = sv.coverage(report.ok, rasters, registry.crs)
    detections = sv.combine_detections(paths, registry.crs)
    detections, violations = sv.decide(detections, rasters, registry, date, spec.diff,
                                       Detector(spec.model))
    if not light:
        sv.record_survey(spec, survey_id, date, report, rasters, detections, violations, cov,
                         {})
        return paths
    from pipeline.cases import update_register
    from pipeline.outputs import enrich_tasks, write_resolved, write_task_files

    update = update_register(spec.cases_path, survey_id, date, cov, violations,
                             n_inputs=len(report.items), cfg=spec.match,
                             imagery=[str(r) for r in rasters])
    spec.out.mkdir(parents=True, exist_ok=True)
    write_task_files(spec.out, enrich_tasks(update.tasks[update.tasks.review != "rejected"],
                                            {}), spec.lang)
    write_resolved(spec.out, update.resolved)
    return paths


def check_configs(ablate: bool = True) -> dict[str, Any]:
    """``default checks``, and with ``ablate`` each check toggled: a default one switched off
    (``without NAME``), one off by default switched on (``with NAME``); ``ground_spill``
    needs ``min_ground_contrast`` set as well and is not toggled."""
    from pipeline.checks import CHECKS
    from pipeline.diff import DEFAULT_OFF, DiffConfig

    configs = {"default checks": DiffConfig()}
    if ablate:
        configs |= {(f"with {c}" if c in DEFAULT_OFF else f"without {c}"):
                    DiffConfig(off=DEFAULT_OFF ^ {c}) for c in CHECKS if c != "ground_spill"}
    return configs


def child(renderer: str, seed: int, model: Path | None, ablate: bool) -> None:
    from geodata.synthetic import WorldConfig, synthesize
    from pipeline.evaluate import evaluate_survey
    from pipeline.survey import SurveySpec

    configs = check_configs(ablate)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        world = root / "world"
        res = synthesize(world, WorldConfig(size_m=SIZE_M, seed=seed, renderer=renderer),
                         frames=False)
        dates = json.loads((world / "world.json").read_text(encoding="utf-8"))["survey_dates"]
        cached: dict[int, list[str]] = {}
        out: dict[str, list[dict[str, Any]]] = {}
        for name, cfg in configs.items():
            tag = name.replace(" ", "_")
            epochs = []
            for k, ortho in enumerate(res.orthos, start=1):
                spec = SurveySpec((str(ortho),), res.registry, root / tag / f"s{k}",
                                  cases=root / tag / "cases.gpkg", survey_id=f"e{k}",
                                  survey_date=dt.date.fromisoformat(dates[k - 1]), model=model,
                                  diff=cfg)
                cached[k] = _survey(spec, cached.get(k), root / "detections" / f"e{k}",
                                    light=name != "default checks")
                epochs.append(evaluate_survey(world, k, spec.out))
            out[name] = epochs
    print(json.dumps({"renderer": renderer, "seed": seed, "size_m": SIZE_M, "runs": out}))


def pooled(worlds: list[dict[str, Any]], run: str) -> dict[str, Any]:
    """Per category precision, recall and area ratio over every world and epoch; and per
    category and setting (the truth's ``note``), recall and the found violations' measured
    area over their true area (is a found annex measured whole?)."""
    tot: dict[str, dict[str, float]] = {c: dict.fromkeys(
        ("tasks", "true_tasks", "true", "found", "area", "true_area"), 0.0) for c in CATEGORIES}
    settings: dict[str, dict[str, dict[str, float]]] = {}
    res = dict.fromkeys(("removed", "found", "reported", "false"), 0)
    for w in worlds:
        for e in w["runs"][run]:
            for c in CATEGORIES:
                p = e["per_category"][c]
                t = tot[c]
                t["tasks"] += p["tasks"]
                t["true_tasks"] += p["true_tasks"]
                t["true"] += p["true"]
                t["found"] += p["found"]
                t["area"] += p["area_m2"]
                t["true_area"] += p["true_area_m2"]
                for note, v in p.get("per_setting", {}).items():
                    n = settings.setdefault(c, {}).setdefault(note, dict.fromkeys(
                        ("true", "found", "area", "true_area"), 0.0))
                    n["true"] += v["true"]
                    n["found"] += v["found"]
                    n["area"] += v["area_found_m2"]
                    n["true_area"] += v["true_area_found_m2"]
            if r := e.get("resolved"):
                res["removed"] += r["removed_true"]
                res["found"] += r["found"]
                res["reported"] += r["resolved_reported"]
                res["false"] += r["false_resolutions"]
    out: dict[str, Any] = {}
    for c, t in tot.items():
        out[c] = {
            "precision": round(t["true_tasks"] / t["tasks"], 3) if t["tasks"] else None,
            "recall": round(t["found"] / t["true"], 3) if t["true"] else None,
            "area_ratio": round(t["area"] / t["true_area"], 3) if t["true_area"] else None,
            "tasks": int(t["tasks"]), "true": int(t["true"]),
        }
    out["per_setting"] = {
        c: {note: {"true": int(n["true"]), "found": int(n["found"]),
                   "recall": round(n["found"] / n["true"], 3) if n["true"] else None,
                   "area_ratio_found": round(n["area"] / n["true_area"], 3)
                   if n["true_area"] else None}
            for note, n in sorted(notes.items())}
        for c, notes in settings.items()}
    reported = res["reported"]
    out["resolved"] = {
        "precision": round((reported - res["false"]) / reported, 3) if reported else None,
        "recall": round(res["found"] / res["removed"], 3) if res["removed"] else None,
        "reported": reported, "removed_true": res["removed"],
    }
    return out


#: Worlds of each generator the checks are ablated on (the first of HELD_OUT; the ablation
#: reruns the checks and the diff ten times per epoch).
ABLATE_WORLDS = 3


def summarise(worlds: list[dict[str, Any]], ablated: list[dict[str, Any]]) -> dict[str, Any]:
    """One generator's pooled accuracy (default checks) and its ablation over ``ablated``."""
    out: dict[str, Any] = {"worlds": worlds, "pooled": {"default checks": pooled(worlds,
                                                                            "default checks")}}
    if ablated:
        out["ablation"] = {"seeds": [w["seed"] for w in ablated],
                           "pooled": {r: pooled(ablated, r) for r in ablated[0]["runs"]}}
    return out


def run(model: str | None = None, ablate: bool = True) -> dict[str, Any]:
    from benchmarks.common import machine, run_child

    card = model or os.environ.get("SKYPATROL_CROSSWORLD_MODEL")
    per: dict[str, Any] = {}
    for renderer, seeds in HELD_OUT.items():
        worlds, ablated = [], []
        for n, seed in enumerate(seeds):
            abl = ablate and n < ABLATE_WORLDS
            args = [renderer, str(seed)] + (["--model", card] if card else []) + \
                (["--ablate"] if abl else [])
            worlds.append(run_child("benchmarks.bench_crossworld", *args))
            if abl:
                ablated.append(worlds[-1])
        per[renderer] = summarise(worlds, ablated)
    return {"benchmark": "crossworld", "model": card or "shipped", "size_m": SIZE_M,
            "held_out_seeds": {k: list(v) for k, v in HELD_OUT.items()},
            "machine": machine(), "renderers": per}


if __name__ == "__main__" and "--child" in sys.argv:
    # --child RENDERER SEED [--model CARD] [--ablate]: one world, its JSON on stdout
    args = sys.argv[sys.argv.index("--child") + 1:]
    child(args[0], int(args[1]),
          Path(args[args.index("--model") + 1]) if "--model" in args else None,
          "--ablate" in args)
elif __name__ == "__main__":
    # python -m benchmarks.bench_crossworld [--model CARD] [--no-ablate] [--out FILE]
    argv = sys.argv[1:]
    result = run(argv[argv.index("--model") + 1] if "--model" in argv else None,
                 "--no-ablate" not in argv)
    dest = Path(argv[argv.index("--out") + 1]) if "--out" in argv else \
        Path(__file__).parent / "results" / "crossworld.json"
    dest.write_text(json.dumps(result, indent=1), encoding="utf-8")
    print(json.dumps({r: v["pooled"] for r, v in result["renderers"].items()}, indent=1))

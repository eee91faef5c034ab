"""Write the measured figures into docs/ (``python -m benchmarks.readme``).

Reads the model card's evaluation and ``benchmarks/results/*.json``; replaces the text
between the ``<!-- results:... -->`` markers so it can be re-run after every measurement.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from benchmarks.ablation import f1, verdicts

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"


def _load(name: str) -> dict | None:  # type: ignore[type-arg]
    p = RESULTS / f"{name}.json"
    return json.loads(p.read_text(encoding="utf-8")) if p.exists() else None


def model_section() -> str:
    card = json.loads((ROOT / "models" / "weights" / "skypatrol-seg.json").read_text(
        encoding="utf-8"))
    ev = card.get("metrics", {}).get("evaluation")
    tv = card.get("metrics", {}).get("tile_validation", {})
    ft = card["training"].get("fine_tune")
    tuned = ""
    if ft:
        data = ft.get("dataset", {})
        tuned = (f", then fine-tuned {ft.get('epochs_run', '?')} epochs on "
                 f"{ft.get('device', 'another machine')} with "
                 f"{data.get('stats', {}).get('train_tiles', '?')} tiles of "
                 f"{len(data.get('seeds', []))} other worlds")
    lines = [f"Trained {card['training'].get('train', {}).get('epochs_run', '?')} epochs on "
             f"2 CPU cores{tuned}; tile validation: mask mAP50 "
             f"{tv.get('mask_mAP50', float('nan')):.3f} ({tv.get('note', 'held-out worlds')}). "
             "Evaluation on unseen worlds (`skypatrol evaluate`, seeds 5001–5003, 200 m each):",
             "",
             "| GSD | class | AP50 | recall | median area error |", "|---|---|---|---|---|"]
    if ev:
        for gsd, per in ev["per_gsd"].items():
            for cls, v in per.items():
                err = v["median_area_error"]
                lines.append(f"| {gsd} | {cls} | {v['ap50']} | {v['recall']} | "
                             f"{'-' if err is None else f'{err:.1%}'} |")
        neg = ev["negatives_detections"]
        lines += ["", f"Blank / all-grass / all-road tiles: {neg['blank']} / {neg['grass']} / "
                  f"{neg['road']} detections. Runtime `{ev.get('runtime', '?')}` (the default: "
                  f"`{card['default_runtime']}`). Score threshold {card['score_threshold']}"
                  + "".join(f", {c} {t}" for c, t in card.get("class_score_thresholds",
                                                              {}).items())
                  + "; outlines pulled in by "
                  + (", ".join(f"{c} {v} m" for c, v in card.get("outline_offset_m",
                                                                  {}).items()) or "nothing")
                  + " (the evaluation's median mask overreach)."]
    return "\n".join(lines)


def bench_section() -> str:
    rows = ["| benchmark | result | goal |", "|---|---|---|"]
    s = _load("synth")
    if s:
        rows.append("| `skypatrol synth` 500 m × 500 m at 5 cm, 2 epochs (2 × 100 Mpx) + photos "
                    f"| {s['wall_s']:.0f} s, {s['peak_rss_mb']:.0f} MB peak RSS "
                    "| < 180 s, < 2 GB |")
    g = _load("georef")
    if g:
        rows.append(f"| georeference 100 nadir 20 MP DJI photos | {g['georef_wall_s']:.0f} s "
                    f"({g['s_per_photo']:.2f} s/photo), {g['georef_peak_rss_mb']} MB peak RSS "
                    "| measured |")
    i = _load("infer")
    if i:
        cells = []
        for name, key in (("`.pt`", "pt"), ("ONNX", "onnx"), ("int8 ONNX", "onnx_int8")):
            if f"{key}_ms_per_tile" in i:
                cells.append(f"{name} {i[f'{key}_cpu_ms_per_tile']} ms CPU, "
                             f"{i[f'{key}_batched_ms_per_tile']} ms wall in batches of 8")
        rows.append(f"| inference per {i['imgsz']} px tile | {'; '.join(cells)} → default "
                    f"`{i['faster']}` | the least CPU |")
    d = _load("detect")
    if d:
        k, sa = d["skypatrol"], d.get("sahi", {})
        rows.append(f"| detection, 20000 × 20000 px orthophoto (1 km² at 5 cm) | "
                    f"{k['km2_per_cpu_min']} km²/CPU-min ({k['wall_s']:.0f} s wall), "
                    f"{k['peak_rss_mb']} MB peak RSS, box recall {k['recall_box_iou50']} | "
                    "≥ 1 km²/CPU-min, < 1.5 GB |")
        for key, what, goal in (
                ("survey", "the whole survey job on that orthophoto (ingest: hashed, checked "
                 "for truncation; detection, diff, register, outputs)",
                 "≥ 1 km²/CPU-min, < 1.5 GB"),
                ("survey_dense", "the whole survey job on a findings-dense 1 km² (same "
                 "generator, {violations_per_ha:g} violations/ha: {tasks} tasks, the density "
                 "of an urban village)", "≥ 1.5 km²/CPU-min, ≤ 1.5 GB (#19)")):
            e = d.get(key, {})
            if "km2_per_cpu_min" in e:
                rows.append(f"| {what.format(**e)} | {e['km2_per_cpu_min']} km²/CPU-min "
                            f"({e['wall_s']:.0f} s wall, {e['cpu_s']:.0f} CPU-s), "
                            f"{e['peak_rss_mb']} MB peak RSS; stages {e['stage_timings_s']} "
                            f"| {goal} |")
        if "km2_per_cpu_min" in sa:
            rows.append(f"| SAHI sliced prediction, same image, weights, tile and overlap | "
                        f"{sa['km2_per_cpu_min']} km²/CPU-min ({sa['wall_s']:.0f} s wall), "
                        f"{sa['peak_rss_mb']} MB, box recall {sa['recall_box_iou50']} | "
                        "skypatrol ≥ 2× faster at ≥ recall |")
    c = _load("cluster")
    if c:
        runs = "; ".join(f"{k}: {r['wall_s']:.0f} s wall ({r['km2_per_min_wall']} km²/min)"
                         for k, r in c["runs"].items())
        rows.append(f"| one survey of {c['area_km2']:g} km² at 5 cm cut into {c['tiles']} "
                    f"tiles ({c['overlap_m']:g} m overlap), one process vs Dask workers of "
                    f"one thread on this machine | {runs}; same tasks: {c['same_tasks']} "
                    f"({c['n_tasks']}); 2 workers at {c['two_workers_vs_one_process']:.0%} "
                    f"of one process's throughput; scheduler overhead "
                    f"{c['scheduler_overhead_per_tile_s']} s per tile | {c['goal']} |")
    web = _load("web")
    if web:
        zooms = ", ".join(f"z{z} {v['p95_ms']:.0f}" for z, v in web["per_zoom"].items())
        rows.append(f"| `skypatrol web` map tiles: {web['what']} | warm p50 "
                    f"{web['warm']['p50_ms']:.0f} ms, p95 {web['warm']['p95_ms']:.0f} ms "
                    f"({web['warm']['n']} tiles); first screen p95 {web['cold']['p95_ms']:.0f} ms "
                    f"(each server thread opens its raster once); p95 per zoom (ms): {zooms} "
                    f"| {web['goal']} |")
    v = _load("survey")
    for w in (v or {}).get("worlds", []):
        for e in w["epochs"]:
            cats = "; ".join(
                f"{c}: P {x['precision']} R {x['recall']} area {x['area_m2']:.0f}/"
                f"{x['true_area_m2']:.0f} m²" for c, x in e["per_category"].items())
            res = e.get("resolved")
            extra = (f"; resolved {res['found']}/{res['removed_true']}, "
                     f"{res['false_resolutions']} false") if res else ""
            rows.append(f"| survey accuracy, unseen {w['size_m']:.0f} m world {w['seed']} "
                        f"({w['role']}), epoch {e['epoch']} | {cats}{extra} | "
                        "P, R ≥ 0.9; area ±10 % |")
    for role in ("tuning", "held out"):
        worlds = [w for w in (v or {}).get("worlds", []) if w["role"] == role]
        if worlds:
            rows.append(f"| survey accuracy, all {len(worlds)} {role} worlds | "
                        f"{_survey_tally(worlds)} | all |")
            rows.append(f"| survey accuracy pooled over the {len(worlds)} {role} worlds "
                        f"(both epochs) | {_survey_pooled(worlds)} | P, R ≥ 0.9; area ±10 % |")
    notes = [f"Detection benchmarks: {d['note']}"] if d and d.get("note") else []
    return "\n".join(rows + [""] * bool(notes) + notes)


def _survey_tally(worlds: list[dict[str, Any]]) -> str:
    """How many category-epochs meet each survey goal, and the resolutions, in a few words."""
    cells = [x for w in worlds for e in w["epochs"] for x in e["per_category"].values()]
    res = [e["resolved"] for w in worlds for e in w["epochs"] if e.get("resolved")]
    n = len(cells)
    recall = sum(x["recall"] >= 0.9 for x in cells)
    precision = sum(x["precision"] >= 0.9 for x in cells)
    sized = [x for x in cells if x["true_area_m2"] > 0]
    area = sum(abs(x["area_m2"] / x["true_area_m2"] - 1) <= 0.1 for x in sized)
    return (f"of {n} category-epochs: recall ≥ 0.9 in {recall}, precision ≥ 0.9 in "
            f"{precision}, area within 10 % in {area} of {len(sized)}; removals resolved "
            f"{sum(r['found'] for r in res)}/{sum(r['removed_true'] for r in res)}, "
            f"{sum(r['false_resolutions'] for r in res)} false")


def _survey_pooled(worlds: list[dict[str, Any]]) -> str:
    """Per category, precision, recall and area over all the worlds' tasks together."""
    cats: dict[str, list[dict[str, Any]]] = {}
    for w in worlds:
        for e in w["epochs"]:
            for c, x in e["per_category"].items():
                cats.setdefault(c, []).append(x)
    out = []
    for c, xs in cats.items():
        tasks, true = sum(x["tasks"] for x in xs), sum(x["true"] for x in xs)
        right = sum(round(x["precision"] * x["tasks"]) for x in xs)  # tasks matching a truth
        found = sum(round(x["recall"] * x["true"]) for x in xs)  # truths a task matches
        area, true_area = sum(x["area_m2"] for x in xs), sum(x["true_area_m2"] for x in xs)
        out.append(f"{c}: P {right}/{tasks} = {right / max(tasks, 1):.3f}, R {found}/{true} = "
                   f"{found / max(true, 1):.3f}, area {area:.0f}/{true_area:.0f} m² = "
                   f"{area / max(true_area, 1e-9):.3f}")
    return "; ".join(out)


#: What each model name of the real results files stands for.
_REAL_MODELS = {
    "shipped": "shipped model (synthetic worlds only)",
    "previous model (synthetic only)": "shipped model (synthetic worlds only)",
    "mixed": "candidate 1: both synthetic generators (not shipped)",
    "mixed2": "candidate 2: candidate 1 fine-tuned on more worlds + real tiles of four other "
              "towns (not shipped)",
}


def real_section() -> str:
    """Held-out real town and negative scenes, each model measured on the same day.

    Of the ``real*.json`` results, the newest (then the one with the most models) is shown,
    at the GSDs the goal is set for (<= 10 cm); ``make bench`` writes ``real.json``.
    """
    found = [(json.loads(f.read_text(encoding="utf-8")), f.stem)
             for f in sorted(RESULTS.glob("real*.json"))
             if f.stem != "real-checks"]
    found = [(r, n) for r, n in found if isinstance(r.get("models"), dict)]
    res, name = max(found, key=lambda rn: (rn[0].get("date", ""), len(rn[0]["models"])),
                    default=(None, ""))
    if not res:
        return "Not measured yet: `python -m benchmarks real` (see docs/real-data.md)."
    lines = ["| model | held-out town (<= 10 cm) | buildings | recall | precision | mean IoU "
             "(matched) | false billboards | negative scenes: findings/ha |",
             "|---|---|---|---|---|---|---|---|"]
    for model, m in res["models"].items():
        neg = m.get("negatives")
        negs = (f"{neg['findings_per_ha']:g} ({neg['findings']} in {neg['area_ha']:g} ha)"
                if isinstance(neg, dict) else "-")
        towns = m.get("towns") if isinstance(m.get("towns"), dict) else {}
        for town, t in towns.items():
            v = next((x for k, x in t.items() if k.startswith("gsd_le_")), None)
            if v is None or not v.get("buildings"):
                continue
            lines.append(
                f"| {_REAL_MODELS.get(model, model)} | {town} | {v['buildings']} | "
                f"{f3(v['recall'])} | {f3(v['precision'])} | {f3(v['mean_iou_matched'])} | "
                f"{v['billboard_detections']} | {negs} |")
    mach = res.get("machine", {})
    gsds = sorted({g for m in res["models"].values() if isinstance(m.get("towns"), dict)
                   for t in m["towns"].values() for g in t.get("per_gsd", {})},
                  key=lambda g: float(g.rstrip("cm")))
    lines += ["", f"{res.get('note', '')}. Goal: {res.get('goal', '')}. Measured on "
              f"{mach.get('cores', '?')} cores, {res.get('date', '?')} "
              f"(`benchmarks/results/{name}.json`, per GSD: {', '.join(gsds) or 'none'})."]
    return "\n".join(lines)


_CAT = {"illegal_construction": "construction", "green_encroachment": "green",
        "illegal_billboard": "billboards"}


def _pooled_rows(label: str, pooled: dict[str, Any]) -> list[str]:
    def f(v: Any) -> str:
        return "–" if v is None else f"{v:.2f}"
    res = pooled["resolved"]
    cells = [f"{f(pooled[c]['precision'])} / {f(pooled[c]['recall'])} / "
             f"{f(pooled[c]['area_ratio'])} ({pooled[c]['tasks']} tasks, {pooled[c]['true']} true)"
             for c in _CAT]
    return [f"| {label} | " + " | ".join(cells) + f" | {f(res['precision'])} / "
            f"{f(res['recall'])} ({res['reported']} reported, {res['removed_true']} removed) |"]


def _settings_rows(main: dict[str, Any] | None) -> list[str]:
    """Illegal construction per setting the world drew it in (shipped model): recall, and
    the area measured of the ones found over their true area (measured whole or not)."""
    per = {r: v["pooled"]["default checks"].get("per_setting", {}).get("illegal_construction")
           for r, v in (main or {}).get("renderers", {}).items()}
    per = {r: v for r, v in per.items() if v}
    if not per:
        return []
    out = ["", "Illegal construction by the setting each world drew it in (shipped model, "
           "default checks, both epochs): found / true, and the area measured of the found "
           "ones over their true area beyond the permit. An extension (an annex, an "
           "overbuilt storey) is measured whole when that ratio is near 1:", "",
           "| generator | setting | found / true | area measured / true (found ones) |",
           "|---|---|---|---|"]
    for r, notes in per.items():
        for note, v in notes.items():
            ratio = "–" if v["area_ratio_found"] is None else f"{v['area_ratio_found']:.2f}"
            out.append(f"| {r} | {note} | {v['found']} / {v['true']} | {ratio} |")
    return out


def crossworld_section() -> str:
    """Cross-world accuracy per generator and model, and the check ablation table."""
    runs = [(name, _load(name)) for name in ("crossworld", "crossworld-village-model",
                                             "crossworld-mixed-model",
                                             "crossworld-mixed2-model")]
    runs = [(n, r) for n, r in runs if r]
    if not runs:
        return "(not measured yet: `python -m benchmarks crossworld`)"
    head = ["| model → held-out worlds | construction P / R / area | green P / R / area | "
            "billboards P / R / area | resolved P / R |", "|---|---|---|---|---|"]
    rows: list[str] = []
    for _, r in runs:
        training = r.get("training") or {}
        renderers = training.get("dataset", {}).get("renderers", [])
        real = " and real tiles" if training.get("real") else ""
        model = "shipped model (trained on classic only)" if r["model"] == "shipped" \
            else f"candidate trained on both{real} (not shipped)" if len(renderers) > 1 \
            else "village-only model"
        for renderer, v in r["renderers"].items():
            n = len(v["worlds"])
            rows += _pooled_rows(f"{model} → {renderer} ({n} worlds × 2 epochs)",
                                 v["pooled"]["default checks"])
    out = head + rows
    main = dict(runs).get("crossworld")
    out += _settings_rows(main)
    ablations = {r: v["ablation"] for r, v in (main or {}).get("renderers", {}).items()
                 if "ablation" in v}
    if ablations:
        out += ["", "Each check toggled in turn (shipped model, both epochs of the worlds "
                "named): a default check switched off (\"without\"), one that is off by "
                "default switched on (\"with\"); pooled precision / recall against the "
                "defaults. A check earns its place when running it raises the F1 of some "
                "category (or of the resolved cases) by at least 0.01 and lowers none:", "",
                "| check | " + " | ".join(
                    f"toggled, on {r} ({', '.join(map(str, a['seeds']))})"
                    for r, a in ablations.items())
                + " | verdict |", "|---|" + "---|" * len(ablations) + "---|"]

        for run in next(iter(ablations.values()))["pooled"]:
            if run == "default checks":
                continue
            on = run.startswith("with ")
            cells, helps, harms = [], False, False
            for v in ablations.values():
                base, alt = v["pooled"]["default checks"], v["pooled"][run]
                diffs = []
                for c in [*_CAT, "resolved"]:
                    for k, short in (("precision", "P"), ("recall", "R")):
                        a, b = base[c][k], alt[c][k]
                        if a is not None and b is not None and abs(a - b) >= 0.005:
                            diffs.append(f"{_CAT.get(c, c)} {short} {a:.2f}→{b:.2f}")
                    gain = (f1(alt[c]["precision"], alt[c]["recall"])  # of running it
                            - f1(base[c]["precision"], base[c]["recall"])) * (1 if on else -1)
                    helps |= gain >= 0.01
                    harms |= gain <= -0.01
                cells.append("; ".join(diffs) or "no change")
            verdict = ("mixed" if helps and harms else "helps" if helps else
                       "harms" if harms else "no effect measured")
            verdict += "; on by default" if not on else "; off by default"
            out.append(f"| `{run.split(' ', 1)[1]}` | " + " | ".join(cells) + f" | {verdict} |")
        from pipeline.checks import CHECKS

        ran = {r.split(" ", 1)[1] for r in next(iter(ablations.values()))["pooled"]}
        for name in CHECKS:
            if name not in ran:
                out.append(f"| `{name}` | " + " | ".join(["not ablated"] * len(ablations))
                           + " | off by default (min_ground_contrast 0) |")
    return "\n".join(out)


def real_checks_section() -> str:
    """The check ablation on real towns and negative scenes (``benchmarks.bench_real_checks``)."""
    r = _load("real-checks")
    if not r:
        return "(not measured yet: `python -m benchmarks real-checks`)"
    towns = r.get("towns", {})
    neg = r.get("negatives", {})
    if "pooled" not in towns and "pooled" not in neg:
        return "(not measured: no real data here, see docs/real-data.md)"
    base_t = towns.get("pooled", {}).get("default checks")
    base_n = neg.get("pooled", {}).get("default checks")
    head = f"Shipped model, {r['date']}, {r['machine']['cores']} cores."
    if base_t:
        head += (" Towns: " + ", ".join(f"{t} ({v['tiles']} tiles, {v['gsd_cm'][0]:g} cm)"
                                        for t, v in towns["towns"].items())
                 + f": {base_t['buildings']} OSM buildings, default checks building P / R / "
                 f"IoU {f3(base_t['precision'])} / {f3(base_t['recall'])} / "
                 f"{f3(base_t['mean_iou_matched'])}.")
    if base_n:
        head += (f" Negative scenes: {len(neg['scenes'])} ({neg['area_ha']:g} ha), default "
                 f"checks {base_n['findings_per_ha']:g} findings/ha.")
    out = [head, "",
           "| check | towns: building P / R / IoU, default → toggled | negative scenes: "
           "findings/ha, default → toggled | verdict of running it |", "|---|---|---|---|"]
    for v in verdicts(r).values():
        t = v.get("towns")
        cell_t = "–"
        if t:
            cell_t = (" / ".join(f"{f3(a)}→{f3(b)}" for k, (a, b) in t.items()
                                 if k != "detected")
                      + f" ({t['detected'][0]}→{t['detected'][1]} found)")
        n = v.get("negatives_per_ha")
        cell_n = f"{n[0]:g}→{n[1]:g}" if n else "–"
        toggled = "switched on" if v["default"] == "off" else "switched off"
        out.append(f"| `{v['check']}` ({toggled}) | {cell_t} | {cell_n} | {v['verdict']} |")
    return "\n".join(out)


def f3(v: float | None) -> str:
    """A figure to three decimals, or – when there is none (two would show an IoU of 0.697
    as 0.70, beside a goal of 0.7)."""
    return "–" if v is None else f"{v:.3f}"


def main() -> None:
    """Replace the marked sections of README.md and the docs."""
    for doc, key, body in (("../README.md", "real", real_section()),
                           ("model.md", "model", model_section()),
                           ("benchmarks.md", "bench", bench_section()),
                           ("checks.md", "crossworld", crossworld_section()),
                           ("checks.md", "real-checks", real_checks_section())):
        path = ROOT / "docs" / doc
        text = path.read_text(encoding="utf-8")
        pattern = re.compile(rf"<!-- results:{key} -->.*?<!-- /results:{key} -->", re.S)
        text = pattern.sub(f"<!-- results:{key} -->\n{body}\n<!-- /results:{key} -->", text)
        path.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()

"""Survey accuracy against a synthetic world's truth: tasks, areas and resolved cases."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd
import shapely

from pipeline.diff import areal

CATEGORIES = ("illegal_construction", "green_encroachment", "illegal_billboard")
#: A task matches a true violation at this IoU; billboards match within this distance (m).
MATCH_IOU = 0.3
BILLBOARD_RADIUS_M = 2.0


def iou(a: Any, b: Any) -> float:
    """Intersection over union of two outlines (0 when both are empty)."""
    inter = a.intersection(b).area
    union = a.area + b.area - inter
    return float(inter / union) if union > 0 else 0.0


def _same(task_geom: Any, truth_geom: Any, category: str) -> bool:
    if category == "illegal_billboard":
        return bool(task_geom.distance(truth_geom) <= BILLBOARD_RADIUS_M)
    return iou(task_geom, truth_geom) >= MATCH_IOU


def _pairs(found: gpd.GeoDataFrame, truth: gpd.GeoDataFrame, category: str
           ) -> list[tuple[int, int]]:
    """Matched (task, truth) positions within ``category``'s rows of each frame.

    One-to-one, greedy in task order: each task takes the first unmatched truth it matches.
    """
    f = found[found.category == category].reset_index(drop=True)
    t = truth[truth.category == category].reset_index(drop=True)
    used_t: set[int] = set()
    pairs = []
    for i, g in enumerate(f.geometry):
        for j in t.sindex.query(g.buffer(BILLBOARD_RADIUS_M), predicate="intersects"):
            if int(j) not in used_t and _same(g, t.geometry.iloc[j], category):
                used_t.add(int(j))
                pairs.append((i, int(j)))
                break
    return pairs


def per_setting(found: gpd.GeoDataFrame, truth: gpd.GeoDataFrame, category: str,
                pairs: list[tuple[int, int]]) -> dict[str, dict[str, Any]]:
    """Recall and the measured area of found violations, per setting the world drew them in.

    The setting is the truth's ``note`` (``extension``, ``annex_lower``, ``overhang_storey``,
    ``yard_shed``...). ``area_ratio_found``: the matched tasks' area over their violations'
    true area, found ones only: whether a structure found is measured whole (an annex or an
    overbuilt storey to its true outline beyond the permit), apart from whether it is found.
    A violation reported as two tasks counts only the piece matched to it, so a split one
    reads as measured short.
    """
    t = truth[truth.category == category].reset_index(drop=True)
    if "note" not in t.columns or len(t) == 0:
        return {}
    task_area = found.loc[found.category == category, "area_m2"].to_numpy(float)
    match = {j: i for i, j in pairs}
    out: dict[str, dict[str, Any]] = {}
    for note, rows in t.groupby(t["note"].fillna("").astype(str)):
        hit = [j for j in rows.index if j in match]
        a_found = float(sum(task_area[match[j]] for j in hit))
        a_true = float(t.loc[hit, "violation_area_m2"].sum())
        out[note or "unnamed"] = {
            "true": len(rows), "found": len(hit),
            "recall": round(len(hit) / len(rows), 3),
            "area_found_m2": round(a_found, 1), "true_area_found_m2": round(a_true, 1),
            "area_ratio_found": round(a_found / a_true, 3) if a_true else None,
        }
    return out


def valid(frame: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """``frame`` with invalid outlines repaired to their polygons.

    A task's outline read back from GeoJSON (WGS84, rounded to 7 decimals, ~1 cm) and
    projected again can touch itself; GEOS refuses to intersect such an outline, and the
    scoring would stop at one task.
    """
    bad = (~frame.geometry.is_valid & frame.geometry.notna()).to_numpy()
    if not bad.any():
        return frame
    out = frame.copy()
    fixed = [areal(shapely.make_valid(g)) for g in out.geometry[bad]]
    out.loc[bad, out.geometry.name] = gpd.GeoSeries(fixed, index=out.index[bad], crs=out.crs)
    return out


def _read_fc(path: Path, crs: Any) -> gpd.GeoDataFrame:
    df = gpd.read_file(path)
    if len(df) == 0:
        return gpd.GeoDataFrame(pd.DataFrame({"category": [], "area_m2": []}),
                                geometry=gpd.GeoSeries([], crs=crs), crs=crs)
    return valid(df.to_crs(crs))


def evaluate_survey(world: Path | str, epoch: int, survey_out: Path | str) -> dict[str, Any]:
    """Precision, recall and area totals per category of one survey against its truth.

    For epochs after the first, also how many removed violations ``resolved.geojson`` found
    and how many of its resolutions are false.
    """
    root, out = Path(world), Path(survey_out)
    truth = valid(gpd.read_file(root / f"epoch{epoch}" / "truth.gpkg", layer="violations"))
    crs = truth.crs
    tasks = _read_fc(out / "tasks.geojson", crs)
    per: dict[str, Any] = {}
    for cat in CATEGORIES:
        n_tasks = int((tasks.category == cat).sum())
        n_true = int((truth.category == cat).sum())
        pairs = _pairs(tasks, truth, cat)  # one-to-one: as many tasks as truths matched
        area_found = float(tasks.loc[tasks.category == cat, "area_m2"].sum())
        area_true = float(truth.loc[truth.category == cat, "violation_area_m2"].sum())
        per[cat] = {
            "tasks": n_tasks, "true": n_true, "true_tasks": len(pairs), "found": len(pairs),
            "precision": round(len(pairs) / n_tasks, 3) if n_tasks else None,
            "recall": round(len(pairs) / n_true, 3) if n_true else None,
            "area_m2": round(area_found, 1), "true_area_m2": round(area_true, 1),
            "area_ratio": round(area_found / area_true, 3) if area_true else None,
            "per_setting": per_setting(tasks, truth, cat, pairs),
        }
    result: dict[str, Any] = {"epoch": epoch, "per_category": per}
    if epoch > 1:
        before = valid(gpd.read_file(root / f"epoch{epoch - 1}" / "truth.gpkg",
                                     layer="violations"))
        removed = before[~before.site_id.isin(truth.site_id)]
        resolved = _read_fc(out / "resolved.geojson", crs)
        found_removed = 0
        for g, cat in zip(removed.geometry, removed.category):
            if any(_same(r, g, cat) for r, c in zip(resolved.geometry, resolved.category)
                   if c == cat):
                found_removed += 1
        false_res = 0
        for r, c in zip(resolved.geometry, resolved.category):
            still = truth[truth.category == c]
            if any(_same(r, g, c) for g in still.geometry):
                false_res += 1
        result["resolved"] = {
            "removed_true": len(removed), "found": found_removed,
            "recall": round(found_removed / len(removed), 3) if len(removed) else None,
            "resolved_reported": len(resolved), "false_resolutions": false_res,
        }
    return result

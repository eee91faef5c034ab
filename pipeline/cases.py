"""The case register: every violation across surveys, with stable task ids and its lifecycle.

The register is one GeoPackage. Its truth is two layers, ``observations`` (what each survey
saw, with the task id it was matched to) and ``surveys`` (when each survey flew and what ground
its imagery covered); the ``cases`` layer is derived from them on every write. Re-running a
survey replaces that survey's observations, so it never duplicates a case. Writes go to a
temporary file that replaces the register atomically: a crash leaves the register as it was.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import math
import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely
from filelock import FileLock, Timeout
from pyproj import CRS
from shapely.geometry.base import BaseGeometry

from geodata.errors import InputError
from pipeline import register_pg, reviews
from pipeline.register_pg import is_database, register_ref
from pipeline.reviews import REVIEW_COLUMNS, Review, check_review, review_row

#: A case register: a GeoPackage path, or a ``postgresql://`` URL (:mod:`pipeline.register_pg`).
Register = Path | str

OBS_COLUMNS = ["task_id", "survey_id", "survey_date", "category", "object_class", "area_m2",
               "confidence", "parcel_id", "district", "squad", "source"]
#: Observation columns a register written before them lacks (read as empty).
OBS_OPTIONAL = ["checks"]
SURVEY_COLUMNS = ["survey_id", "survey_date", "processed_at", "n_inputs", "imagery"]
CASE_COLUMNS = ["task_id", "category", "object_class", "status", "first_seen", "last_seen",
                "surveys", "n_surveys", "area_m2", "first_area_m2", "max_area_m2",
                "resolved_on", "resolved_by", "parcel_id", "district", "squad",
                "squad_result", "squad_result_date", "squad_note", "review", "reviewed_by",
                "reviewed_at"]
RESULT_COLUMNS = ["task_id", "result", "result_date", "note", "imported_at", "source", "photo"]
log = logging.getLogger(__name__)

#: The layers a case register holds; a GeoPackage with any other layer is not a register.
REGISTER_LAYERS = frozenset({"observations", "surveys", "cases", "squad_results", "reviews"})
#: Tables GIS programs add to a GeoPackage they open (QGIS saves layer styles there).
AUXILIARY_TABLES = frozenset({"layer_styles"})
#: How long a survey waits for other surveys' holds on the register, seconds (each holds it
#: while it matches its cases and writes its outputs: seconds to a few minutes).
LOCK_WAIT_S = 3600.0
CATEGORY_WEIGHT = {"green_encroachment": 3.0, "illegal_construction": 2.5,
                   "illegal_billboard": 1.5}


@dataclass(frozen=True)
class MatchConfig:
    """When a violation is the same site as an open case.

    Attributes:
        min_iou: intersection over union that makes two footprints one site.
        min_ios: intersection over the smaller footprint (an extension that grew).
        point_radius_m: billboards and small sites match within this centroid distance.
        coverage_share: a case counts as re-surveyed when this share of it was imaged.
        proximity_m: open cases within this distance raise a task's priority.

    """

    min_iou: float = 0.2
    min_ios: float = 0.5
    point_radius_m: float = 3.0
    coverage_share: float = 0.9
    proximity_m: float = 50.0


@dataclass(frozen=True)
class CaseUpdate:
    """What one survey did to the register."""

    tasks: gpd.GeoDataFrame  # this survey's violations with task ids, status, first/last seen
    resolved: gpd.GeoDataFrame  # cases this survey confirmed gone
    cases: gpd.GeoDataFrame  # every case after the update
    surveys: gpd.GeoDataFrame  # every survey after the update (dates, imagery, coverage)


def _read(path: Path, layer: str, columns: list[str], crs: CRS) -> gpd.GeoDataFrame:
    if path.exists() and layer in {n for n, _ in pyogrio.list_layers(path)}:
        df = gpd.read_file(path, layer=layer, engine="pyogrio")
        if df.crs is not None and CRS.from_user_input(df.crs) != crs:
            df = df.to_crs(crs)
        return df
    return gpd.GeoDataFrame(pd.DataFrame({c: [] for c in columns}),
                            geometry=gpd.GeoSeries([], crs=crs), crs=crs)


def check_register(path: Path | str) -> None:
    """Refuse a file that is not a case register before anything is written to it.

    A new path is fine. An existing one must be a readable GeoPackage holding only the
    register's layers: a parcel registry (or any other GeoPackage) given as ``--cases``
    would otherwise be replaced by the register and its layers lost.

    Raises:
        InputError: unreadable, or holding layers that are not the register's.

    """
    if is_database(path):
        register_pg.check(str(path))
        return
    p = Path(path)
    if not p.exists():
        return  # a new register: made with its folder on the first write
    if p.is_dir():
        raise InputError(f"{p}: is a folder; the case register is a GeoPackage file")
    if p.stat().st_size == 0:
        raise InputError(f"{p}: the case register is an empty file (delete it to start anew)")
    try:
        layers = {n for n, _ in pyogrio.list_layers(p)}
    except Exception as exc:  # pyogrio raises DataSourceError and plain errors alike
        raise InputError(f"{p}: not a readable GeoPackage case register ({exc})") from exc
    foreign = sorted(layers - REGISTER_LAYERS - AUXILIARY_TABLES)
    if foreign:
        raise InputError(
            f"{p}: holds layers that are not a case register's ({', '.join(foreign)}); "
            "is it the parcel registry? Give --cases a register of its own")
    for layer, needed in (("observations", OBS_COLUMNS), ("surveys", SURVEY_COLUMNS)):
        if layer not in layers:
            continue
        try:
            have = set(pyogrio.read_info(p, layer=layer)["fields"])
        except Exception as exc:  # noqa: BLE001 - a damaged layer is the file's problem
            raise InputError(f"{p}: layer '{layer}' cannot be read ({exc})") from exc
        missing = [c for c in needed if c not in have]
        if missing:
            raise InputError(f"{p}: layer '{layer}' lacks column(s) {', '.join(missing)}; "
                             "not a skypatrol case register (or a damaged one)")


@contextmanager
def register_lock(path: Path | str, holder: str, wait_s: float = LOCK_WAIT_S,
                  notify: Callable[[str], None] | None = None) -> Iterator[None]:
    """Hold the register for one read-modify-write; other writers wait for it.

    The lock is a ``<register>.lock`` file beside the register (``filelock``, so a crashed
    holder's lock is released with its process); who holds it is written to
    ``<register>.lock.holder`` so a waiting survey can say whom it waits for.

    Raises:
        InputError: the register stayed locked for ``wait_s`` seconds.

    """
    if is_database(path):
        with register_pg.lock(str(path), holder, wait_s, notify):
            yield
        return
    p = Path(path).resolve()
    p.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(p) + ".lock")
    who = Path(str(p) + ".lock.holder")
    try:
        lock.acquire(timeout=0.2)
    except Timeout:
        held_by = who.read_text(encoding="utf-8").strip() if who.exists() else "another process"
        if notify is not None:
            notify(f"waiting for the register {p} held by {held_by}")
        try:
            lock.acquire(timeout=wait_s)
        except Timeout:
            raise InputError(f"{p}: the case register is still held by {held_by} after "
                             f"{wait_s:.0f} s; try again when it is done") from None
    try:
        who.write_text(holder + "\n", encoding="utf-8")
        yield
    finally:
        who.unlink(missing_ok=True)
        lock.release()


def read_register(path: Path | str, crs: CRS | str) -> dict[str, gpd.GeoDataFrame]:
    """The register's layers (empty frames for a new register)."""
    if is_database(path):
        return register_pg.read(str(path), crs)
    check_register(path)
    p, c = Path(path), CRS.from_user_input(crs)
    return {
        "observations": _read(p, "observations", OBS_COLUMNS, c),
        "surveys": _read(p, "surveys", SURVEY_COLUMNS, c),
        "cases": _read(p, "cases", CASE_COLUMNS, c),
        "squad_results": _read_table(p, "squad_results", RESULT_COLUMNS),
        "reviews": _read(p, "reviews", REVIEW_COLUMNS, c),
    }


def _read_table(path: Path, layer: str, columns: list[str]) -> pd.DataFrame:
    if path.exists() and layer in {n for n, _ in pyogrio.list_layers(path)}:
        return pyogrio.read_dataframe(path, layer=layer, read_geometry=False)
    return pd.DataFrame({c: pd.Series(dtype=str) for c in columns})


def task_id_for(survey_id: str, category: str, geom: BaseGeometry) -> str:
    """A deterministic id for a new case: the same survey and site give the same id."""
    c = geom.representative_point()
    key = f"{survey_id}|{category}|{c.x:.0f}|{c.y:.0f}"
    return "SP-" + hashlib.sha1(key.encode()).hexdigest()[:10].upper()


def _same_site(a: BaseGeometry, b: BaseGeometry, cfg: MatchConfig) -> float:
    """A match score in [0, 1+]; 0 when the two footprints are not the same site."""
    inter = a.intersection(b).area if a.intersects(b) else 0.0
    union = a.area + b.area - inter
    iou = inter / union if union > 0 else 0.0
    ios = inter / max(1e-9, min(a.area, b.area))
    if iou >= cfg.min_iou or ios >= cfg.min_ios:
        return iou + 0.5 * ios
    d = a.centroid.distance(b.centroid)
    if d <= cfg.point_radius_m:
        return 0.1 * (1 - d / cfg.point_radius_m)
    return 0.0


def derive_cases(obs: gpd.GeoDataFrame, surveys: gpd.GeoDataFrame, crs: CRS,
                 cfg: MatchConfig, results: pd.DataFrame | None = None,
                 review_log: pd.DataFrame | None = None) -> gpd.GeoDataFrame:
    """Cases from observations and survey coverages (open until a later survey sees it gone).

    A squad's reported result is shown beside the case but never closes it: only a later
    survey that no longer sees the site does. Analysts' reviews (``review_log``) are folded
    in as :mod:`pipeline.reviews` says: verdicts, corrected outlines and classes, added sites.
    """
    state = reviews.fold(review_log)
    latest: dict[str, Any] = {}
    if results is not None and len(results):
        for r in results.sort_values(["result_date", "imported_at"]).itertuples():
            latest[str(r.task_id)] = r
    added = reviews.added_cases(state, set(obs.task_id),
                                dict(zip(surveys.survey_id, surveys.survey_date)))
    if len(obs) == 0 and not added:
        return gpd.GeoDataFrame(pd.DataFrame({c: [] for c in CASE_COLUMNS}),
                                geometry=gpd.GeoSeries([], crs=crs), crs=crs)
    rows = []
    o = obs.sort_values(["survey_date", "survey_id"], kind="stable")
    g = o.groupby("task_id", sort=True)
    last, first = g.tail(1).set_index("task_id"), g.head(1).set_index("task_id")
    ids = sorted(last.index)
    last, first = last.loc[ids], first.loc[ids]
    seen_in = g.survey_id.agg(",".join)
    resolved = _resolutions(last, surveys, cfg, [
        (state.get(str(tid)) or {}).get("review") == "rejected" for tid in ids])
    for (task_id, r), (on, by), first_area, first_seen, max_area, n, seen in zip(
            last.iterrows(), resolved, first.area_m2, g.survey_date.min(), g.area_m2.max(),
            g.size(), seen_in):
        rows.append({
            "task_id": task_id, "category": r.category, "object_class": r.object_class,
            "status": "resolved" if on else "open", "first_seen": first_seen,
            "last_seen": r.survey_date, "surveys": seen,
            "n_surveys": int(n), "area_m2": float(r.area_m2),
            "first_area_m2": float(first_area), "max_area_m2": float(max_area),
            "resolved_on": on, "resolved_by": by,
            "parcel_id": r.parcel_id, "district": r.district, "squad": r.squad,
            "squad_result": getattr(latest.get(task_id), "result", None),
            "squad_result_date": getattr(latest.get(task_id), "result_date", None),
            "squad_note": getattr(latest.get(task_id), "note", None),
            "geometry": r.geometry,
        })
        reviews.apply_to_case(rows[-1], state.get(str(task_id)), str(r.survey_id))
    for row in added:
        r = latest.get(row["task_id"])
        rows.append({**row, "squad_result": getattr(r, "result", None),
                     "squad_result_date": getattr(r, "result_date", None),
                     "squad_note": getattr(r, "note", None)})
    return gpd.GeoDataFrame(pd.DataFrame(rows), geometry="geometry", crs=crs)


def imaged(geoms: np.ndarray, coverage: BaseGeometry | None, share: float,
           areas: np.ndarray | None = None) -> np.ndarray:
    """Which ``geoms`` a survey's ``coverage`` imaged, at least ``share`` of each (vectorised).

    ``areas``: the geometries' areas, when the caller has them already.
    """
    out = np.zeros(len(geoms), bool)
    if coverage is None or coverage.is_empty or not len(geoms):
        return out
    shapely.prepare(coverage)
    out[:] = shapely.covers(coverage, geoms)  # wholly imaged: no intersection needed
    part = ~out
    if part.any():
        a = shapely.area(geoms[part]) if areas is None else areas[part]
        out[part] = shapely.area(shapely.intersection(geoms[part], coverage)) >= share * a
    return out


def _resolutions(last: gpd.GeoDataFrame, surveys: gpd.GeoDataFrame, cfg: MatchConfig,
                 rejected: Sequence[bool]) -> list[tuple[str | None, str | None]]:
    """``(resolved_on, resolved_by)`` of each case (its latest observation's row in ``last``).

    A case is resolved by the first survey after its last sighting that imaged at least
    ``coverage_share`` of it (and did not find it); a rejected finding is never resolved.
    One vectorised pass per survey over the cases still open.
    """
    geoms = last.geometry.to_numpy()
    areas = shapely.area(geoms)
    dates = last.survey_date.astype(str).to_numpy()
    open_ = ~np.asarray(rejected, bool)
    out: list[tuple[str | None, str | None]] = [(None, None)] * len(last)
    for s in surveys.sort_values(["survey_date", "survey_id"]).itertuples():
        cov = s.geometry
        if pd.isna(s.survey_date) or cov is None or cov.is_empty:
            continue  # a survey with no date or no imaged ground resolves nothing
        at = np.flatnonzero(open_ & (dates < str(s.survey_date)))
        if not len(at):
            continue
        gone = at[imaged(geoms[at], cov, cfg.coverage_share, areas[at])]
        for i in gone:
            out[int(i)] = (s.survey_date, s.survey_id)
        open_[gone] = False
    return out


def _gone_between(geom: BaseGeometry, start: str, end: str, surveys: gpd.GeoDataFrame,
                  cfg: MatchConfig) -> bool:
    """Whether a survey dated after ``start`` and before ``end`` imaged the site.

    The case is first seen at ``end``: such a survey saw nothing there.
    """
    if end <= start or not len(surveys):
        return False
    between = surveys[(surveys.survey_date > start) & (surveys.survey_date < end)]
    return any(imaged(np.array([geom]), cov, cfg.coverage_share)[0]
               for cov in between.geometry)


def _write_atomic(path: Register, layers: dict[str, Any]) -> None:
    """Write all layers to a temporary file, then replace the register with it.

    A symlinked register is written through its link (the shared target is updated, the
    link stays), and the file keeps its permission bits. A database register is replaced
    in one transaction.
    """
    if is_database(path):
        register_pg.write(str(path), layers)
        return
    path = Path(path)
    target = path.resolve()
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp.gpkg")
    tmp.unlink(missing_ok=True)
    try:
        for name, df in layers.items():
            if name == "reviews":  # rows without outlines beside rows with
                pyogrio.write_dataframe(df, tmp, layer=name, driver="GPKG",
                                        geometry_type="Unknown")
            elif isinstance(df, gpd.GeoDataFrame):
                df.to_file(tmp, layer=name, driver="GPKG", engine="pyogrio")
            elif len(df):
                pyogrio.write_dataframe(df, tmp, layer=name, driver="GPKG")
        if target.exists():
            os.chmod(tmp, target.stat().st_mode & 0o7777)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def assign_priority(tasks: gpd.GeoDataFrame, open_cases: gpd.GeoDataFrame,
                    cfg: MatchConfig) -> gpd.GeoDataFrame:
    """Priority 1 (most urgent) to 4, with the reason an analyst can read.

    The score adds the category's weight, the area (log scale), one point for a new site
    and half a point per other open case within ``proximity_m`` (clusters of violations).
    """
    out = tasks.copy()
    scores, reasons = [], []
    # open cases within proximity_m of each task (itself among them): one index query
    within = np.zeros(len(out), int)
    if len(open_cases) and len(out):
        at, _ = open_cases.sindex.query(out.geometry.to_numpy(), predicate="dwithin",
                                        distance=cfg.proximity_m)
        within = np.bincount(at, minlength=len(out))
    for row, n_within in zip(out.itertuples(), within):
        w = CATEGORY_WEIGHT.get(row.category, 1.0)
        size = math.log10(max(1.0, row.area_m2))
        new = 1.0 if row.status == "new" else 0.0
        near = max(0, int(n_within) - 1)
        score = w + size + new + 0.5 * min(near, 4)
        scores.append(score)
        reasons.append(f"{row.category}; {row.area_m2:.0f} m²; {row.status}; "
                       f"{near} open case(s) within {cfg.proximity_m:.0f} m")
    out["priority_score"] = [round(s, 2) for s in scores]
    out["priority"] = [1 if s >= 6 else 2 if s >= 5 else 3 if s >= 4 else 4 for s in scores]
    out["priority_reason"] = reasons
    return out


def update_register(
    path: Path | str,
    survey_id: str,
    survey_date: dt.date,
    coverage: BaseGeometry,
    violations: gpd.GeoDataFrame,
    n_inputs: int = 0,
    cfg: MatchConfig | None = None,
    imagery: Sequence[str] = (),
    before_commit: Callable[[CaseUpdate], Any] | None = None,
) -> CaseUpdate:
    """Record one survey's violations in the register and return its tasks.

    ``before_commit`` (the survey's outputs) runs with the update before the register is
    written, under the same lock: if it fails, the register is left as it was, so a survey is
    never recorded without its work orders.

    Each violation is matched to an open case of the same category (one-to-one, best match
    first); unmatched ones open new cases. Cases open before this survey, covered by its
    imagery and not seen again, are resolved by it. Running the same survey again replaces
    its own observations, so the register does not change the second time. The whole
    read-modify-write holds the register's lock: concurrent surveys wait, nothing is lost.
    """
    with register_lock(path, f"survey {survey_id}", notify=log.warning):
        return _update_register(register_ref(path), survey_id, survey_date, coverage, violations,
                                n_inputs, cfg or MatchConfig(), imagery, before_commit)


def _update_register(p: Register, survey_id: str, survey_date: dt.date, coverage: BaseGeometry,
                     violations: gpd.GeoDataFrame, n_inputs: int, cfg: MatchConfig,
                     imagery: Sequence[str],
                     before_commit: Callable[[CaseUpdate], Any] | None) -> CaseUpdate:
    crs = CRS.from_user_input(violations.crs)
    reg = read_register(p, crs)
    date_s = survey_date.isoformat()
    obs = reg["observations"]
    obs = obs[obs.survey_id != survey_id]
    surveys = reg["surveys"]
    surveys = surveys[surveys.survey_id != survey_id]
    before = derive_cases(obs, surveys, crs, cfg, reg["squad_results"], reg["reviews"])
    # the cases a site seen on this date can be: open then (not resolved on or before it).
    # That includes cases first seen by a later survey: surveys may be processed out of date
    # order (a backfill, or concurrent runs), and a site seen later is still this site.
    open_before = before[(before.status == "open") | (before.resolved_on > date_s)] \
        if len(before) else before
    if len(open_before):  # ...but not one a survey between them saw gone (a rebuilt site)
        keep = [not _gone_between(c.geometry, date_s, c.first_seen, surveys, cfg)
                for c in open_before.itertuples()]
        open_before = open_before[keep]

    pairs = []
    for i, v in enumerate(violations.itertuples()):
        if len(open_before) == 0:
            break
        cands = open_before[open_before.get("match_category", open_before.category)
                            .fillna(open_before.category) == v.category]
        for c in cands.itertuples():
            s = _same_site(v.geometry, c.geometry, cfg)
            if s > 0:
                pairs.append((s, i, c.task_id))
    pairs.sort(key=lambda t: -t[0])
    assigned: dict[int, str] = {}
    used: set[str] = set()
    for _, i, tid in pairs:
        if i not in assigned and tid not in used:
            assigned[i] = tid
            used.add(tid)
    task_ids: list[str] = []
    for i, v in enumerate(violations.itertuples()):
        tid = assigned.get(i) or task_id_for(survey_id, v.category, v.geometry)
        k = 2
        while tid in task_ids:  # two sites hashed alike in one survey
            tid = f"{tid.split('~')[0]}~{k}"
            k += 1
        task_ids.append(tid)
    new_obs = violations.copy()
    new_obs["task_id"] = task_ids
    new_obs["survey_id"] = survey_id
    new_obs["survey_date"] = date_s
    new_obs = new_obs[[*OBS_COLUMNS, *(c for c in OBS_OPTIONAL if c in new_obs), "geometry"]]
    all_obs = pd.concat([obs, new_obs], ignore_index=True) if len(obs) else new_obs
    all_obs = gpd.GeoDataFrame(all_obs, geometry="geometry", crs=crs)
    survey_row = gpd.GeoDataFrame(
        pd.DataFrame({"survey_id": [survey_id], "survey_date": [date_s],
                      "processed_at": [dt.datetime.now(dt.UTC).isoformat(timespec="seconds")],
                      "n_inputs": [n_inputs], "imagery": [";".join(imagery)]}),
        geometry=gpd.GeoSeries([shapely.force_2d(coverage)], crs=crs), crs=crs)
    all_surveys = pd.concat([surveys, survey_row], ignore_index=True) if len(surveys) else \
        survey_row
    all_surveys = gpd.GeoDataFrame(all_surveys, geometry="geometry", crs=crs)
    cases = derive_cases(all_obs, all_surveys, crs, cfg, reg["squad_results"], reg["reviews"])
    info = cases.set_index("task_id")
    tasks = violations.copy()
    tasks["task_id"] = task_ids
    observed = set(all_obs.task_id)
    drawn_on = dict(zip(all_surveys.survey_id, all_surveys.survey_date))

    def added_imaged(tid: str, s: dict[str, Any]) -> bool:  # an added site this survey imaged
        drawn = drawn_on.get(str(s["geometry_survey"]))
        return (tid not in observed and drawn is not None and drawn < date_s
                and bool(imaged(np.array([s["geometry"]]), coverage, cfg.coverage_share)[0]))

    tasks = reviews.apply_to_tasks(tasks, reviews.fold(reg["reviews"]), survey_id,
                                   added_imaged)
    ids = list(tasks.task_id)
    tasks["first_seen"] = [info.at[t, "first_seen"] for t in ids]
    tasks["last_seen"] = date_s
    tasks["status"] = ["new" if info.at[t, "first_seen"] == date_s else "persisting"
                       for t in ids]
    tasks["survey_id"] = survey_id
    open_now = cases[(cases.status == "open") & (cases.review.fillna("") != "rejected")]
    tasks = assign_priority(tasks, open_now, cfg)
    resolved = cases[(cases.status == "resolved") & (cases.resolved_by == survey_id)]
    update = CaseUpdate(tasks.reset_index(drop=True), resolved.reset_index(drop=True), cases,
                        all_surveys)
    if before_commit is not None:
        before_commit(update)
    _write_atomic(p, {"observations": all_obs, "surveys": all_surveys, "cases": cases,
                      "squad_results": reg["squad_results"], "reviews": reg["reviews"]})
    return update


def import_squad_results(path: Path | str, sheets: Path | str | Sequence[Path | str],
                         cfg: MatchConfig | None = None) -> int:
    """Record the results squads filled into their returned ``tasks.xlsx`` / ``tasks.csv``.

    Rows need ``task_id`` and ``result`` (``rectified``/``disputed`` or 已整改/有异议),
    optionally ``result_date`` (YYYY-MM-DD) and ``result_note``; rows without a result are
    skipped. All sheets are read and checked first: any problem in any of them records
    nothing, and every problem is reported. A result already recorded (the same sheet
    imported twice) is not recorded again. Returns how many results were recorded.

    Raises:
        InputError: every missing column, unknown task id, result or date, with its row.

    """
    from pipeline.results_sheet import read_results

    p = register_ref(path)
    if isinstance(p, Path) and not p.exists():
        raise InputError(f"{p}: case register not found")
    check_register(p)
    paths = [Path(sheets)] if isinstance(sheets, str | Path) else [Path(s) for s in sheets]
    rows, problems = [], []
    for s in paths:
        found, bad = read_results(s)
        rows += found
        problems += bad
    crs = register_crs(p) or "EPSG:4326"  # an empty register has no cases to match
    with register_lock(p, f"import of {', '.join(s.name for s in paths)}", notify=log.warning):
        reg = read_register(p, crs)
        known = set(reg["cases"].task_id)
        problems += [f"{r.source}: row {r.row}: unknown task_id '{r.task_id}'"
                     for r in rows if r.task_id not in known]
        if problems:
            raise InputError(f"{len(problems)} problem(s); nothing was recorded:\n"
                             + "\n".join(f"  - {m}" for m in problems))
        return _record_results(p, reg, rows, crs, cfg or MatchConfig())


def copy_register(source: Register, target: Register) -> dict[str, int]:
    """Copy every layer of a register into another (an empty one); returns row counts.

    Raises:
        InputError: the source is missing or empty, or the target already holds surveys.

    """
    src, dst = register_ref(source), register_ref(target)
    if isinstance(src, Path) and not src.exists():
        raise InputError(f"{src}: case register not found")
    crs = register_crs(src)
    if crs is None:
        raise InputError(f"{source}: the register holds no cases to copy")
    layers = read_register(src, crs)
    with register_lock(dst, f"copy from {src}", notify=log.warning):
        check_register(dst)
        if len(read_register(dst, crs)["surveys"]):
            raise InputError(f"{target}: already holds surveys; copy into an empty register")
        _write_atomic(dst, layers)
    return {k: len(v) for k, v in layers.items()}


def record_review(path: Register, review: Review, wait_s: float = 60.0) -> dict[str, Any]:
    """Check one analyst's review against the register and append it; returns its row.

    The review is appended under the register's lock (a survey being recorded finishes
    first), so reviews by analysts at once, and surveys, lose nothing; observations are never
    changed. The register is written anew, its cases derived with the review folded in
    (:mod:`pipeline.reviews`), so every reader sees the verdict at once.

    Raises:
        InputError: the register is missing or empty, the review is not valid
            (:func:`pipeline.reviews.check_review`), or the register stayed held for
            ``wait_s`` seconds.

    """
    p = register_ref(path)
    crs = register_crs(p)
    if crs is None:
        raise InputError(f"{path}: the register holds no surveys to review")
    with register_lock(p, f"review by {review.reviewer}", wait_s=wait_s):
        reg = read_register(p, crs)
        check_review(review, reg["cases"], reg["surveys"])
        row = review_row(review)
        frame = gpd.GeoDataFrame(pd.DataFrame([row]), geometry="geometry", crs=crs)
        log_ = pd.concat([reg["reviews"], frame], ignore_index=True) \
            if len(reg["reviews"]) else frame
        # the register is written anew: its derived cases carry the verdict at once
        cases = derive_cases(reg["observations"], reg["surveys"], crs, MatchConfig(),
                             reg["squad_results"], log_)
        _write_atomic(p, {"observations": reg["observations"], "surveys": reg["surveys"],
                          "cases": cases, "squad_results": reg["squad_results"],
                          "reviews": gpd.GeoDataFrame(log_, geometry="geometry", crs=crs)})
    return row


def register_crs(path: Register) -> CRS | None:
    """The CRS the register's geometries are kept in (None for an empty register)."""
    if is_database(path):
        return register_pg.stored_crs(str(path))
    p = Path(path)
    if not p.exists() or "cases" not in {n for n, _ in pyogrio.list_layers(p)}:
        return None
    crs = gpd.read_file(p, layer="cases", rows=1).crs
    return CRS.from_user_input(crs) if crs is not None else None


def _record_results(p: Register, reg: dict[str, Any], rows: Sequence[Any], crs: Any,
                    cfg: MatchConfig) -> int:
    now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    old = reg["squad_results"]
    latest: dict[str, tuple[str, str, str]] = {}  # task -> its latest (result, date, note)
    if len(old):
        for r in old.sort_values(["result_date", "imported_at"]).itertuples():
            latest[str(r.task_id)] = (str(r.result), str(r.result_date), str(r.note))
    new = []
    for r in rows:
        last = latest.get(r.task_id)
        # the same sheet imported again records nothing; a changed verdict is recorded (an
        # undated row is the same as the latest when its result and note are)
        if last is not None and (r.result, r.note) == (last[0], last[2]) and \
                (r.result_date is None or r.result_date == last[1]):
            continue
        date = r.result_date or now[:10]
        latest[r.task_id] = (r.result, date, r.note)
        photo = None
        if getattr(r, "photo", None):  # kept beside the register, named by task and date
            folder = p.with_name(p.stem + "-photos") if isinstance(p, Path) \
                else Path(r.source).parent / "photos"
            folder.mkdir(exist_ok=True)
            target = folder / f"{r.task_id}-{date}.jpg"
            target.write_bytes(r.photo)
            photo = str(target.relative_to(p.parent)) if isinstance(p, Path) \
                else str(target.resolve())
        new.append({"task_id": r.task_id, "result": r.result, "result_date": date,
                    "note": r.note, "imported_at": now, "source": r.source, "photo": photo})
    if not new:
        return 0
    results = pd.concat([old, pd.DataFrame(new)], ignore_index=True)
    cases = derive_cases(reg["observations"], reg["surveys"], CRS.from_user_input(crs),
                         cfg, results, reg["reviews"])
    _write_atomic(p, {"observations": reg["observations"], "surveys": reg["surveys"],
                      "cases": cases, "squad_results": results, "reviews": reg["reviews"]})
    return len(new)

"""The survey job's stages as plain functions over paths and small records.

``flows.detect_flow`` runs them as Prefect tasks; :func:`run_survey` chains them directly.
Data flows one way: inputs -> rasters -> detections -> violations -> cases -> outputs.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import rasterio
import shapely
from PIL import Image
from rasterio.enums import Resampling
from rasterio.shutil import copy as rio_copy
from rasterio.vrt import WarpedVRT
from shapely.geometry.base import BaseGeometry

from geodata.errors import InputError, SkypatrolError
from geodata.georef import Placement, georeference_frame
from geodata.registry import Registry, read_registry
from models.runtime import Detector
from pipeline.cases import (
    CaseUpdate,
    MatchConfig,
    check_register,
    update_register,
)
from pipeline.checks import entry, extend
from pipeline.detect import (
    TileDetection,
    TilingConfig,
    detect_raster,
    detection_fingerprint,
    empty_detections,
    looks_like_board,
    merge_detections,
    needs_board_shape,
    raster_coverage,
    second_look,
)
from pipeline.diff import (
    DiffConfig,
    DiffOutcome,
    cleared_ground,
    diff_registry,
    extension_candidates,
    extension_excess,
    extension_ground_contrast,
    roof_contrast,
    shadow_evidence,
    vegetation_share,
)
from pipeline.ingest import (
    IngestConfig,
    Ingested,
    IngestReport,
    SurveyError,
    check_skip_policy,
    ingest,
    is_url,
)
from pipeline.outputs import (
    enrich_tasks,
    totals,
    write_detections,
    write_evidence,
    write_report,
    write_resolved,
    write_task_files,
    write_work_orders,
)
from pipeline.qgis_project import write_qgis_project
from pipeline.workorders import earlier_imagery, road_parcels

Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class SurveySpec:
    """One survey run: what to process and where to put it.

    Attributes:
        inputs: imagery files, folders or URLs.
        registry: the parcel registry GeoPackage.
        out: output folder.
        cases: the case register GeoPackage (default ``<out>/../cases.gpkg``).
        survey_id: a name for this survey (default: date plus a hash of the inputs).
        survey_date: the flight date (default: today).
        model: model card path (default: the shipped model).
        lang: language of human-facing outputs.

    """

    inputs: tuple[str, ...]
    registry: Path
    out: Path
    cases: Path | str | None = None
    survey_id: str | None = None
    survey_date: dt.date | None = None
    model: Path | None = None
    lang: str = "en"
    ingest: IngestConfig = field(default_factory=IngestConfig)
    diff: DiffConfig = field(default_factory=DiffConfig)
    match: MatchConfig = field(default_factory=MatchConfig)

    @property
    def cases_path(self) -> Path | str:
        """Where the case register lives (a GeoPackage, or a ``postgresql://`` URL)."""
        return self.cases or (self.out.parent / "cases.gpkg")

    @property
    def workdir(self) -> Path:
        """Intermediate files (georeferenced frames, per-image detections)."""
        return self.out / ".work"


def ingest_config(max_skip_ratio: float = 0.5, flight_height_m: float | None = None,
                  dem: str | Path | None = None) -> IngestConfig:
    """The ingest policy from the command line's options (bad values are input errors)."""
    if dem is not None and not Path(dem).is_file():
        raise InputError(f"{dem}: --dem file not found")
    try:
        return IngestConfig(max_skip_ratio=max_skip_ratio,
                            placement=Placement(flight_height_m, Path(dem) if dem else None))
    except ValueError as exc:
        raise InputError(f"--max-skip-ratio / --flight-height: {exc}") from exc


def load_registry(path: Path) -> Registry:
    """Read and validate the registry (raises InvalidRegistryError with every problem)."""
    return read_registry(path)


def check_model_path(model: Path | None) -> None:
    """Refuse a ``--model`` path that does not exist (None is the shipped model)."""
    if model is not None and not Path(model).exists():
        raise InputError(f"{model}: --model file not found (give a model card JSON, e.g. "
                         "DIR/model/skypatrol-seg.json from `skypatrol train`)")


def start_checks(spec: SurveySpec) -> Registry:
    """Everything that can be refused before the long work starts; returns the registry.

    The registry's schema, the case register (a readable register, not another file), the
    model card and its weights, and that the output folder can be written.

    Raises:
        InputError: the first of those that is wrong, naming the file and the problem.

    """
    registry = load_registry(spec.registry)
    check_register(spec.cases_path)
    check_model_path(spec.model)
    try:
        Detector(spec.model)
    except SkypatrolError as exc:
        raise InputError(str(exc)) from exc
    try:
        spec.out.mkdir(parents=True, exist_ok=True)
        probe = spec.out / f".write-test-{os.getpid()}"
        probe.write_text("", encoding="utf-8")
        probe.unlink()
    except OSError as exc:
        raise InputError(f"{spec.out}: the output folder cannot be written ({exc.strerror})") \
            from exc
    return registry


def failed_summary(spec: SurveySpec, reason: str, report: IngestReport | None = None,
                   survey_id: str | None = None, date: dt.date | None = None) -> dict[str, Any]:
    """Write ``summary.json`` for a survey that started and failed: what was tried, and why.

    Never raises: a folder that cannot be written leaves the error message as the record.
    """
    summary = {
        "status": "failed",
        "reason": reason,
        "survey_id": survey_id or spec.survey_id,
        "survey_date": (date or spec.survey_date or dt.date.today()).isoformat(),
        "inputs": report.records() if report is not None else [],
        "model": str(spec.model) if spec.model else "shipped",
        "registry": str(spec.registry),
        "cases": str(spec.cases_path),
    }
    try:
        spec.out.mkdir(parents=True, exist_ok=True)
        (spec.out / "summary.json").write_text(json.dumps(summary, ensure_ascii=False,
                                                          indent=2), encoding="utf-8")
    except OSError:
        pass
    return summary


def survey_identity(spec: SurveySpec, report: IngestReport) -> tuple[str, dt.date]:
    """Survey id and date: given, or the date plus a hash of the inputs' content."""
    date = spec.survey_date or dt.date.today()
    if spec.survey_id:
        return spec.survey_id, date
    h = hashlib.sha256("".join(sorted(i.record.sha256 or "" for i in report.ok)).encode())
    return f"{date.isoformat()}-{h.hexdigest()[:8]}", date


def prepare_raster(item: Ingested, workdir: Path, crs: Any = None) -> str:
    """The GeoTIFF to detect on: an orthophoto as it is, a photo georeferenced first.

    An orthophoto in a geographic CRS (degrees) is warped into ``crs``, the analysis CRS,
    block by block through a ``WarpedVRT`` into a GeoTIFF in ``workdir``.
    """
    if item.frame is None:
        return warped_if_geographic(item, workdir, crs)
    src = Path(item.record.source)
    with Image.open(src) as img:
        rgb = np.asarray(img.convert("RGB"))
    digest = (item.record.sha256 or "")[:12]
    out = workdir / "frames" / f"{src.stem}-{digest}.tif"
    if not out.exists():
        georeference_frame(rgb, item.frame, out)
    return str(out)


def warped_if_geographic(item: Ingested, workdir: Path, crs: Any) -> str:
    """The orthophoto's path, or that of its copy warped into ``crs`` if it is in degrees."""
    src = item.record.source
    with rasterio.open(src) as ds:
        if ds.crs is None or ds.crs.is_projected or crs is None:
            return src
        out = workdir / "warped" / f"{Path(src).stem}-{(item.record.sha256 or '')[:12]}.tif"
        if out.exists():
            return str(out)
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_suffix(".tmp.tif")
        # outside the warped image is nodata: where the source declares none, 0 is
        with WarpedVRT(ds, crs=crs, resampling=Resampling.bilinear,
                       nodata=ds.nodata if ds.nodata is not None else 0) as vrt:
            rio_copy(vrt, tmp, driver="GTiff", tiled=True, compress="deflate",
                     blockxsize=512, blockysize=512)
        os.replace(tmp, out)
    return str(out)


def detect_image(raster: str, model: Path | None, crs: Any, workdir: Path,
                 progress: Callable[[int, int], None] | None = None) -> str:
    """Detect on one raster; writes the detections to a GeoPackage and returns its path."""
    detector = Detector(model)
    cfg = TilingConfig.for_detector(detector)
    frame = detect_raster(raster, detector, cfg, crs, progress=progress, board_shape=False)
    key = hashlib.sha1(f"{raster}|{detection_fingerprint(detector.card_path)}".encode()
                       ).hexdigest()[:12]
    out = workdir / "detections" / f"{Path(raster).stem}-{key}.gpkg"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.unlink(missing_ok=True)
    (frame if len(frame) else empty_detections(crs)).to_file(
        out, layer="detections", driver="GPKG", engine="pyogrio")
    return str(out)


def combine_detections(paths: Sequence[str], crs: Any) -> gpd.GeoDataFrame:
    """All images' detections, with one structure seen by overlapping images merged."""
    frames = [gpd.read_file(p, layer="detections", engine="pyogrio") for p in paths]
    frames = [f for f in frames if len(f)]
    if not frames:
        return empty_detections(crs)
    allf = gpd.GeoDataFrame(pd.concat(frames, ignore_index=True), geometry="geometry", crs=crs)
    names = sorted(set(allf["class"]))
    lone = allf["unconfirmed"] if "unconfirmed" in allf else [False] * len(allf)
    cut = allf["cut"] if "cut" in allf else [False] * len(allf)
    dets = [TileDetection(names.index(c), float(s), g, bool(k), str(src), unconfirmed=bool(u))
            for c, s, g, src, u, k in zip(allf["class"], allf["score"], allf.geometry,
                                          allf["source"], lone, cut)]
    merged = merge_detections(dets)
    return gpd.GeoDataFrame(
        pd.DataFrame({"class": [names[d.cls] for d in merged],
                      "score": [d.score for d in merged],
                      "source": [d.source for d in merged],
                      "unconfirmed": [d.unconfirmed for d in merged],
                      "cut": [d.cut for d in merged]}),
        geometry=[d.geom for d in merged], crs=crs)


def coverage(items: Sequence[Ingested], rasters: Sequence[str], crs: Any) -> BaseGeometry:
    """Ground covered by the survey's imagery, in the registry CRS."""
    parts = []
    for item, raster in zip(items, rasters):
        if item.frame is not None and item.footprint_crs is not None:
            parts.append(item.footprint_crs)
        else:
            parts.append(raster_coverage(raster, crs))
    return shapely.union_all(parts) if parts else shapely.Polygon()


def check_overlap(cov: BaseGeometry, registry: Registry) -> None:
    """Refuse imagery that misses the registry's parcels entirely."""
    extent = shapely.box(*registry.parcels.total_bounds)
    if cov.is_empty or not cov.intersects(extent):
        raise SurveyError(
            f"the imagery covers none of the registry's parcels ({registry.path}); check that "
            "the imagery and the registry are of the same area and their CRSs are right"
        )


def find_violations(detections: gpd.GeoDataFrame, rasters: Sequence[str], registry: Registry,
                    date: dt.date, cfg: DiffConfig,
                    detector: Detector | None = None) -> gpd.GeoDataFrame:
    """The violations ``decide`` finds (without the detections' trails)."""
    return decide(detections, rasters, registry, date, cfg, detector)[1]


def decide(detections: gpd.GeoDataFrame, rasters: Sequence[str], registry: Registry,
           date: dt.date, cfg: DiffConfig, detector: Detector | None = None
           ) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """The named checks, then the registry diff: violations, and every detection's trail.

    Violations come from the detections that pass the checks plus cleared ground found in
    green parcels' pixels. With a ``detector``, low-scored billboards must be board-shaped
    (``board_shape``), and structures that would be extensions of a permitted footprint are
    looked at again through a tile centred on them first (their outline decides the case),
    and so are lone views cut by a tile's edge (``second_look``: the centred view decides
    whether they exist).

    Returns ``(detections, violations)``: every detection as it came (outline and class as
    the model saw them) with ``checks`` (its trail: which check kept, dropped, relabelled or
    reshaped it, and why) and ``finding`` (the category it became, or empty); and the
    violations, each with the trail of the detections it came from.
    """
    n = len(detections)
    # lone views their neighbouring tiles did not see (kept even once a centred view saw them)
    doubt = (detections["unconfirmed"].astype(bool).to_numpy() if "unconfirmed" in detections
             else np.zeros(n, bool))
    seen = detections.assign(det_id=np.arange(n), doubted=doubt).reset_index(drop=True)
    trail = [""] * n

    def note(rows: gpd.GeoDataFrame, mask: Any, check: str, verdict: str, reason: str = "",
             values: Callable[[Any], dict[str, Any]] | None = None) -> None:
        for r in rows[np.asarray(mask, bool)].itertuples():
            trail[r.det_id] = extend(trail[r.det_id], entry(
                check, verdict, reason, **(values(r) if values else {})))

    detections = seen
    if detector is not None and n and cfg.on("board_shape"):
        card = detector.card
        low = np.array([needs_board_shape(c, float(sc), card.score_threshold)
                        for c, sc in zip(detections["class"], detections["score"])], bool)
        # the bounds are for the model's masks: undo the card's outline pull-in first
        off = card.outline_offset_m.get("billboard", 0.0)
        board = np.array([low[k] and looks_like_board(g.buffer(off, join_style="mitre"))
                          for k, g in enumerate(detections.geometry)], bool)
        score = lambda r: {"score": f"{r.score:.2f}"}  # noqa: E731
        note(detections, board, "board_shape", "keep", "board", score)
        note(detections, low & ~board, "board_shape", "drop", "not_board", score)
        detections = detections[~(low & ~board)].reset_index(drop=True)
    if detector is not None and len(detections) and cfg.on("second_look"):
        status: dict[int, str] = {}
        after = _second_looks(detections, registry, cfg, detector, status).set_index("det_id")
        for i, cls, g, doubted in zip(detections.det_id, detections["class"],
                                      detections.geometry, detections.doubted):
            values: dict[str, object] = {}
            if i not in after.index:
                verdict, reason = "drop", ("duplicate" if status.get(i) == "duplicate"
                                           else "unseen")
            elif after.at[i, "class"] != cls:
                verdict, reason = "relabel", "classes"
                values = {"from": cls, "to": after.at[i, "class"]}
            elif not after.geometry[i].equals(g):
                verdict, reason = "reshape", "outline"
                values = {"before": f"{g.area:.0f}", "after": f"{after.geometry[i].area:.0f}"}
            elif doubted:  # a lone view: confirmed, or left in doubt (never looked at again)
                verdict, reason = (("keep", "seen") if status.get(i) == "looked"
                                   else ("doubt", "not_looked"))
            else:
                continue
            trail[i] = extend(trail[i], entry("second_look", verdict, reason, **values))
        detections = after.reset_index()
    # a shed the colour of the roof it lies on is part of that roof, unless it casts a shadow
    contrast = roof_contrast(detections, registry) if cfg.on("roof_colour") or cfg.on("shadow") \
        else np.full(len(detections), np.nan)  # read only for the checks that use it
    sheds = (detections["class"] == "shed").to_numpy()
    on_roof = ~np.isnan(contrast) & sheds
    alike = (contrast < cfg.min_roof_contrast) & sheds if cfg.on("roof_colour") \
        else np.zeros(len(detections), bool)
    # a shed of another colour on a roof must cast a shadow too (a removed shed's scar)
    if len(detections) and cfg.on("shadow"):  # no shadow: a flat surface, not a structure
        standing = shadow_evidence(detections, registry, cfg, also=list(on_roof))
        stands = (standing >= cfg.min_shadow_ratio) & (standing <= cfg.max_shadow_ratio)
        note(detections, alike & stands, "roof_colour", "keep", "roof_alike_stands",
             lambda r: {"de": f"{contrast[r.Index]:.1f}"})
        alike &= ~stands  # it stands on the roof
        flat = ((standing < cfg.min_shadow_ratio) | (standing > cfg.max_shadow_ratio)) & ~alike
        # the ground differs around it: unreadable, and a consistent view is kept
        unreadable = (standing < cfg.shadow_unreadable_ratio) & (
            detections.geometry.area.to_numpy() < cfg.shadow_unreadable_m2)
        flat &= ~(unreadable & ~detections["doubted"].to_numpy(bool))
        flat &= detections["score"].to_numpy(float) < cfg.shadow_veto_below  # a sure model
        ratio = lambda r: {"ratio": f"{standing[r.Index]:.2f}"}  # noqa: E731
        note(detections, flat, "shadow", "drop", "shadow", ratio)
        note(detections, stands & ~alike, "shadow", "keep", "shadow", ratio)
        detections = detections[~flat].reset_index(drop=True)
        contrast, alike = contrast[~flat], alike[~flat]
    if len(detections) and cfg.on("vegetation_cover"):  # a lawn or a tree crown, not a roof
        share = vegetation_share(detections, cfg)
        green = share >= cfg.max_vegetation_share
        note(detections, green, "vegetation_cover", "drop", "vegetation",
             lambda r: {"share": f"{share[r.Index]:.0%}"})
        detections, contrast, alike = (detections[~green].reset_index(drop=True),
                                       contrast[~green], alike[~green])
    contrast = np.where(alike, contrast, np.nan)  # what roof_colour relabels in the diff
    cleared = cleared_ground(list(rasters), registry, list(detections.geometry), cfg) \
        if cfg.on("vegetation_index") else empty_detections(registry.crs)
    detections = detections.assign(roof_contrast=contrast,
                                   checks=[trail[i] for i in detections.det_id])
    if len(cleared):
        cleared = cleared.assign(
            det_id=np.arange(n, n + len(cleared)),
            checks=[entry("vegetation_index", "add", "bare", area=f"{g.area:.0f}")
                    for g in cleared.geometry])
    both = pd.concat([detections, cleared], ignore_index=True) if len(cleared) else detections
    both = gpd.GeoDataFrame(both, geometry="geometry", crs=registry.crs)
    outcome = DiffOutcome()
    found = diff_registry(both, registry, date, cfg, outcome)
    trail[:] = [outcome.trails.get(i, t) for i, t in enumerate(trail)]
    members = outcome.members
    if cfg.on("ground_spill") and cfg.min_ground_contrast > 0 and len(found):
        ground = extension_ground_contrast(found, detections, registry)
        spill = ground < cfg.min_ground_contrast  # NaN: not tested, kept
        for k, (g, s) in enumerate(zip(ground, spill)):
            if np.isnan(g):
                continue
            e = entry("ground_spill", "drop" if s else "keep", "ground", de=f"{g:.1f}")
            found.loc[k, "checks"] = extend(str(found.checks.iloc[k]), e)
            for i in members[k]:
                if i < n:
                    trail[i] = extend(trail[i], e)
        members = [m for m, s in zip(members, spill) if not s]
        found = found[~spill].reset_index(drop=True)
    finding = [""] * n
    for m, category in zip(members, found.category):
        for i in m:
            if i < n:
                finding[i] = str(category)
    decided = seen.drop(columns=["det_id", "doubted"]).assign(checks=trail, finding=finding)
    return decided, found


def _second_looks(detections: gpd.GeoDataFrame, registry: Registry, cfg: DiffConfig,
                  detector: Detector, status: dict[int, str]) -> gpd.GeoDataFrame:
    """Extension candidates and doubted views looked at again (``second_look``).

    ``status`` receives by ``det_id`` what became of each detection looked at (see
    ``second_look``).
    """
    def looked(frame: gpd.GeoDataFrame, by_row: dict[int, str]) -> None:
        ids = list(frame.det_id)
        status.update({int(ids[k]): v for k, v in by_row.items()})

    doubt = detections["doubted"].to_numpy(bool)
    look = extension_candidates(detections, registry, cfg)
    tiling = TilingConfig.for_detector(detector)
    if any(look) or doubt.any():
        by_row: dict[int, str] = {}
        before = detections
        detections = second_look(detections, look, detector, tiling, verify=list(doubt),
                                 status=by_row)
        looked(before, by_row)
    # a doubted view now has its centred view's outline: where that would extend a
    # permitted structure, a third view centred on the excess must agree with it
    doubted = detections["doubted"].to_numpy(bool)
    again = np.zeros(len(detections), bool)
    again[doubted] = extension_candidates(detections[doubted], registry, cfg)
    if again.any():
        at = [extension_excess(g, registry, c, cfg) if a else None
              for a, c, g in zip(again, detections["class"], detections.geometry)]
        by_row = {}
        before = detections
        detections = second_look(detections, list(again), detector, tiling, centre_on=at,
                                 status=by_row)
        looked(before, {k: v for k, v in by_row.items() if v != "looked"})
    return detections


def write_outputs(spec: SurveySpec, survey_id: str, date: dt.date, report: IngestReport,
                  rasters: Sequence[str], detections: gpd.GeoDataFrame, update: CaseUpdate,
                  cov: BaseGeometry, timings: dict[str, float]) -> dict[str, Any]:
    """Every file of the contract's ``detect`` outputs; returns the summary."""
    out = spec.out
    out.mkdir(parents=True, exist_ok=True)
    sha = {i.record.source: i.record.sha256 for i in report.items}
    raster_sha = {r: sha.get(i.record.source) for i, r in zip(report.ok, rasters)}
    src_of = {r: i.record.source for i, r in zip(report.ok, rasters)}
    # an analyst's rejected finding reaches no squad; it is counted in the summary
    sent = (update.tasks.review != "rejected").to_numpy()
    tasks = enrich_tasks(update.tasks[sent], raster_sha)
    tasks["source"] = [src_of.get(s, s) for s in tasks.source]
    t0 = time.perf_counter()
    evidence = write_evidence(out, tasks.assign(source=list(update.tasks.source[sent])),
                              rasters)
    timings["evidence_s"] = round(time.perf_counter() - t0, 2)
    t0 = time.perf_counter()
    write_task_files(out, tasks, spec.lang)
    write_resolved(out, update.resolved)
    write_detections(out, detections)
    timings["task_files_s"] = round(time.perf_counter() - t0, 2)
    summary = {
        "status": "ok",
        "survey_id": survey_id,
        "survey_date": date.isoformat(),
        "imagery_area_km2": round(cov.area / 1e6, 6),
        "totals": totals(tasks, update.resolved),
        "rejected_by_review": int((~sent).sum()),
        "verified": int(tasks.verified.sum()) if len(tasks) else 0,
        "stage_timings_s": timings,
        "inputs": report.records(),
        "model": str(spec.model) if spec.model else "shipped",
        "registry": str(spec.registry),
        "cases": str(spec.cases_path),
    }
    t0 = time.perf_counter()
    write_report(out, summary, tasks, update.resolved, spec.lang)
    timings["report_s"] = round(time.perf_counter() - t0, 2)
    t0 = time.perf_counter()
    write_work_orders(out, tasks, summary, spec.lang, evidence, road_parcels(spec.registry),
                      earlier_imagery(update.surveys, survey_id, date))
    write_qgis_project(out, summary, spec.registry, rasters, detections.crs, spec.lang)
    timings["work_orders_s"] = round(time.perf_counter() - t0, 2)
    # last, so that it times every stage
    (out / "summary.json").write_text(json.dumps(summary, ensure_ascii=False, indent=2),
        encoding="utf-8")
    return summary


def run_survey(spec: SurveySpec, progress: Progress | None = None) -> dict[str, Any]:
    """Run the whole survey job without an orchestrator (the Prefect flow runs the same).

    A survey that fails writes a ``summary.json`` with status ``failed`` and the reason,
    then raises.
    """
    report_to: list[IngestReport] = []  # the inputs' verdicts, once ingest has them
    try:
        return _run_survey(spec, progress, report_to)
    except SkypatrolError as exc:
        failed_summary(spec, str(exc), report_to[0] if report_to else None)
        raise


def _run_survey(spec: SurveySpec, progress: Progress | None,
                report_to: list[IngestReport]) -> dict[str, Any]:
    timings: dict[str, float] = {}
    t = time.perf_counter()
    registry = start_checks(spec)
    report = ingest(spec.inputs, registry.crs, spec.ingest, strict=False)
    report_to.append(report)
    check_skip_policy(report, spec.ingest)
    survey_id, date = survey_identity(spec, report)
    timings["ingest_s"] = round(time.perf_counter() - t, 2)
    t = time.perf_counter()
    rasters = [prepare_raster(i, spec.workdir, registry.crs) for i in report.ok]
    cov = coverage(report.ok, rasters, registry.crs)
    check_overlap(cov, registry)
    timings["georeference_s"] = round(time.perf_counter() - t, 2)
    t = time.perf_counter()
    paths = []
    for n, r in enumerate(rasters):
        def step(d: int, total: int, n: int = n) -> None:
            if progress is not None:
                progress(f"detect {n + 1}/{len(rasters)}", d, total)
        paths.append(detect_image(r, spec.model, registry.crs, spec.workdir, step))
    detections = combine_detections(paths, registry.crs)
    timings["detect_s"] = round(time.perf_counter() - t, 2)
    t = time.perf_counter()
    detections, violations = decide(detections, rasters, registry, date, spec.diff,
                                    Detector(spec.model))
    timings["diff_s"] = round(time.perf_counter() - t, 2)
    summary, _ = record_survey(spec, survey_id, date, report, rasters, detections,
                               violations, cov, timings)
    return summary


def record_survey(spec: SurveySpec, survey_id: str, date: dt.date, report: IngestReport,
                  rasters: Sequence[str], detections: gpd.GeoDataFrame,
                  violations: gpd.GeoDataFrame, cov: BaseGeometry,
                  timings: dict[str, float]) -> tuple[dict[str, Any], CaseUpdate]:
    """Match the violations to the register's cases, write every output, then commit.

    Returns the summary and the register update (tasks, resolved cases).

    The outputs are written while the register is held and before it is committed: a
    failure while writing them (a full disk) leaves the register as it was, and a rerun of the
    survey does it all again.
    """
    t = time.perf_counter()
    written: list[dict[str, Any]] = []

    def outputs(update: CaseUpdate) -> None:
        timings["cases_s"] = round(time.perf_counter() - t, 2)
        written.append(write_outputs(spec, survey_id, date, report, rasters, detections,
                                     update, cov, timings))

    try:
        update = update_register(spec.cases_path, survey_id, date, cov, violations,
                                 n_inputs=len(report.items), cfg=spec.match,
                                 imagery=[r if is_url(r) else str(Path(r).resolve())
                                          for r in rasters],
                                 before_commit=outputs)
    except Exception as exc:
        # the outputs may be written and the register not: the summary must not say "ok"
        failed_summary(spec, f"the survey was not recorded in {spec.cases_path}: {exc}",
                       report, survey_id, date)
        raise
    clean_workdir(spec.workdir)
    return written[0], update


def clean_workdir(workdir: Path) -> None:
    """Remove what a recorded survey no longer needs from its work folder.

    The per-image detections (a rerun detects again) and unfinished warps go; the
    georeferenced photos and warped orthophotos stay: the register's survey records point at
    them (the dashboard's map and later evidence chips read them).
    """
    shutil.rmtree(workdir / "detections", ignore_errors=True)
    for tmp in workdir.glob("*/*.tmp.tif"):
        tmp.unlink(missing_ok=True)

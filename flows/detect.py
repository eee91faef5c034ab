"""``detect_flow``: the survey processing flow, thin Prefect tasks over ``pipeline.survey``."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import time
from pathlib import Path
from typing import Any

import geopandas as gpd
from prefect import flow, task, unmapped
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NONE as NO_CACHE
from prefect.context import TaskRunContext
from prefect.states import Failed

from geodata.errors import SkypatrolError
from models.runtime import Detector
from pipeline import survey as sv
from pipeline.checks_config import load_checks
from pipeline.ingest import IngestConfig, Ingested, IngestReport, check_skip_policy
from pipeline.register_pg import register_ref


def io_failure(task: Any, run: Any, state: Any) -> bool:
    """Whether a failed task run is worth retrying: not when it failed on bad input.

    A ``SkypatrolError`` names what is wrong with the input; running again only repeats the
    work (hashing every file again) and delays the message. Anything else (a file share that
    hiccuped) is retried as the task's policy says.
    """
    try:
        exc = state.result(raise_on_failure=False)
    except Exception:  # noqa: BLE001 - the failure cannot be read: retry, as before
        return True
    return not isinstance(exc, SkypatrolError)


@task(retries=2, retry_delay_seconds=2, retry_condition_fn=io_failure, cache_policy=NO_CACHE)
def ingest_task(inputs: list[str], crs_wkt: str, config: IngestConfig) -> IngestReport:
    """Discover, hash and validate every input; bad files are verdicts, not errors.

    Only an I/O failure is retried (file reads only: safe); the skip policy is applied by
    the flow, so a survey with too many bad files is not hashed three times.
    """
    from pipeline.ingest import ingest

    return ingest(inputs, crs_wkt, config, strict=False)


@task(retries=2, retry_delay_seconds=2, retry_condition_fn=io_failure, cache_policy=NO_CACHE)
def prepare_task(item: Ingested, workdir: str, crs_wkt: str) -> str:
    """Georeference a photo (an orthophoto passes through); returns a GeoTIFF path."""
    return sv.prepare_raster(item, Path(workdir), crs_wkt)


def _detect_key(context: TaskRunContext, params: dict[str, Any]) -> str:
    """Cache on the imagery's content (its sha256), the model card and the detection code."""
    from pipeline.detect import detection_fingerprint

    key = "|".join([params["sha256"], detection_fingerprint(params.get("model")),
                    params["workdir"]])
    return hashlib.sha256(key.encode()).hexdigest()


@task(cache_key_fn=_detect_key, persist_result=True)
def detect_task(raster: str, sha256: str, model: str | None, crs_wkt: str, workdir: str) -> str:
    """Detect on one raster (tiles batched inside); returns the detections' GeoPackage."""
    return sv.detect_image(raster, Path(model) if model else None, crs_wkt, Path(workdir))


@task(cache_policy=NO_CACHE)
def diff_task(detection_paths: list[str], rasters: list[str], registry: str,
              date: dt.date, model: str | None, cfg: sv.DiffConfig
              ) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """Merge detections across images and diff them against the registry."""
    reg = sv.load_registry(Path(registry))
    detections = sv.combine_detections(detection_paths, reg.crs)
    return sv.decide(detections, rasters, reg, date, cfg, Detector(Path(model) if model else None))


@flow(name="detect", log_prints=True)
def detect_flow(
    inputs: list[str],
    registry: str,
    out: str,
    cases: str | None = None,
    survey_id: str | None = None,
    survey_date: dt.date | None = None,
    model: str | None = None,
    lang: str = "en",
    max_skip_ratio: float = 0.5,
    flight_height_m: float | None = None,
    dem: str | None = None,
    checks: str | None = None,
) -> dict[str, Any]:
    """Process one survey: imagery -> detections -> registry diff -> cases -> task lists.

    Bad input ends the run Failed with one message (no traceback) and a ``summary.json``
    with status ``failed``; calling the flow raises that error again.
    """
    spec = sv.SurveySpec(
        inputs=tuple(inputs), registry=Path(registry), out=Path(out),
        cases=register_ref(cases) if cases else None,
        survey_id=survey_id, survey_date=survey_date,
        model=Path(model) if model else None, lang=lang,
    )
    report_to: list[IngestReport] = []
    try:
        diff, policy = load_checks(checks, sv.ingest_config(max_skip_ratio, flight_height_m,
                                                             dem))
        spec = dataclasses.replace(spec, diff=diff, ingest=policy)
        return _survey(spec, policy, report_to)
    except SkypatrolError as exc:
        sv.failed_summary(spec, str(exc), report_to[0] if report_to else None)
        # the run ends Failed with the message and no traceback; a caller of the flow gets
        # ``exc`` raised again (Prefect raises a returned failed state's data)
        return Failed(message=str(exc), data=exc)  # type: ignore[return-value]


def _survey(spec: sv.SurveySpec, policy: IngestConfig,
            report_to: list[IngestReport]) -> dict[str, Any]:
    model = str(spec.model) if spec.model else None
    timings: dict[str, float] = {}
    t = time.perf_counter()
    reg = sv.start_checks(spec)
    crs_wkt = reg.crs.to_wkt()
    report = ingest_task(list(spec.inputs), crs_wkt, policy)
    report_to.append(report)
    check_skip_policy(report, policy)
    sid, date = sv.survey_identity(spec, report)
    timings["ingest_s"] = round(time.perf_counter() - t, 2)
    t = time.perf_counter()
    rasters = [f.result() for f in prepare_task.map(report.ok, unmapped(str(spec.workdir)),
                                                     unmapped(crs_wkt))]
    cov = sv.coverage(report.ok, rasters, reg.crs)
    sv.check_overlap(cov, reg)
    timings["georeference_s"] = round(time.perf_counter() - t, 2)
    t = time.perf_counter()
    shas = [i.record.sha256 or r for i, r in zip(report.ok, rasters)]
    futures = detect_task.map(rasters, shas, unmapped(model), unmapped(crs_wkt),
                              unmapped(str(spec.workdir)))
    paths = [f.result() for f in futures]
    for k, p in enumerate(paths):  # a cached result whose file was cleaned away: redo it
        if not Path(p).exists():
            paths[k] = detect_task.with_options(refresh_cache=True)(
                rasters[k], shas[k], model, crs_wkt, str(spec.workdir))
    timings["detect_s"] = round(time.perf_counter() - t, 2)
    t = time.perf_counter()
    detections, violations = diff_task(paths, rasters, str(spec.registry), date, model,
                                       spec.diff)
    timings["diff_s"] = round(time.perf_counter() - t, 2)
    summary, update = sv.record_survey(spec, sid, date, report, rasters, detections,
                                       violations, cov, timings)
    sent = update.tasks[update.tasks.review != "rejected"]  # as the squads' outputs
    rows = sent.drop(columns="geometry").head(200)
    create_table_artifact(
        key="survey-tasks", table=[
            {k: (str(v) if v is not None else "") for k, v in r.items()}
            for r in rows[["task_id", "category", "object_class", "area_m2", "district",
                           "squad", "status", "priority"]].to_dict("records")
        ], description=f"Rectification tasks of survey {sid}")
    tot = summary["totals"]
    lines = [f"# Survey {sid} ({date.isoformat()})", "",
             f"- imagery: {summary['imagery_area_km2']:.3f} km²",
             f"- tasks: {tot['total_count']} ({tot['total_area_m2']:.0f} m²)",
             f"- resolved: {tot['resolved_count']} ({tot['resolved_area_m2']:.0f} m²)", "",
             "| category | sites | m² |", "|---|---|---|"]
    lines += [f"| {c} | {v['count']} | {v['area_m2']:.0f} |"
              for c, v in tot["per_category"].items()]
    create_markdown_artifact(key="survey-summary", markdown="\n".join(lines))
    return summary


def detect_on(dask_address: str | None) -> Any:
    """``detect_flow`` as it runs here, or on a Dask cluster at ``dask_address``.

    On a cluster (``tcp://HOST:8786``, through prefect-dask's ``DaskTaskRunner``) each input
    image is prepared and detected on a worker; workers read the imagery by its path or URL
    (shared storage or an object store), never through the scheduler, and write their
    detections to the survey's work folder, which must be shared too. The workers need the
    project installed and ``PREFECT_API_URL`` pointing at the Prefect server the flow uses.
    """
    if not dask_address:
        return detect_flow
    from prefect_dask import DaskTaskRunner

    runner: Any = DaskTaskRunner(address=dask_address)  # a TaskRunner of PrefectDaskFutures
    return detect_flow.with_options(task_runner=runner)


@flow(name="survey-series", log_prints=True)
def survey_series_flow(surveys: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Several surveys in date order as subflows of one run (one engine start)."""
    return [detect_flow(**kwargs) for kwargs in surveys]

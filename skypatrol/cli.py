"""The ``skypatrol`` command line: thin wrappers over the library and the Prefect flows."""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from pipeline.i18n import t
from skypatrol.errors import InputError, SkypatrolError

EXIT_BAD_INPUT = 2
EXIT_FAILURE = 1


class _Bar:
    """A tqdm progress bar on a terminal; silent in logs and pipes."""

    def __init__(self) -> None:
        self.enabled = sys.stderr.isatty()
        self.bars: dict[str, Any] = {}

    def __call__(self, label: str, done: int, total: int) -> None:
        if not self.enabled:
            return
        from tqdm import tqdm

        bar = self.bars.get(label)
        if bar is None:
            bar = self.bars[label] = tqdm(total=total, desc=label, unit="blk", leave=False)
        bar.n = done
        bar.refresh()
        if done >= total:
            bar.close()

    def close(self) -> None:
        for bar in self.bars.values():
            bar.close()


def _run(fn: Callable[[], None]) -> None:
    """Run a command body, mapping errors to the contract's exit statuses."""
    try:
        fn()
    except InputError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_BAD_INPUT)
    except SkypatrolError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_FAILURE)


def log_path() -> Path:
    """Where library warnings go: ``$SKYPATROL_LOG``, else ``~/.cache/skypatrol/skypatrol.log``."""
    env = os.environ.get("SKYPATROL_LOG")
    return Path(env) if env else Path.home() / ".cache" / "skypatrol" / "skypatrol.log"


def _route_warnings(verbose: bool) -> None:
    """Library warnings (GDAL, rasterio, Prefect, ...) to the log file, not the terminal."""
    import logging

    if verbose:
        logging.captureWarnings(False)  # Python prints them, as it does by default
        return
    logging.captureWarnings(True)
    logger = logging.getLogger("py.warnings")
    if any(getattr(h, "skypatrol", False) for h in logger.handlers):
        return  # routed already (a second command in one process)
    try:
        path = log_path()
        path.parent.mkdir(parents=True, exist_ok=True)
        handler: logging.Handler = logging.FileHandler(path, encoding="utf-8")
    except OSError:
        handler = logging.NullHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
    handler.skypatrol = True  # type: ignore[attr-defined]
    logger.addHandler(handler)
    logger.propagate = False


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="skypatrol")
@click.option("--verbose", "-v", is_flag=True,
              help="Show library warnings on the terminal (by default they go to "
                   "$SKYPATROL_LOG or ~/.cache/skypatrol/skypatrol.log).")
def cli(verbose: bool) -> None:
    """Find illegal construction, green encroachment and unlicensed billboards from the air.

    skypatrol turns drone imagery into georeferenced findings, checks them against the
    registered parcels and permits, and hands each squad its list of sites to rectify.
    """
    _route_warnings(verbose)


@cli.command()
@click.option("--out", "out", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Folder to write the world into.")
@click.option("--size-m", default=500.0, show_default=True, help="Side of the district, metres.")
@click.option("--gsd-cm", default=5.0, show_default=True, help="Orthophoto GSD, cm per pixel.")
@click.option("--seed", default=0, show_default=True,
              help="Random seed (everything derives from it).")
@click.option("--epochs", default=2, show_default=True, help="Number of survey epochs.")
@click.option("--no-frames", is_flag=True, help="Skip the drone photos (orthophotos only).")
@click.option("--renderer", default="classic", show_default=True,
              type=click.Choice(["classic", "village"]),
              help="World generator: 'classic' (the worlds the shipped model was trained on) or "
                   "'village' (dense urban villages, written independently of it).")
def synth(out: Path, size_m: float, gsd_cm: float, seed: int, epochs: int, no_frames: bool,
          renderer: str) -> None:
    """Write a synthetic district: registry.gpkg, epoch<k>/ortho.tif, truth.gpkg, frames/."""

    def body() -> None:
        from geodata.synthetic import WorldConfig, synthesize

        try:
            cfg = WorldConfig(size_m=size_m, gsd_cm=gsd_cm, seed=seed, epochs=epochs,
                              renderer=renderer)
        except ValueError as exc:
            raise InputError(str(exc)) from exc
        bar = _Bar()
        res = synthesize(out, cfg, frames=not no_frames, progress=bar)
        bar.close()
        click.echo(f"world written to {res.root}")
        click.echo(f"  registry: {res.registry}")
        for ortho, truth in zip(res.orthos, res.truths):
            click.echo(f"  ortho:    {ortho}   truth: {truth}")

    _run(body)


@cli.command()
@click.option("--registry", "registry", required=True, type=click.Path(path_type=Path),
              help="Parcel registry GeoPackage to validate.")
@click.argument("imagery", nargs=-1, type=click.Path(path_type=Path))
def check(registry: Path, imagery: tuple[Path, ...]) -> None:
    """Validate a registry (and imagery) without processing; list every problem found."""

    def body() -> None:
        from geodata.registry import read_registry

        reg = read_registry(registry)
        click.echo(
            f"{registry}: ok — {len(reg.parcels)} parcels, {len(reg.permitted_structures)} "
            f"permitted structures, {len(reg.billboard_permits)} billboard permits, "
            f"{len(reg.jurisdictions)} jurisdictions, CRS {reg.crs.to_string()}"
        )
        if imagery:
            from pipeline.ingest import ingest

            report = ingest(imagery, reg.crs, strict=False)
            for item in report.items:
                r = item.record
                if r.status == "ok":
                    click.echo(f"ok       {r.source} ({r.kind}, {r.gsd_cm:.1f} cm/px)")
                else:
                    click.echo(f"skipped  {r.source}: [{r.reason}] {r.detail}")
            click.echo(f"imagery: {len(report.ok)} ok, {len(report.skipped)} skipped")
            if report.skipped:
                sys.exit(EXIT_BAD_INPUT)

    _run(body)


def _hold_out(spec: str) -> Any:
    """``NAME:LON,LAT[,KM]`` as a :class:`models.real.HoldOut`."""
    from models.real import HoldOut

    name, _, rest = spec.partition(":")
    try:
        vals = [float(v) for v in rest.split(",")]
        if len(vals) not in (2, 3) or not name:
            raise ValueError
    except ValueError:
        raise ValueError(f"--hold-out {spec!r}: expected NAME:LON,LAT[,KM]") from None
    return HoldOut(name, *vals)


class RegisterParam(click.ParamType):
    """``--cases``: a GeoPackage path, or a ``postgresql://`` URL of a shared register."""

    name = "CASES"

    def convert(self, value: Any, param: Any, ctx: Any) -> Path | str:
        """The URL as given; a path as a Path (a folder is refused)."""
        from pipeline.register_pg import register_ref

        ref = register_ref(value)
        if isinstance(ref, Path) and ref.is_dir():
            self.fail(f"{ref}: is a folder; give the register's .gpkg file", param, ctx)
        return ref


CASES = RegisterParam()


def _parse_date(value: str | None) -> dt.date | None:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError as exc:
        raise InputError(f"--date {value!r} is not a date (YYYY-MM-DD)") from exc


@cli.command()
@click.argument("imagery", nargs=-1, required=True)
@click.option("--registry", "registry", required=True, type=click.Path(path_type=Path),
              help="Parcel registry GeoPackage (the contract's four layers).")
@click.option("--out", "out", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Output folder for tasks, reports, evidence and summary.")
@click.option("--cases", "cases", type=CASES,
              help="Case register kept across surveys: a GeoPackage, or postgresql://... "
                   "for a shared PostGIS register "
                   "[default: cases.gpkg beside OUT, i.e. OUT/../cases.gpkg].")
@click.option("--survey-id", help="Name of this survey [default: date + hash of the inputs].")
@click.option("--date", "date_s", help="Flight date YYYY-MM-DD [default: today].")
@click.option("--model", "model", type=click.Path(path_type=Path),
              help="Model card JSON (or weights beside it) [default: the shipped model].")
@click.option("--lang", type=click.Choice(["en", "zh"]), default="en", show_default=True,
              help="Language of reports and work orders.")
@click.option("--max-skip-ratio", default=0.5, show_default=True,
              help="Fail the survey when more than this share of inputs is unusable.")
@click.option("--flight-height", "flight_height", type=float,
              help="Height of the flight above the ground, m, for photos without DJI's "
                   "relative altitude (other cameras).")
@click.option("--dem", "dem", type=click.Path(path_type=Path),
              help="Ground model GeoTIFF (heights above the datum of the photos' EXIF GPS "
                   "altitude) to place photos without DJI's relative altitude.")
@click.option("--config", "checks", type=click.Path(path_type=Path),
              help="CHECKS.toml: tolerances of the registry diff ([diff]), the image-quality "
                   "gate ([quality]) and ingest ([ingest]); see docs/diff-rules.md.")
@click.option("--dask-address", envvar="SKYPATROL_DASK_ADDRESS",
              help="Run the per-image work on this Dask cluster (tcp://HOST:8786) "
                   "[env SKYPATROL_DASK_ADDRESS; default: here].")
def detect(imagery: tuple[str, ...], registry: Path, out: Path, cases: Path | str | None,
           survey_id: str | None, date_s: str | None, model: Path | None, lang: str,
           max_skip_ratio: float, flight_height: float | None, dem: Path | None,
           checks: Path | None, dask_address: str | None) -> None:
    """Process a survey: GeoTIFF orthophotos, DJI photos, Tello captures or folders of them."""

    def body() -> None:
        if flight_height is not None and dem is not None:
            raise InputError("give --flight-height or --dem, not both")
        summary = _detect(list(imagery), registry, out, cases, survey_id, _parse_date(date_s),
                          model, lang, max_skip_ratio, flight_height, dem, checks,
                          dask_address)
        tot = summary["totals"]
        click.echo(f"survey {summary['survey_id']} ({summary['survey_date']}): "
                   f"{tot['total_count']} tasks, {tot['total_area_m2']:.0f} m²; "
                   f"{tot['resolved_count']} resolved")
        skipped = [i for i in summary["inputs"] if i["status"] == "skipped"]
        for i in skipped:
            click.echo(f"skipped {i['source']}: [{i['reason']}] {i['detail']}", err=True)
        click.echo(f"report: {(out / 'report.html').resolve()}")
        if skipped:
            sys.exit(EXIT_BAD_INPUT)

    _run(body)


def _detect(imagery: list[str], registry: Path, out: Path, cases: Path | str | None,
            survey_id: str | None, date: dt.date | None, model: Path | None, lang: str,
            max_skip_ratio: float = 0.5, flight_height: float | None = None,
            dem: Path | None = None, checks: Path | None = None,
            dask_address: str | None = None) -> dict[str, Any]:
    from flows.detect import detect_on
    from geodata.registry import read_registry
    from pipeline.checks_config import load_checks
    from pipeline.survey import check_model_path, ingest_config
    from skypatrol.prefect_home import prepare_prefect_home

    read_registry(registry)  # refuse a bad registry before starting the engine
    load_checks(checks, ingest_config(max_skip_ratio, flight_height, dem))  # and bad options
    check_model_path(model)
    prepare_prefect_home()
    result: dict[str, Any] = detect_on(dask_address)(
        inputs=imagery, registry=str(registry), out=str(out),
        cases=str(cases) if cases else None, survey_id=survey_id, survey_date=date,
        model=str(model) if model else None, lang=lang, max_skip_ratio=max_skip_ratio,
        flight_height_m=flight_height, dem=str(dem) if dem else None,
        checks=str(checks) if checks else None)
    return result


@cli.command()
@click.option("--out", "out", default=Path("demo-output"), show_default=True,
              type=click.Path(file_okay=False, path_type=Path), help="Output folder.")
@click.option("--size-m", default=300.0, show_default=True, help="Side of the demo district, m.")
@click.option("--seed", default=2026, show_default=True, help="Random seed of the demo world.")
@click.option("--lang", type=click.Choice(["en", "zh"]), default="en", show_default=True,
              help="Language of human-facing outputs.")
def demo(out: Path, size_m: float, seed: int, lang: str) -> None:
    """Run the main job end to end on a synthetic Wuxi district (two survey epochs)."""

    def body() -> None:
        import json

        from flows.detect import survey_series_flow
        from geodata.synthetic import WorldConfig, synthesize
        from pipeline.evaluate import evaluate_survey

        bar = _Bar()
        world = out / "world"
        res = synthesize(world, WorldConfig(size_m=size_m, seed=seed, epochs=2), progress=bar)
        bar.close()
        click.echo(f"world: {res.root.resolve()}")
        cases = out / "cases.gpkg"
        cases.unlink(missing_ok=True)
        dates = json.loads((world / "world.json").read_text(encoding="utf-8"))["survey_dates"]
        report = None
        accuracy: list[dict[str, Any]] = []
        runs = [dict(inputs=[str(ortho)], registry=str(res.registry), out=str(out / f"survey{k}"),
                     cases=str(cases), survey_id=f"demo-epoch{k}",
                     survey_date=dt.date.fromisoformat(dates[k - 1]), lang=lang)
                for k, ortho in enumerate(res.orthos, start=1)]
        summaries = survey_series_flow(runs)
        for k, summary in enumerate(summaries, start=1):
            survey_out = out / f"survey{k}"
            tot = summary["totals"]
            click.echo(f"epoch {k} ({dates[k - 1]}): {tot['total_count']} tasks "
                       f"({tot['total_area_m2']:.0f} m²), {tot['resolved_count']} resolved "
                       f"({tot['resolved_area_m2']:.0f} m²)")
            report = (survey_out / "report.html").resolve()
            acc = evaluate_survey(world, k, survey_out)
            accuracy.append(acc)
            for cat, v in acc["per_category"].items():
                click.echo(f"  vs truth {cat}: precision {v['precision']}, recall {v['recall']}, "
                           f"area {v['area_m2']:.0f} of {v['true_area_m2']:.0f} m²")
            if "resolved" in acc:
                r = acc["resolved"]
                click.echo(f"  vs truth resolved: {r['found']} of {r['removed_true']} removed "
                           f"found, {r['false_resolutions']} false")
        (out / "accuracy.json").write_text(json.dumps(accuracy, indent=2), encoding="utf-8")
        from pipeline.dashboard import write_dashboard

        dash = write_dashboard(cases, out / "dashboard", lang,
                               date_to=dt.date.fromisoformat(dates[-1]))
        click.echo(f"dashboard: {dash.resolve()}")
        click.echo(t("demo_done", lang).format(report=report))

    _run(body)


@cli.command()
@click.option("--out", "out", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Folder for the dataset, the training run and the packaged model.")
@click.option("--data", "data", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Your own dataset in YOLO segmentation format (its data.yaml); "
                   "default: synthetic worlds.")
@click.option("--data-gsd-cm", default=10.0, show_default=True,
              help="GSD of the tiles in --data (written into the model card).")
@click.option("--worlds", default=14, show_default=True, help="Synthetic training worlds.")
@click.option("--world-size-m", default=240.0, show_default=True, help="Side of each world, m.")
@click.option("--tiles", default=55, show_default=True, help="Tiles per world epoch.")
@click.option("--epochs", default=18, show_default=True, help="Training epochs.")
@click.option("--time-h", type=float, default=None,
              help="A wall-clock budget in hours: the epochs are fitted into it.")
@click.option("--imgsz", default=384, show_default=True, help="Tile size in pixels.")
@click.option("--batch", default=16, show_default=True, help="Images per batch.")
@click.option("--device", default="cpu", show_default=True, help="cpu or a CUDA index.")
@click.option("--model", "model_yaml", default="yolo11n-seg.yaml", show_default=True,
              help="ultralytics model YAML (trained from scratch) or .pt to fine-tune.")
@click.option("--resume", is_flag=True, help="Continue an interrupted run in --out.")
@click.option("--no-onnx", is_flag=True, help="Skip the ONNX export (and its int8 copy).")
@click.option("--real", "real", multiple=True,
              type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Folder of real labelled tiles (...-x-y-z images with GeoJSON building "
                   "outlines of the same name, as in RAMP/fAIr), trained on together with the "
                   "synthetic worlds. Repeatable.")
@click.option("--hold-out", "hold_out", multiple=True, metavar="NAME:LON,LAT[,KM]",
              help="A town kept out of training and validation (every tile within KM, "
                   "default 25). Default: nepal-banepa:85.52,27.63.")
@click.option("--real-repeat", default=2, show_default=True,
              help="Copies of each real training image (rotated), its weight against the "
                   "synthetic tiles.")
@click.option("--lr0", default=None, type=float,
              help="Initial learning rate [default 0.01; lower it to fine-tune a .pt].")
@click.option("--world-seed", "world_seed", default=1000, show_default=True,
              help="First synthetic training world seed.")
@click.option("--renderer", "renderers", multiple=True, default=("classic",), show_default=True,
              type=click.Choice(["classic", "village"]),
              help="World generator of the synthetic training worlds (see `skypatrol synth`). "
                   "Repeat it to mix generators: the worlds take them in turn.")
@click.option("--from-reviews", "from_reviews", type=CASES,
              help="Fine-tune the current model on the analysts' reviews in this case register "
                   "(skypatrol web); promoted into OUT/model only when better on the held-out "
                   "reviews.")
@click.option("--base", "base_card", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="With --from-reviews: the model card to fine-tune [default: shipped].")
@click.option("--replay", type=click.FloatRange(min=0.0), default=0.0, show_default=True,
              help="With --from-reviews: synthetic tiles of the base model's own generators "
                   "per reviewed training tile, trained on together with the reviews "
                   "(rehearsal: 0 = reviews only).")
def train(out: Path, data: Path | None, data_gsd_cm: float, worlds: int, world_size_m: float,
          tiles: int, epochs: int, time_h: float | None, imgsz: int, batch: int, device: str,
          model_yaml: str, resume: bool, no_onnx: bool, real: tuple[Path, ...],
          hold_out: tuple[str, ...], real_repeat: int, lr0: float | None,
          world_seed: int, renderers: tuple[str, ...], from_reviews: Path | str | None,
          base_card: Path | None, replay: float) -> None:
    """Train the detection model (synthetic worlds, plus real tiles with --real) and package it.

    With --from-reviews, fine-tune it on the bureau's reviewed surveys instead.
    """
    if from_reviews is not None:
        _learn(from_reviews, out, base_card, epochs, batch, device, replay)
        return

    def body() -> None:
        from models.dataset import DatasetConfig
        from models.real import DEFAULT_HOLD_OUT, RealDatasetConfig
        from models.recipe import TrainingJob, train_and_package
        from models.train import TrainConfig

        try:
            tcfg = TrainConfig(model=model_yaml, epochs=epochs, imgsz=imgsz, batch=batch,
                               device=device, time_h=time_h)
            if lr0 is not None:  # a fine-tune: a lower rate (ultralytics' "auto" would set
                # its own) and a short warm-up
                tcfg = dataclasses.replace(tcfg, lr0=lr0, optimizer="AdamW", warmup_epochs=1.0)
            holds = tuple(_hold_out(h) for h in hold_out)
            dcfg = DatasetConfig(seeds=tuple(range(world_seed, world_seed + worlds)),
                                 size_m=world_size_m, imgsz=imgsz, tiles_per_epoch=tiles,
                                 renderers=tuple(dict.fromkeys(renderers)))
        except ValueError as exc:
            raise InputError(str(exc)) from exc
        job = TrainingJob(out=out, train=tcfg, synthetic=dcfg, data=data,
                          data_gsd_cm=data_gsd_cm, real=real,
                          real_config=RealDatasetConfig(gsd_cm=dcfg.gsd_cm, imgsz=imgsz,
                                                        hold_out=holds or DEFAULT_HOLD_OUT,
                                                        repeat=real_repeat),
                          onnx=not no_onnx, resume=resume)
        bar = _Bar()
        card = train_and_package(job, progress=lambda d, t: bar("dataset", d, t))
        bar.close()
        click.echo(f"model card: {card}")

    _run(body)


def _learn(cases: Path | str, out: Path, base_card: Path | None, epochs: int, batch: int,
           device: str, replay: float = 0.0) -> None:
    def body() -> None:
        from pipeline.learn import LearnConfig, learn_from_reviews

        bar = _Bar()
        report = learn_from_reviews(cases, out, base_card,
                                    LearnConfig(epochs=epochs, batch=min(batch, 8), device=device,
                                                replay=replay),
                                    progress=lambda d, t: bar("reviewed tiles", d, t))
        bar.close()
        old, new = report["held_out"]["old"], report["held_out"]["new"]
        click.echo(f"held-out reviews: recall {old['recall']:.2f} -> {new['recall']:.2f}, "
                   f"precision {old['precision']:.2f} -> {new['precision']:.2f}")
        click.echo(("promoted: " if report["promoted"] else
                    "not promoted (not better on the held-out reviews): ") + report["card"])

    _run(body)


@cli.command()
@click.option("--model", "model", type=click.Path(path_type=Path),
              help="Model card JSON [default: the shipped model].")
@click.option("--seeds", default="5001,5002,5003", show_default=True,
              help="World seeds to evaluate on (never training seeds).")
@click.option("--gsds", default="4,5,8", show_default=True,
              help="Orthophoto GSDs in cm (resampled by the pipeline to the model's GSD).")
@click.option("--size-m", default=200.0, show_default=True, help="Side of each world, m.")
@click.option("--runtime", type=click.Choice(["onnx-int8", "onnx", "pt"]),
              help="Weights to run [default: the card's default runtime].")
@click.option("--write-card", is_flag=True, help="Store the results in the model card.")
def evaluate(model: Path | None, seeds: str, gsds: str, size_m: float, runtime: str | None,
             write_card: bool) -> None:
    """Evaluate the model on unseen synthetic worlds: AP50 per class, area error, negatives."""

    def body() -> None:
        import json

        from models.runtime import DEFAULT_CARD
        from pipeline.model_evaluation import evaluate_model, write_metrics

        try:
            seed_list = [int(v) for v in seeds.split(",") if v]
            gsd_list = [float(v) for v in gsds.split(",") if v]
        except ValueError as exc:
            raise InputError(f"--seeds and --gsds take comma-separated numbers ({exc})") from exc
        res = evaluate_model(model, seed_list, gsd_list, size_m, runtime)
        click.echo(json.dumps(res, indent=2))
        if write_card:
            write_metrics(model or DEFAULT_CARD, res)

    _run(body)


@cli.command()
@click.option("--cases", "cases", required=True, type=CASES,
              help="Case register written by `skypatrol detect` (GeoPackage or "
                   "postgresql://...).")
@click.option("--out", "out", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Folder for dashboard.html and dashboard.json.")
@click.option("--from", "date_from", help="First day of the period (YYYY-MM-DD).")
@click.option("--to", "date_to", help="Last day of the period (YYYY-MM-DD) [default: today].")
@click.option("--lang", type=click.Choice(["en", "zh"]), default="en", show_default=True)
@click.option("--deadline-days", default=30, show_default=True, type=click.IntRange(min=0),
              help="An open case older than this is overdue.")
def report(cases: Path | str, out: Path, date_from: str | None, date_to: str | None,
           lang: str, deadline_days: int) -> None:
    """Leadership totals and dashboard over all surveys in the case register."""

    def body() -> None:
        from flows.report import report_flow

        if isinstance(cases, Path) and not cases.exists():
            raise InputError(f"{cases}: case register not found (run `skypatrol detect` first)")
        path = report_flow(str(cases), str(out), lang, _parse_date(date_from),
                           _parse_date(date_to), deadline_days)
        click.echo(f"dashboard: {Path(path).resolve()}")

    _run(body)


@cli.command()
@click.option("--aoi", "aoi", required=True, type=click.Path(path_type=Path),
              help="Area of interest: a GeoJSON polygon (WGS84).")
@click.option("--out", "out", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Folder for plan.json, plan.geojson and mission files.")
@click.option("--drone", "drone", type=click.Choice(["tello", "phantom4pro"]), default="tello",
              show_default=True, help="Drone profile.")
@click.option("--altitude-m", type=float, help="Flight altitude above take-off, metres.")
@click.option("--gsd-cm", type=float, help="Target ground sample distance, cm/px.")
@click.option("--front-overlap", default=0.75, show_default=True)
@click.option("--side-overlap", default=0.65, show_default=True)
@click.option("--crs", "crs", help="Projected CRS to plan in [default: the AOI's UTM zone].")
def plan(aoi: Path, out: Path, drone: str, altitude_m: float | None, gsd_cm: float | None,
         front_overlap: float, side_overlap: float, crs: str | None) -> None:
    """Plan a survey flight: lawnmower coverage, split into missions the battery allows."""

    def body() -> None:
        from drone.plan import PROFILES, PlanRequest, plan_survey, read_aoi, write_plan

        poly, plan_crs = read_aoi(aoi, crs)
        req = PlanRequest(poly, plan_crs, PROFILES[drone], altitude_m, gsd_cm, front_overlap,
                          side_overlap)
        result = plan_survey(req)
        path = write_plan(result, out)
        click.echo(f"{len(result['missions'])} mission(s), "
                   f"{sum(len(m['waypoints']) for m in result['missions'])} photos at "
                   f"{result['altitude_m']:.1f} m ({result['gsd_cm']:.2f} cm/px), "
                   f"~{result['estimated_duration_s'] / 60:.1f} min: {path}")

    _run(body)


@cli.command()
@click.argument("plan_dir", type=click.Path(path_type=Path))
@click.option("--out", "out", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Survey folder for the captures (images, pose sidecars, flight logs).")
@click.option("--host", default="192.168.10.1", show_default=True, help="The Tello's address.")
@click.option("--simulate", is_flag=True,
              help="Fly the Tello simulator (in a network namespace; needs root) over --world.")
@click.option("--world", type=click.Path(path_type=Path),
              help="Synthetic world the simulator renders (with --simulate).")
@click.option("--epoch", default=1, show_default=True, help="World epoch to fly over.")
def fly(plan_dir: Path, out: Path, host: str, simulate: bool, world: Path | None,
        epoch: int) -> None:
    """Fly a plan's missions with a Tello (or the simulator) and store the captures."""

    def body() -> None:
        from drone.fly import fly_plan

        if simulate and world is None:
            raise InputError("--simulate needs --world DIR (a `skypatrol synth` world)")
        logs = fly_plan(plan_dir, out, host, world if simulate else None, epoch)
        bad = [lg for lg in logs if lg["status"] != "ok"]
        for lg in logs:
            click.echo(f"mission {lg['mission']}: {lg['status']}, {lg['n_captures']} photos"
                       + (f" ({lg['reason']})" if lg["reason"] else ""))
        click.echo(f"captures: {out.resolve()}")
        if bad:
            sys.exit(EXIT_FAILURE)

    _run(body)


@cli.command()
@click.option("--config", "config", default=Path("prefect.yaml"), show_default=True,
              type=click.Path(dir_okay=False, path_type=Path),
              help="Deployments file (flows, cron schedules per district, parameters).")
def serve(config: Path) -> None:
    """Register the Prefect deployments with their schedules and serve them."""

    def body() -> None:
        from flows.deployments import load_deployments
        from flows.deployments import serve as serve_all

        names = [d.name for d in load_deployments(config)]
        click.echo("serving: " + ", ".join(names))
        serve_all(config)

    _run(body)


@cli.command()
@click.option("--cases", "cases", required=True, type=CASES,
              help="Case register to review (GeoPackage or postgresql://...).")
@click.option("--registry", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Parcel registry: parcels and permits on the map; needed to add sites.")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on; off the loopback a token is required.")
@click.option("--port", default=8765, show_default=True, type=click.IntRange(1, 65535))
@click.option("--token", envvar="SKYPATROL_WEB_TOKEN",
              help="Token every request must carry [env SKYPATROL_WEB_TOKEN; made up and "
                   "printed when --host is not a loopback address and none is given].")
@click.option("--lang", type=click.Choice(["en", "zh"]), default="en", show_default=True)
@click.option("--model", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Model card whose thresholds order the review queue [default: shipped].")
def web(cases: Path | str, registry: Path | None, host: str, port: int, token: str | None,
        lang: str, model: Path | None) -> None:
    """Review findings on a live map of the survey imagery (a local web application)."""

    def body() -> None:
        from pipeline.web import WebConfig, access_token, is_loopback, serve

        if isinstance(cases, Path) and not cases.exists():
            raise InputError(f"{cases}: case register not found (run `skypatrol detect` first)")
        tok = access_token(host, token)
        cfg = WebConfig(cases=cases, registry=registry, token=tok, lang=lang, model_card=model)
        shown = "localhost" if is_loopback(host) else host
        link = f"http://{shown}:{port}/" + (f"?token={tok}" if tok else "")
        click.echo(f"skypatrol web: {link}  (Ctrl-C stops it)")
        serve(cfg, host, port)

    _run(body)


@cli.command("import-results")
@click.option("--cases", "cases", required=True, type=CASES,
              help="Case register (GeoPackage or postgresql://...).")
@click.argument("sheets", nargs=-1, required=True, type=click.Path(path_type=Path))
def import_results(cases: Path | str, sheets: tuple[Path, ...]) -> None:
    """Import squads' returned results: task workbooks, CSVs, or work orders' results files.

    Results are shown beside each case; a case is counted as rectified only when a later
    survey confirms the site gone.
    """

    def body() -> None:
        from pipeline.cases import import_squad_results

        n = import_squad_results(cases, list(sheets))
        click.echo(f"{n} result(s) recorded from {len(sheets)} sheet(s)")

    _run(body)


@cli.group()
def register() -> None:
    """Manage case registers (GeoPackage or PostGIS)."""


@register.command("migrate")
@click.option("--from", "source", required=True, type=CASES, help="The register to copy.")
@click.option("--to", "target", required=True, type=CASES,
              help="Where to put it: a new GeoPackage or postgresql://... (its schema is "
                   "created or brought up to date).")
def register_migrate(source: Path | str, target: Path | str) -> None:
    """Copy a case register into another store, e.g. a GeoPackage into a shared PostGIS."""

    def body() -> None:
        from pipeline.cases import copy_register

        n = copy_register(source, target)
        click.echo(f"copied {n['observations']} observations of {n['surveys']} surveys, "
                   f"{n['cases']} cases and {n['squad_results']} squad results to "
                   f"{_shown(target)}")

    _run(body)


def _shown(ref: Path | str) -> str:
    from pipeline.register_pg import redacted

    return redacted(ref) if isinstance(ref, str) else str(ref)


def _terminate(signum: int, frame: Any) -> None:
    """End the command on SIGTERM as on Ctrl-C.

    Context managers and ``finally`` blocks run, so the ephemeral Prefect server stops with
    the command and no temporary file is left behind.
    """
    raise SystemExit(128 + signum)


def main() -> None:
    """Console-script entry point."""
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("YOLO_OFFLINE", "true")
    # a fresh Prefect home migrates its database on the first start: give it time
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "300")
    signal.signal(signal.SIGTERM, _terminate)
    cli(prog_name="skypatrol")


if __name__ == "__main__":
    main()

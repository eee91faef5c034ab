"""The synthetic survey world: registry, orthophotos, drone photos and ground truth."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
from affine import Affine
from rasterio.windows import Window

from geodata.raster import GridSpec, write_cog
from geodata.registry import write_registry
from geodata.synthetic.frames import write_frames
from geodata.synthetic.kinds import renderer_for, scene_for, style_for
from geodata.synthetic.scene import RENDERERS, Scene, WorldConfig, build_scene
from geodata.synthetic.truth import truth_frames

__all__ = ["WorldConfig", "Scene", "build_scene", "scene_for", "synthesize", "registry_frames",
           "SynthResult", "RENDERERS"]

Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class SynthResult:
    """Where a synthesized world was written."""

    root: Path
    registry: Path
    orthos: list[Path]
    truths: list[Path]
    frames: list[Path]


def registry_frames(scene: Scene) -> dict[str, gpd.GeoDataFrame]:
    """The scene's registry as the contract's four GeoDataFrames."""
    crs = scene.config.crs
    parcels = gpd.GeoDataFrame(
        {
            "parcel_id": [p.parcel_id for p in scene.parcels],
            "land_use": [p.land_use for p in scene.parcels],
            "district": [p.district for p in scene.parcels],
        },
        geometry=[p.geometry for p in scene.parcels],
        crs=crs,
    )
    permits = gpd.GeoDataFrame(
        {
            "permit_id": [p.permit_id for p in scene.permits],
            "parcel_id": [p.parcel_id for p in scene.permits],
            "kind": [p.kind for p in scene.permits],
        },
        geometry=[p.geometry for p in scene.permits],
        crs=crs,
    )
    boards = gpd.GeoDataFrame(
        {
            "permit_id": [b.permit_id for b in scene.billboard_permits],
            "valid_until": pd.Series(
                [pd.Timestamp(b.valid_until) if b.valid_until else pd.NaT
                 for b in scene.billboard_permits],
                dtype="datetime64[ms]",
            ),
        },
        geometry=[b.geometry for b in scene.billboard_permits],
        crs=crs,
    )
    jur = gpd.GeoDataFrame(
        {
            "district": [j.district for j in scene.jurisdictions],
            "squad": [j.squad for j in scene.jurisdictions],
        },
        geometry=[j.geometry for j in scene.jurisdictions],
        crs=crs,
    )
    return {
        "parcels": parcels,
        "permitted_structures": permits,
        "billboard_permits": boards,
        "jurisdictions": jur,
    }


def grid_for(scene: Scene) -> GridSpec:
    """The orthophoto grid of a scene at its configured GSD (north-up, pixel edges on bounds)."""
    gsd = scene.config.gsd_cm / 100.0
    x0, y0, x1, y1 = scene.bounds
    n = int(math.ceil((x1 - x0) / gsd))
    return GridSpec(n, n, Affine(gsd, 0, x0, 0, -gsd, y1), scene.config.crs)


def render_ortho(
    scene: Scene,
    epoch: int,
    style: Any,
    path: Path,
    block: int = 1024,
    progress: Callable[[int, int], None] | None = None,
) -> Path:
    """Render one epoch's orthophoto to a COG, block by block (bounded memory).

    ``style`` is the look of the scene's generator (``None``: its random look for the epoch).
    """
    grid = grid_for(scene)
    renderer = renderer_for(scene, epoch, style)

    def render_block(win: Window) -> np.ndarray:
        left, _, _, top = grid.window_bounds(win)
        return renderer.render(left, top, grid.gsd_m, int(win.width), int(win.height),
                               row0=int(win.row_off), col0=int(win.col_off))

    return write_cog(path, grid, render_block, block=block, progress=progress)


def synthesize(
    out: Path | str,
    config: WorldConfig,
    *,
    frames: bool = True,
    progress: Progress | None = None,
) -> SynthResult:
    """Write a synthetic world per the contract's ``skypatrol synth`` layout.

    ``out/registry.gpkg``, ``out/world.json`` and per epoch ``epoch<k>/ortho.tif``,
    ``epoch<k>/truth.gpkg`` (layers ``objects`` and ``violations``), ``epoch<k>/epoch.json``
    (survey date and look) and ``epoch<k>/frames/`` (DJI photos and Tello captures) with
    their true poses in ``epoch<k>/frames_truth.json``.
    """
    root = Path(out)
    root.mkdir(parents=True, exist_ok=True)
    scene = scene_for(config)
    registry = write_registry(root / "registry.gpkg", **registry_frames(scene))
    orthos, truths, frame_dirs = [], [], []
    for epoch in range(1, config.epochs + 1):
        edir = root / f"epoch{epoch}"
        edir.mkdir(exist_ok=True)
        style = style_for(config, epoch)
        objects, violations = truth_frames(scene, epoch)
        truth_path = edir / "truth.gpkg"
        truth_path.unlink(missing_ok=True)
        objects.to_file(truth_path, layer="objects", driver="GPKG", engine="pyogrio")
        violations.to_file(truth_path, layer="violations", driver="GPKG", engine="pyogrio")
        truths.append(truth_path)

        def step(done: int, total: int, epoch: int = epoch) -> None:
            if progress is not None:
                progress(f"epoch {epoch} ortho", done, total)

        orthos.append(render_ortho(scene, epoch, style, edir / "ortho.tif", progress=step))
        meta = {
            "epoch": epoch,
            "survey_date": scene.dates[epoch - 1].isoformat(),
            "gsd_cm": config.gsd_cm,
            "crs": config.crs,
            "style": asdict(style),
            "counts": objects.groupby("category").size().to_dict(),
        }
        (edir / "epoch.json").write_text(json.dumps(meta, indent=2), encoding="utf-8")
        if frames:
            fdir = edir / "frames"
            renderer = renderer_for(scene, epoch, style)
            vio = violations[violations.object_class.isin(["shed", "building"])]
            pts = [(g.centroid.x, g.centroid.y) for g in vio.geometry] or [
                ((scene.bounds[0] + scene.bounds[2]) / 2, (scene.bounds[1] + scene.bounds[3]) / 2)
            ]
            records = write_frames(renderer, fdir, config.crs, scene.dates[epoch - 1], pts,
                                   config.seed * 10 + epoch)
            (edir / "frames_truth.json").write_text(json.dumps(records, indent=2), encoding="utf-8")
            frame_dirs.append(fdir)
            if progress is not None:
                progress(f"epoch {epoch} frames", 1, 1)
    world = {
        "config": asdict(config),
        "origin": list(scene.origin),
        "bounds": list(scene.bounds),
        "survey_dates": [d.isoformat() for d in scene.dates],
        "districts": sorted({j.district for j in scene.jurisdictions}),
        "squads": sorted({j.squad for j in scene.jurisdictions}),
    }
    (root / "world.json").write_text(json.dumps(world, indent=2), encoding="utf-8")
    return SynthResult(root, registry, orthos, truths, frame_dirs)

"""A survey spread over Dask: one orthophoto cut into overlapping tiles, surveyed in one
process and on a Dask cluster of 1 and 2 workers (one thread each) on this machine.

``SKYPATROL_BENCH_CLUSTER_M`` sets the district's side (default 2000 m: 4 km² at 5 cm).
Every run is ``skypatrol detect`` against the same Prefect server (``prefect server start``),
so the numbers compare distribution, not engine start-up.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

SIZE_M = float(os.environ.get("SKYPATROL_BENCH_CLUSTER_M", "2000"))
TILES_PER_SIDE = 3
OVERLAP_M = 20.0


def cut_tiles(ortho: Path, out: Path, n: int, overlap_m: float) -> list[Path]:
    """Cut an orthophoto into n x n tiles that overlap by ``overlap_m``."""
    import rasterio
    from rasterio.windows import Window

    out.mkdir(parents=True, exist_ok=True)
    tiles = []
    with rasterio.open(ortho) as ds:
        ov = int(overlap_m / abs(ds.transform.a))
        step_c, step_r = ds.width // n, ds.height // n
        for i in range(n):
            for j in range(n):
                c0, r0 = max(0, j * step_c - ov), max(0, i * step_r - ov)
                c1 = ds.width if j == n - 1 else min(ds.width, (j + 1) * step_c + ov)
                r1 = ds.height if i == n - 1 else min(ds.height, (i + 1) * step_r + ov)
                win = Window(c0, r0, c1 - c0, r1 - r0)
                profile = {**ds.profile, "width": win.width, "height": win.height,
                           "transform": ds.window_transform(win), "tiled": True,
                           "blockxsize": 512, "blockysize": 512}  # its own compression
                path = out / f"tile_{i}_{j}.tif"
                with rasterio.open(path, "w", **profile) as dst:
                    for _, block in dst.block_windows(1):
                        src_win = Window(block.col_off + c0, block.row_off + r0, block.width,
                                         block.height)
                        dst.write(ds.read(window=src_win), window=block)
                tiles.append(path)
    return tiles


def _survey(tiles: list[Path], registry: Path, out: Path, env: dict[str, str],
            address: str | None) -> dict[str, Any]:
    from benchmarks.local_cluster import BIN

    cmd = [str(BIN / "skypatrol"), "detect", *map(str, tiles), "--registry", str(registry),
           "--out", str(out), "--cases", str(out.parent / f"{out.name}.gpkg"),
           "--survey-id", "B1", "--date", "2026-05-01"]
    if address:
        cmd += ["--dask-address", address]
    t0 = time.perf_counter()
    subprocess.run(cmd, env=env, check=True, capture_output=True)
    wall = time.perf_counter() - t0
    fc = json.loads((out / "tasks.geojson").read_text(encoding="utf-8"))["features"]
    tasks = sorted((f["properties"]["task_id"], round(f["properties"]["area_m2"], 2))
                   for f in fc)
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    return {"wall_s": round(wall, 1), "tasks": tasks,
            "stage_timings_s": summary["stage_timings_s"]}


def run() -> dict[str, object]:
    from benchmarks.common import machine
    from benchmarks.local_cluster import local_cluster
    from geodata.synthetic import WorldConfig, synthesize

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        t0 = time.perf_counter()
        world = synthesize(root / "world", WorldConfig(size_m=SIZE_M, seed=31, epochs=1),
                           frames=False)
        synth_s = time.perf_counter() - t0
        tiles = cut_tiles(world.orthos[0], root / "tiles", TILES_PER_SIDE, OVERLAP_M)
        km2 = SIZE_M**2 / 1e6
        runs: dict[str, dict[str, Any]] = {}
        for label, workers in (("one process", 0), ("dask, 1 worker", 1),
                               ("dask, 2 workers", 2)):
            with local_cluster(root / f"cluster{workers}", n_workers=max(1, workers)) as (
                    address, env):
                runs[label] = _survey(tiles, world.registry, root / f"out{workers}", env,
                                      address if workers else None)
        base = runs["one process"]
        n = len(tiles)
        out: dict[str, object] = {
            "benchmark": "cluster",
            "size_m": SIZE_M, "area_km2": km2, "tiles": n, "overlap_m": OVERLAP_M,
            "synth_s": round(synth_s, 1),
            "same_tasks": all(r["tasks"] == base["tasks"] for r in runs.values()),
            "n_tasks": len(base["tasks"]),
            "runs": {k: {"wall_s": v["wall_s"],
                         "km2_per_min_wall": round(km2 / (v["wall_s"] / 60), 3),
                         "stage_timings_s": v["stage_timings_s"]} for k, v in runs.items()},
            "two_workers_vs_one_process": round(base["wall_s"]
                                                / runs["dask, 2 workers"]["wall_s"], 3),
            "scheduler_overhead_per_tile_s": round(
                (runs["dask, 1 worker"]["wall_s"] - base["wall_s"]) / n, 2),
            "goal": "the same tasks; 2 workers' throughput within 15 % of one process",
            "machine": machine(),
        }
        return out

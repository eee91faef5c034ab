"""Georeferencing 100 nadir 20-megapixel DJI photos: time and peak memory."""

from __future__ import annotations

import datetime as dt
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def child(n: int) -> None:
    from PIL import Image
    from pyproj import Transformer

    from benchmarks.common import peak_rss_mb
    from geodata.camera import PHANTOM4PRO, Pose
    from geodata.georef import georeference_frame, read_dji_pose
    from geodata.synthetic import WorldConfig, build_scene
    from geodata.synthetic.frames import render_frame, write_dji_jpeg
    from geodata.synthetic.render import Renderer, random_style

    scene = build_scene(WorldConfig(size_m=300, seed=7002))
    renderer = Renderer(scene, 1, random_style(7002, 1))
    x0, y0, x1, y1 = scene.bounds
    to_ll = Transformer.from_crs("EPSG:4549", "EPSG:4326", always_xy=True)
    rng = np.random.default_rng(1)
    with tempfile.TemporaryDirectory() as tmp:
        base = Pose((x0 + x1) / 2, (y0 + y1) / 2, 40.0, 0.0, -90.0)
        img = render_frame(renderer, PHANTOM4PRO, base)  # one full-size 5472 x 3648 render
        paths = []
        for k in range(n):  # the same pixels under 100 different poses
            pose = Pose(base.x + rng.uniform(-60, 60), base.y + rng.uniform(-60, 60),
                        float(rng.uniform(30, 60)), float(rng.uniform(-180, 180)), -90.0)
            p = Path(tmp) / f"DJI_{k:04d}.JPG"
            write_dji_jpeg(p, img, PHANTOM4PRO, pose, to_ll.transform(pose.x, pose.y),
                           dt.datetime(2026, 4, 1, 10))
            paths.append(p)
        del img, renderer, scene
        import gc
        import threading

        import psutil

        gc.collect()
        proc = psutil.Process()
        rss_before = proc.memory_info().rss / 2**20
        peak = [rss_before]
        done = threading.Event()

        def sample() -> None:  # the georeferencing's own peak, not the set-up's
            while not done.is_set():
                peak[0] = max(peak[0], proc.memory_info().rss / 2**20)
                time.sleep(0.02)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        t0 = time.perf_counter()
        for p in paths:
            frame = read_dji_pose(p, "EPSG:4549")
            with Image.open(p) as im:
                rgb = np.asarray(im.convert("RGB"))
            out = georeference_frame(rgb, frame, Path(tmp) / "geo.tif")
            out.unlink()
        wall = time.perf_counter() - t0
        done.set()
    print(json.dumps({"photos": n, "megapixels": 20.0, "georef_wall_s": round(wall, 1),
                      "s_per_photo": round(wall / n, 2),
                      "georef_peak_rss_mb": round(peak[0]),
                      "rss_before_georef_mb": round(rss_before),
                      "process_peak_rss_mb": round(peak_rss_mb())}))


def run(n: int = 100) -> dict[str, object]:
    from benchmarks.common import machine, run_child

    res = run_child("benchmarks.bench_georef", str(n))
    res.update(benchmark="georef_photos", machine=machine())
    return res


if __name__ == "__main__" and "--child" in sys.argv:
    child(int(sys.argv[-1]))

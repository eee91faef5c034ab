"""Inference time per tile on this CPU: the shipped model's .pt, ONNX and int8 ONNX weights."""

from __future__ import annotations

import json
import sys
import time

import numpy as np

RUNTIMES = ("pt", "onnx", "onnx-int8")


def child() -> None:
    from geodata.synthetic import WorldConfig, build_scene
    from geodata.synthetic.render import Renderer, random_style
    from models.runtime import Detector

    scene = build_scene(WorldConfig(size_m=200, seed=7001))
    r = Renderer(scene, 1, random_style(7001, 1))
    x0, y0, x1, y1 = scene.bounds
    rng = np.random.default_rng(0)
    out: dict[str, object] = {}
    for runtime in RUNTIMES:
        det = Detector(runtime=runtime)
        size = det.card.imgsz
        tiles = [r.render(float(rng.uniform(x0, x1 - 40)), float(rng.uniform(y0 + 40, y1)),
                          0.1, size, size) for _ in range(24)]
        det.predict(tiles[:2])  # warm-up
        t0, c0 = time.perf_counter(), time.process_time()
        for tile in tiles:
            det.predict([tile])
        n = len(tiles)
        key = runtime.replace("-", "_")
        out[f"{key}_ms_per_tile"] = round((time.perf_counter() - t0) / n * 1000, 1)
        out[f"{key}_cpu_ms_per_tile"] = round((time.process_time() - c0) / n * 1000, 1)
        t0, c0 = time.perf_counter(), time.process_time()
        for i in range(0, n, 8):  # as the survey runs it: batches of 8
            det.predict(tiles[i:i + 8])
        out[f"{key}_batched_ms_per_tile"] = round((time.perf_counter() - t0) / n * 1000, 1)
        out[f"{key}_batched_cpu_ms_per_tile"] = round(
            (time.process_time() - c0) / n * 1000, 1)
        out["imgsz"] = size
    print(json.dumps(out))


def run() -> dict[str, object]:
    from benchmarks.common import machine, run_child

    res = run_child("benchmarks.bench_infer")
    cpu = {r: res[f"{r.replace('-', '_')}_batched_cpu_ms_per_tile"] for r in RUNTIMES}
    res.update(benchmark="infer_tile", machine=machine(), faster=min(cpu, key=cpu.__getitem__))
    return res


if __name__ == "__main__" and "--child" in sys.argv:
    child()

"""Map tiles of ``skypatrol web`` over a 1 km² survey at 5 cm: latency as a browser sees it.

The survey's orthophoto (20000 x 20000 px, the detection benchmark's cached world) is entered
in a case register as one survey; ``skypatrol web`` serves it on a loopback port in its own
process. A client then pans and zooms like an analyst: at each zoom level 15-22, screens of
1280 x 800 px centred at random points of the survey, each screen's tiles fetched six at a
time (a browser's connections per host). Latency is per tile, first views (the server's
readers are new: ``cold``) and then the rest (``warm``).
"""

from __future__ import annotations

import datetime as dt
import math
import os
import random
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

SIZE_M = float(os.environ.get("SKYPATROL_BENCH_WEB_M", "1000"))
ZOOMS = range(15, 23)
SCREENS_PER_ZOOM = 6
SCREEN_PX = (1280, 800)
CONNECTIONS = 6


def register_of(ortho: Path, cases: Path) -> tuple[float, float, float, float]:
    """A register holding one survey of ``ortho`` (no findings); returns its WGS84 bounds."""
    import geopandas as gpd
    import rasterio
    import shapely

    from pipeline.cases import update_register

    with rasterio.open(ortho) as ds:
        cov, crs = shapely.box(*ds.bounds), ds.crs
    empty = gpd.GeoDataFrame({"category": [], "object_class": [], "area_m2": [],
                              "confidence": [], "parcel_id": [], "district": [],
                              "squad": [], "source": []},
                             geometry=gpd.GeoSeries([], crs=crs), crs=crs)
    update_register(cases, "B1", dt.date(2026, 5, 1), cov, empty, imagery=[str(ortho)])
    w, s, e, n = gpd.GeoSeries([cov], crs=crs).to_crs(4326).total_bounds
    return float(w), float(s), float(e), float(n)


def screen_tiles(lon: float, lat: float, z: int) -> list[tuple[int, int, int]]:
    """The 256 px tiles a 1280 x 800 screen centred at (lon, lat) shows at zoom z."""
    n = 2 ** z
    x = (lon + 180) / 360 * n
    y = (1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n
    hw, hh = SCREEN_PX[0] / 512, SCREEN_PX[1] / 512
    return [(int(tx), int(ty), z)
            for tx in range(int(x - hw), int(x + hw) + 1)
            for ty in range(int(y - hh), int(y + hh) + 1)
            if 0 <= tx < n and 0 <= ty < n]


def measure(base: str, bounds: tuple[float, float, float, float],
            seed: int = 5) -> dict[str, Any]:
    """Pan and zoom over the survey; latency per tile (ms), cold (first screen of each zoom)
    and warm."""
    import httpx
    import numpy as np

    rng = random.Random(seed)
    w, s, e, n = bounds
    cold: list[float] = []
    warm: list[float] = []
    per_zoom: dict[int, list[float]] = {}
    with httpx.Client(base_url=base, timeout=30,
                      limits=httpx.Limits(max_connections=CONNECTIONS)) as client:
        def get(t: tuple[int, int, int]) -> float:
            x, y, z = t
            t0 = time.perf_counter()
            r = client.get(f"/tiles/B1/{z}/{x}/{y}")
            r.raise_for_status()
            return (time.perf_counter() - t0) * 1000

        with ThreadPoolExecutor(CONNECTIONS) as pool:
            for z in ZOOMS:
                for k in range(SCREENS_PER_ZOOM):
                    lon, lat = rng.uniform(w, e), rng.uniform(s, n)
                    ms = list(pool.map(get, screen_tiles(lon, lat, z)))
                    (cold if k == 0 and z == ZOOMS[0] else warm).extend(ms)
                    per_zoom.setdefault(z, []).extend(ms)

    def stats(v: list[float]) -> dict[str, float]:
        a = np.asarray(v)
        return {"n": int(a.size), "p50_ms": round(float(np.percentile(a, 50)), 1),
                "p95_ms": round(float(np.percentile(a, 95)), 1),
                "max_ms": round(float(a.max()), 1)}

    return {"cold": stats(cold), "warm": stats(warm),
            "per_zoom": {str(z): stats(v) for z, v in per_zoom.items()}}


def run() -> dict[str, Any]:
    """The tile benchmark's result (``make bench`` ``web``)."""
    from benchmarks.bench_detect import world
    from benchmarks.common import machine
    from pipeline.web import free_port

    t0 = time.perf_counter()
    ortho, _ = world(SIZE_M)
    render_s = time.perf_counter() - t0
    with tempfile.TemporaryDirectory() as tmp:
        cases = Path(tmp) / "cases.gpkg"
        bounds = register_of(ortho, cases)
        port = free_port()
        proc = subprocess.Popen([sys.executable, "-m", "skypatrol.cli", "web", "--cases",
                                 str(cases), "--port", str(port)],
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        try:
            import httpx

            base = f"http://127.0.0.1:{port}"
            for _ in range(300):
                try:
                    httpx.get(base + "/api/surveys", timeout=2).raise_for_status()
                    break
                except httpx.HTTPError:
                    time.sleep(0.2)
            result = measure(base, bounds)
        finally:
            proc.terminate()
            proc.wait(30)
    return {
        "benchmark": "web",
        "what": f"map tiles of a {SIZE_M / 1000:g} km side survey at 5 cm "
                f"({int(SIZE_M / 0.05)} px square), zoom {ZOOMS[0]}-{ZOOMS[-1]}, "
                f"{SCREENS_PER_ZOOM} screens of {SCREEN_PX[0]}x{SCREEN_PX[1]} px per zoom, "
                f"{CONNECTIONS} connections",
        "orthophoto_render_s": round(render_s, 1),
        **result,
        "goal": "warm tile latency p95 under 150 ms",
        "machine": machine(),
    }

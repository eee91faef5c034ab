"""The real djitellopy client flies planned missions against the simulator."""

import json

import numpy as np
import pytest
import rasterio
import shapely
from PIL import Image
from rasterio.enums import Resampling
from shapely.geometry import box

from drone.executor import ExecConfig, execute
from drone.plan import TELLO, PlanRequest, plan_survey
from geodata.georef import georeference_frame, read_tello_pose
from tests.drone.conftest import final_state

pytestmark = pytest.mark.slow
CRS = "EPSG:4549"


@pytest.fixture
def mission(tiny_world):
    x0, y0, x1, y1 = json.loads((tiny_world / "world.json").read_text())["bounds"]
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    aoi = box(cx - 8, cy - 6, cx + 8, cy + 6)
    plan = plan_survey(PlanRequest(aoi, CRS, TELLO, altitude_m=9.0, front_overlap=0.5,
                                   side_overlap=0.4, takeoff=(cx - 10, cy - 8)))
    return plan, aoi


_PORTS = iter(range(11200, 11300))


def tello(retries=3):
    """A real djitellopy client; each flight gets its own video port (a stalled stream
    keeps its port until the process ends)."""
    from djitellopy import Tello

    port = next(_PORTS)
    t = Tello("192.168.10.1", retry_count=retries, vs_udp=port)
    t.change_vs_udp(port)
    return t


def test_mission_flown_end_to_end_georeferences_onto_the_world(tiny_world, start_sim,
                                                                mission, tmp_path):
    plan, aoi = mission
    m = plan["missions"][0]
    state = start_sim(tiny_world, (m["takeoff"]["x"], m["takeoff"]["y"]))
    log = execute(m, tello(), tmp_path / "flight", ExecConfig(settle_s=1.5))
    assert log["status"] == "ok", log["reason"]
    assert log["n_captures"] == len(m["waypoints"])
    end = final_state(state)
    assert not end["flying"] and end["h_cm"] == 0
    assert abs(end["x"] - m["takeoff"]["x"]) < 0.5 and abs(end["y"] - m["takeoff"]["y"]) < 0.5
    frames = [read_tello_pose(tmp_path / "flight" / c["image"], CRS) for c in log["captures"]]
    cover = shapely.union_all([f.footprint() for f in frames])
    assert cover.buffer(0.01).covers(aoi)
    # a capture lands on the world: it matches the orthophoto where it says it is
    f0 = frames[len(frames) // 2]
    rgb = np.asarray(Image.open(tmp_path / "flight" / log["captures"][len(frames) // 2]
                                ["image"]).convert("RGB"))
    tif = georeference_frame(rgb, f0, tmp_path / "geo.tif", gsd_m=0.1)
    with rasterio.open(tif) as g, rasterio.open(tiny_world / "epoch1" / "ortho.tif") as o:
        a = g.read().astype(float)
        valid = g.read_masks(1) > 0
        diffs = []
        for dx in (0.0, 3.0):
            win = rasterio.windows.from_bounds(g.bounds.left + dx, g.bounds.bottom,
                                               g.bounds.right + dx, g.bounds.top, o.transform)
            b = o.read(window=win, out_shape=a.shape, resampling=Resampling.average,
                       boundless=True).astype(float)
            diffs.append(np.abs(a - b)[:, valid].mean())
        assert diffs[0] < 15 and diffs[0] < diffs[1]


@pytest.mark.parametrize("fault", [
    ("--drop-replies", "0.15"),
    ("--link-loss-after-s", "0.6", "--auto-land-s", "2"),
    ("--battery", "45", "--drain-per-s", "6"),
])
def test_faults_end_landed_with_log_and_captures_kept(tiny_world, start_sim, mission,
                                                      tmp_path, fault):
    plan, _ = mission
    m = plan["missions"][0]
    state = start_sim(tiny_world, (m["takeoff"]["x"], m["takeoff"]["y"]), *fault)
    t = tello(retries=2 if fault[0] == "--link-loss-after-s" else 3)
    log = execute(m, t, tmp_path / "flight", ExecConfig(min_battery_pct=20, command_timeout_s=2))
    logfile = tmp_path / "flight" / f"flight_log_mission_{m['index']}.json"
    assert json.loads(logfile.read_text())["status"] == log["status"]
    for c in log["captures"]:
        assert (tmp_path / "flight" / c["image"]).exists()
        assert (tmp_path / "flight" / c["image"].replace(".jpg", ".json")).exists()
    import time

    for _ in range(60):  # the link-loss drone lands by itself once commands stop
        if not final_state(state)["flying"]:
            break
        time.sleep(0.1)
    assert not final_state(state)["flying"]
    if fault[0] != "--drop-replies":
        assert log["status"] == "aborted" and log["reason"]
    if fault[0] == "--battery":
        assert "battery" in log["reason"]

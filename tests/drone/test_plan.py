import dataclasses
import json

import pytest
import shapely
from click.testing import CliRunner
from shapely.geometry import box

from drone import load_plan
from drone.plan import PHANTOM, TELLO, PlanError, PlanRequest, plan_survey
from geodata.camera import Pose, footprint
from geodata.crs import to_wgs84
from skypatrol.cli import cli

CRS = "EPSG:4549"
X, Y = 529000.0, 3493000.0


def covered(plan, aoi):
    cam = dataclasses.replace(PHANTOM.camera if plan["drone"] == "phantom4pro" else TELLO.camera)
    fps = [footprint(cam, Pose(w["x"], w["y"], w["alt_m"], 0.0, -90.0))
           for m in plan["missions"] for w in m["waypoints"]]
    return shapely.union_all(fps), fps


@pytest.mark.parametrize(("drone", "aoi", "alt"), [
    (TELLO, box(X, Y, X + 40, Y + 25), 10.0),
    (PHANTOM, shapely.affinity.rotate(box(X, Y, X + 400, Y + 150), 30), 60.0),
])
def test_plan_covers_the_aoi_with_the_planned_overlap(drone, aoi, alt):
    plan = plan_survey(PlanRequest(aoi, CRS, drone, altitude_m=alt, front_overlap=0.7,
                                   side_overlap=0.6))
    union, fps = covered(plan, aoi)
    assert union.buffer(0.01).covers(aoi)
    # neighbours along a line share about the front overlap
    w = plan["missions"][0]["waypoints"]
    a, b = footprint(drone.camera, Pose(w[0]["x"], w[0]["y"], alt, 0.0, -90.0)), \
        footprint(drone.camera, Pose(w[1]["x"], w[1]["y"], alt, 0.0, -90.0))
    assert plan["capture_spacing_m"] == pytest.approx(
        drone.camera.height * alt / drone.camera.focal_px * 0.3, rel=0.01)
    assert a.intersects(b)
    for m in plan["missions"]:
        assert m["duration_s"] <= drone.flight_time_s * (1 - drone.reserve) + 1e-6


def test_long_axis_orientation():
    aoi = shapely.affinity.rotate(box(X, Y, X + 400, Y + 100), 30, origin=(X, Y))
    plan = plan_survey(PlanRequest(aoi, CRS, PHANTOM, altitude_m=60))
    assert plan["flight_direction_deg"] % 180 == pytest.approx(60.0, abs=1.0)  # 30 deg from east


def test_tello_commands_respect_the_sdk_limits():
    plan = plan_survey(PlanRequest(box(X, Y, X + 60, Y + 40), CRS, TELLO, altitude_m=12))
    assert len(plan["missions"]) >= 1 and plan["relative_to_takeoff"]
    for m in plan["missions"]:
        cmds = m["sdk_commands"]
        assert cmds[0] == "command" and "takeoff" in cmds and cmds[-1] == "land"
        for c in cmds:
            if c.startswith("go "):
                x, y, z, speed = map(int, c.split()[1:])
                assert max(abs(x), abs(y), abs(z)) <= 500 and max(abs(x), abs(y)) >= 20
                assert 10 <= speed <= 100
            if c.startswith("up "):
                assert 20 <= int(c.split()[1]) <= 500
        # the moves add up to a return to the take-off point
        dx = sum(int(c.split()[1]) for c in cmds if c.startswith("go "))
        dy = sum(int(c.split()[2]) for c in cmds if c.startswith("go "))
        assert abs(dx) < 40 and abs(dy) < 40


def test_battery_splits_long_surveys_into_missions():
    plan = plan_survey(PlanRequest(box(X, Y, X + 60, Y + 60), CRS, TELLO, altitude_m=8))
    assert len(plan["missions"]) > 1
    total = sum(len(m["waypoints"]) for m in plan["missions"])
    assert total == len({(w["x"], w["y"]) for m in plan["missions"] for w in m["waypoints"]})


def test_impossible_plans_are_refused_with_the_reason():
    with pytest.raises(PlanError, match="range is 100 m"):
        plan_survey(PlanRequest(box(X, Y, X + 400, Y + 300), CRS, TELLO, altitude_m=10))
    with pytest.raises(PlanError, match="above the phantom4pro's cap of 120 m"):
        plan_survey(PlanRequest(box(X, Y, X + 400, Y + 300), CRS, PHANTOM, altitude_m=150))
    weak = dataclasses.replace(TELLO, flight_time_s=40.0)
    with pytest.raises(PlanError, match="battery allows"):
        plan_survey(PlanRequest(box(X, Y, X + 20, Y + 20), CRS, weak, altitude_m=10,
                                takeoff=(X - 10, Y - 10)))


def test_plan_cli_writes_files_and_refuses_with_exit_2(tmp_path):
    aoi = to_wgs84(box(X, Y, X + 50, Y + 30), CRS)
    (tmp_path / "aoi.geojson").write_text(json.dumps(
        {"type": "Feature", "geometry": shapely.geometry.mapping(aoi), "properties": {}}))
    r = CliRunner().invoke(cli, ["plan", "--aoi", str(tmp_path / "aoi.geojson"), "--out",
                                 str(tmp_path / "p"), "--drone", "tello", "--altitude-m", "10",
                                 "--crs", CRS])
    assert r.exit_code == 0, r.output
    plan = load_plan(tmp_path / "p")
    assert [m["index"] for m in plan["missions"]] == list(range(1, len(plan["missions"]) + 1))
    assert (tmp_path / "p" / "plan.geojson").exists()
    assert (tmp_path / "p" / "mission_1.txt").read_text().startswith("command\n")
    r = CliRunner().invoke(cli, ["plan", "--aoi", str(tmp_path / "aoi.geojson"), "--out",
                                 str(tmp_path / "q"), "--drone", "phantom4pro",
                                 "--altitude-m", "200"])
    assert r.exit_code == 2 and "cap of 120 m" in r.output
    r = CliRunner().invoke(cli, ["plan", "--aoi", str(tmp_path / "aoi.geojson"), "--out",
                                 str(tmp_path / "r"), "--drone", "phantom4pro", "--gsd-cm", "2"])
    assert r.exit_code == 0 and (tmp_path / "r" / "mission_1.csv").exists()


def test_missions_over_open_cases_fly_first(tmp_path):
    import datetime as dt

    import geopandas as gpd

    from drone.fly import missions_by_open_cases
    from pipeline.cases import update_register

    plan = plan_survey(PlanRequest(box(X, Y, X + 60, Y + 60), CRS, TELLO, altitude_m=8))
    assert len(plan["missions"]) > 1
    last = plan["missions"][-1]["waypoints"][0]
    site = box(last["x"] - 1, last["y"] - 1, last["x"] + 1, last["y"] + 1)
    v = gpd.GeoDataFrame({"category": ["illegal_construction"], "object_class": ["shed"],
                          "area_m2": [4.0], "confidence": [0.9], "parcel_id": ["P1"],
                          "district": ["D"], "squad": ["S"], "source": ["o.tif"]},
                         geometry=[site], crs=CRS)
    update_register(tmp_path / "c.gpkg", "S1", dt.date(2026, 3, 1), box(X, Y, X + 60, Y + 60), v)
    ordered = missions_by_open_cases(plan, tmp_path / "c.gpkg")
    order = [m["index"] for m in ordered]
    first = shapely.MultiPoint([(w["x"], w["y"]) for w in ordered[0]["waypoints"]])
    assert first.convex_hull.buffer(10).intersects(site)
    assert order != sorted(order), "a mission over the open case moved forward"
    assert sorted(order) == [m["index"] for m in plan["missions"]]


@pytest.mark.parametrize(("content", "needle"), [
    ({"type": "FeatureCollection", "features": []}, "no features"),
    ({"type": "Feature", "geometry": None, "properties": {}}, "no polygon"),
    ([1, 2, 3], "not a GeoJSON object"),
    ({"type": "Polygon", "coordinates": [[[120.3, "NaN"], [120.4, 31.5], [120.3, 31.6],
                                          [120.3, "NaN"]]]}, "feature 0"),
    ({"type": "Polygon", "coordinates": [[[529000, 3493000], [529050, 3493000],
                                          [529050, 3493050], [529000, 3493000]]]},
     "not WGS84"),
])
def test_odd_aois_are_refused_with_a_message_not_a_traceback(tmp_path, content, needle):
    (tmp_path / "aoi.geojson").write_text(json.dumps(content).replace('"NaN"', "NaN"))
    r = CliRunner().invoke(cli, ["plan", "--aoi", str(tmp_path / "aoi.geojson"), "--out",
                                 str(tmp_path / "p"), "--drone", "tello", "--altitude-m", "10"])
    assert r.exit_code == 2, r.output
    assert needle in r.output and "Traceback" not in r.output


def test_a_one_part_multipolygon_from_qgis_is_an_aoi(tmp_path):
    aoi = to_wgs84(box(X, Y, X + 50, Y + 30), CRS)
    multi = {"type": "MultiPolygon", "coordinates": [shapely.geometry.mapping(aoi)["coordinates"]]}
    (tmp_path / "aoi.geojson").write_text(json.dumps(
        {"type": "FeatureCollection", "features": [
            {"type": "Feature", "geometry": multi, "properties": {}}]}))
    r = CliRunner().invoke(cli, ["plan", "--aoi", str(tmp_path / "aoi.geojson"), "--out",
                                 str(tmp_path / "p"), "--drone", "tello", "--altitude-m", "10",
                                 "--crs", CRS])
    assert r.exit_code == 0, r.output


def test_a_large_aoi_is_refused_for_range_before_it_is_planned(monkeypatch):
    import drone.plan

    def no_lawnmower(*args, **kwargs):
        raise AssertionError("planned 9 km² of waypoints before checking the range")

    monkeypatch.setattr(drone.plan, "lawnmower", no_lawnmower)
    with pytest.raises(PlanError, match="range is 100 m"):
        plan_survey(PlanRequest(box(X, Y, X + 3000, Y + 3000), CRS, TELLO, altitude_m=10))

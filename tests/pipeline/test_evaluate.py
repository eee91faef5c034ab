"""Scoring a survey against a synthetic world's truth."""

import json

import geopandas as gpd
from shapely.geometry import Polygon, box, mapping

from pipeline.evaluate import evaluate_survey

CRS = "EPSG:4549"
X, Y = 529000.0, 3493000.0


def test_a_task_outline_that_touches_itself_is_scored_not_fatal(tmp_path):
    # a true 10 x 10 m illegal building, and a task outlining it whose ring crosses itself
    # at one corner (as a GeoJSON round trip can leave one): GEOS refuses to intersect it
    truth = gpd.GeoDataFrame(
        {"site_id": ["S1"], "category": ["illegal_construction"], "violation_area_m2": [100.0]},
        geometry=[box(X, Y, X + 10, Y + 10)], crs=CRS)
    (tmp_path / "world" / "epoch1").mkdir(parents=True)
    truth.to_file(tmp_path / "world" / "epoch1" / "truth.gpkg", layer="violations")
    bowtie = Polygon([(X, Y), (X + 10, Y), (X + 10, Y + 10), (X + 10.5, Y + 9.5),
                      (X + 10, Y + 9), (X, Y + 10)])
    assert not bowtie.is_valid
    tasks = gpd.GeoDataFrame({"category": ["illegal_construction"], "area_m2": [100.0]},
                             geometry=[bowtie], crs=CRS).to_crs(4326)
    out = tmp_path / "survey"
    out.mkdir()
    (out / "tasks.geojson").write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"category": "illegal_construction",
                                           "area_m2": 100.0},
         "geometry": mapping(tasks.geometry.iloc[0])}]}))
    per = evaluate_survey(tmp_path / "world", 1, out)["per_category"]["illegal_construction"]
    assert per["precision"] == 1.0 and per["recall"] == 1.0


def test_each_setting_reports_its_recall_and_whether_found_ones_are_measured_whole(tmp_path):
    # a 10 x 10 m annex measured only to 10 x 5 m (IoU 0.5: found, but half its area), a
    # yard shed nobody found, and a billboard found by the first task (other categories'
    # rows come before and between, so positions within a category must line up)
    truth = gpd.GeoDataFrame(
        {"site_id": ["S3", "S2", "S1"],
         "category": ["illegal_billboard", "illegal_construction", "illegal_construction"],
         "violation_area_m2": [6.0, 16.0, 100.0],
         "note": ["pole_billboard", "yard_shed", "annex_lower"]},
        geometry=[box(X + 80, Y, X + 86, Y + 1), box(X + 50, Y, X + 54, Y + 4),
                  box(X, Y, X + 10, Y + 10)], crs=CRS, index=[7, 3, 5])
    (tmp_path / "world" / "epoch1").mkdir(parents=True)
    truth.to_file(tmp_path / "world" / "epoch1" / "truth.gpkg", layer="violations")
    out = tmp_path / "survey"
    out.mkdir()
    wgs = gpd.GeoSeries([box(X + 80, Y, X + 86, Y + 1), box(X, Y, X + 10, Y + 5)],
                        crs=CRS).to_crs(4326)
    (out / "tasks.geojson").write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"category": c, "area_m2": a}, "geometry": mapping(g)}
        for c, a, g in zip(["illegal_billboard", "illegal_construction"], [6.0, 50.0], wgs)]}))
    per = evaluate_survey(tmp_path / "world", 1, out)["per_category"]
    built = per["illegal_construction"]
    assert built["recall"] == 0.5
    annex, shed = built["per_setting"]["annex_lower"], built["per_setting"]["yard_shed"]
    assert (annex["found"], annex["true"], annex["area_ratio_found"]) == (1, 1, 0.5)
    assert (shed["found"], shed["recall"], shed["area_ratio_found"]) == (0, 0.0, None)
    board = per["illegal_billboard"]["per_setting"]["pole_billboard"]
    assert (board["found"], board["area_ratio_found"]) == (1, 1.0)

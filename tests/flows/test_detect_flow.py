"""The survey flow end to end on a tiny synthetic world, through Prefect's real engine."""

import datetime as dt
import json
import re

import geopandas as gpd
import pytest
from affine import Affine
from openpyxl import load_workbook
from shapely.geometry import shape

from flows.detect import detect_flow
from pipeline import survey as sv
from pipeline.cases import read_register
from pipeline.outputs import SHEET_COLUMNS, TASK_FIELDS
from tests.flows.conftest import dates

pytestmark = pytest.mark.slow


def test_outputs_of_the_contract_exist(two_surveys):
    root, s1, _ = two_surveys
    out = root / "s1"
    for name in ("tasks.geojson", "tasks.csv", "tasks.xlsx", "tasks.kml", "resolved.geojson",
                 "detections.gpkg", "summary.json", "report.html"):
        assert (out / name).exists(), name
    det = gpd.read_file(out / "detections.gpkg", layer="detections")
    assert {"class", "score", "source"} <= set(det.columns)
    assert det.crs.to_epsg() == 4549
    summary = json.loads((out / "summary.json").read_text())
    assert summary["survey_id"] == "S1" and summary["imagery_area_km2"] > 0.01
    assert set(summary["stage_timings_s"]) >= {"ingest_s", "detect_s", "diff_s", "cases_s",
                                               "evidence_s", "task_files_s", "report_s",
                                               "work_orders_s"}
    inputs = {i["source"].rsplit("/", 1)[-1]: i for i in summary["inputs"]}
    assert inputs["broken.jpg"]["status"] == "skipped"
    assert inputs["broken.jpg"]["reason"] in ("corrupt_jpeg", "not_an_image")
    assert inputs["ortho.tif"]["status"] == "ok" and len(inputs["ortho.tif"]["sha256"]) == 64
    assert inputs["ortho.tif"]["footprint"]["type"] == "Polygon"
    assert inputs["DJI_0001.JPG"]["status"] == "ok"


def test_tasks_follow_rfc7946_and_carry_every_field(two_surveys):
    root, _, _ = two_surveys
    for k in ("s1", "s2"):
        fc = json.loads((root / k / "tasks.geojson").read_text())
        assert fc["type"] == "FeatureCollection"
        text = (root / k / "tasks.geojson").read_text()
        assert not re.search(r"\d\.\d{8,}", text), "at most 7 decimals"
        for f in fc["features"]:
            assert set(TASK_FIELDS) <= set(f["properties"])
            g = shape(f["geometry"])
            polys = [g] if g.geom_type == "Polygon" else list(g.geoms)
            for p in polys:
                assert p.exterior.is_ccw, "right-hand rule: exterior counter-clockwise"
            p = f["properties"]
            assert 119 < p["lon"] < 122 and 30 < p["lat"] < 33
            assert p["lon_gcj02"] != p["lon"]
            assert (root / k / p["evidence"]).exists()
            assert p["priority"] in (1, 2, 3, 4)
        wb = load_workbook(root / k / "tasks.xlsx")
        squads = {f["properties"]["squad"] for f in fc["features"]}
        assert len(wb.worksheets) == 1 + len(squads), "a summary, then one sheet per squad"
        for ws in wb.worksheets[1:]:
            header = [c.value for c in next(ws.iter_rows(max_row=1))]
            lang = 1 if k == "s2" else 0  # the second survey is in Chinese
            assert header == [c[1 + lang] for c in SHEET_COLUMNS]
        assert (root / k / "tasks.csv").read_text(encoding="utf-8-sig").startswith("task_id,")


def test_detections_and_tasks_name_the_checks_that_decided_them(two_surveys):
    """detections.gpkg: every model detection with its trail and the finding it became; each
    task carries its findings' trail, shown in the report and the work order. (The tiny
    world's structures are all unpermitted sheds, decided by the model alone; trails that
    checks wrote are tested in tests/pipeline/test_diff.py.)"""
    from pipeline.checks import CHECKS, deciding

    root, _, _ = two_surveys
    out = root / "s1"
    det = gpd.read_file(out / "detections.gpkg", layer="detections")
    assert {"checks", "finding"} <= set(det.columns)
    assert all(set(deciding(t)) <= set(CHECKS) for t in det.checks.fillna(""))
    assert set(det.finding.fillna("")) <= {"", "illegal_construction", "green_encroachment",
                                           "illegal_billboard"}
    assert (det.finding.fillna("") != "").any()
    # a detection a check dropped became no finding
    dropped = det[det.checks.fillna("").str.contains(":drop")]
    assert (dropped.finding.fillna("") == "").all()
    tasks = gpd.read_file(out / "tasks.geojson")
    assert "checks" in tasks.columns
    assert all(set(deciding(t)) <= set(CHECKS) for t in tasks.checks.fillna(""))
    report = (out / "report.html").read_text()
    assert "Checks that decided it" in report
    orders = list((out / "squads").glob("*.html"))
    assert orders and all("Checks that decided it" in o.read_text() for o in orders)
    assert "判定依据" in next((root / "s2" / "squads").glob("*.html")).read_text()


def test_second_survey_tracks_cases(two_surveys, tiny_world):
    root, s1, s2 = two_surveys
    cases = read_register(root / "cases.gpkg", "EPSG:4549")
    assert set(cases["surveys"].survey_id) == {"S1", "S2"}
    t1 = json.loads((root / "s1" / "tasks.geojson").read_text())["features"]
    t2 = json.loads((root / "s2" / "tasks.geojson").read_text())["features"]
    ids1 = {f["properties"]["task_id"] for f in t1}
    for f in t2:
        p = f["properties"]
        assert (p["status"] == "persisting") == (p["task_id"] in ids1)
    resolved = json.loads((root / "s2" / "resolved.geojson").read_text())
    assert resolved["type"] == "FeatureCollection"
    for f in resolved["features"]:
        assert f["properties"]["task_id"] in ids1
    assert "整改" in (root / "s2" / "report.html").read_text(encoding="utf-8") or \
        "巡查" in (root / "s2" / "report.html").read_text(encoding="utf-8")


def test_rerunning_a_survey_leaves_the_register_unchanged(two_surveys, tiny_world):
    root, _, _ = two_surveys
    before = read_register(root / "cases.gpkg", "EPSG:4549")
    d2 = dates(tiny_world)[1]
    detect_flow(inputs=[str(tiny_world / "epoch2" / "ortho.tif")],
                registry=str(tiny_world / "registry.gpkg"), out=str(root / "s2"),
                survey_id="S2", survey_date=d2, lang="zh")
    after = read_register(root / "cases.gpkg", "EPSG:4549")
    for name in ("observations", "cases"):
        a = before[name].drop(columns="geometry").reset_index(drop=True)
        b = after[name].drop(columns="geometry").reset_index(drop=True)
        assert a.equals(b), name
    assert len(after["surveys"]) == 2


def test_a_crash_midway_then_rerun_equals_one_clean_run(tiny_world, tmp_path, monkeypatch):
    d1 = dates(tiny_world)[0]
    ortho = str(tiny_world / "epoch1" / "ortho.tif")
    reg = tiny_world / "registry.gpkg"
    clean = sv.run_survey(sv.SurveySpec((ortho,), reg, tmp_path / "clean" / "out",
                                        survey_id="S1", survey_date=d1))
    real = sv.write_outputs

    def crash(*args, **kwargs):
        raise KeyboardInterrupt("killed")

    spec = sv.SurveySpec((ortho,), reg, tmp_path / "crashed" / "out", survey_id="S1",
                         survey_date=d1)
    monkeypatch.setattr(sv, "write_outputs", crash)
    with pytest.raises(KeyboardInterrupt):
        sv.run_survey(spec)
    monkeypatch.setattr(sv, "write_outputs", real)
    again = sv.run_survey(spec)
    assert again["totals"] == clean["totals"]
    a = (tmp_path / "clean" / "out" / "tasks.csv").read_text()
    b = (tmp_path / "crashed" / "out" / "tasks.csv").read_text()
    assert a.splitlines()[1:] == b.splitlines()[1:]


def test_imagery_off_the_registry_is_a_clear_error(tiny_world, tmp_path, make_geotiff):
    from pipeline.ingest import SurveyError

    far = make_geotiff(64, 64, Affine(0.05, 0, 600000, 0, -0.05, 3400000))  # 100 km away
    spec = sv.SurveySpec((str(far),), tiny_world / "registry.gpkg", tmp_path / "o",
                         survey_date=dt.date(2026, 4, 1))
    with pytest.raises(SurveyError, match="covers none of the registry"):
        sv.run_survey(spec)


def test_a_registry_in_another_projected_crs_gives_the_same_tasks(tiny_world, tmp_path):
    """Imagery in CGCS2000 / GK zone 40 (EPSG:4549), the registry in UTM 50N: the imagery's
    detections are brought into the registry's CRS, and the same sites come out."""
    import pyogrio

    d1 = dates(tiny_world)[0]
    ortho = str(tiny_world / "epoch1" / "ortho.tif")
    utm = tmp_path / "registry_utm.gpkg"
    for name, _ in pyogrio.list_layers(tiny_world / "registry.gpkg"):
        layer = gpd.read_file(tiny_world / "registry.gpkg", layer=name)
        layer.to_crs("EPSG:32650").to_file(utm, layer=name, driver="GPKG")
    runs = {}
    for key, reg in (("native", tiny_world / "registry.gpkg"), ("utm", utm)):
        sv.run_survey(sv.SurveySpec((ortho,), reg, tmp_path / key / "out", survey_id="S1",
                                    survey_date=d1))
        runs[key] = gpd.read_file(tmp_path / key / "out" / "tasks.geojson")
    native, other = runs["native"], runs["utm"]
    assert len(native) >= 3 and len(other) == len(native)
    for g in native.geometry:  # both in WGS84: the same sites, the same outlines
        assert max(g.intersection(h).area / g.union(h).area for h in other.geometry) > 0.9
    # areas are measured in each registry's CRS (scale factors differ by well under 1 %)
    assert sorted(other.area_m2) == pytest.approx(sorted(native.area_m2), rel=0.01)


def test_the_flow_and_the_library_give_identical_tasks(prefect_harness, tiny_world, tmp_path):
    """One orchestrator: the Prefect flow runs the library's stage functions, so a survey
    through either gives the same tasks, byte for byte."""
    d1 = dates(tiny_world)[0]
    ortho = str(tiny_world / "epoch1" / "ortho.tif")
    reg = tiny_world / "registry.gpkg"
    sv.run_survey(sv.SurveySpec((ortho,), reg, tmp_path / "lib" / "out",
                                cases=tmp_path / "lib" / "cases.gpkg", survey_id="S1",
                                survey_date=d1))
    detect_flow(inputs=[ortho], registry=str(reg), out=str(tmp_path / "flow" / "out"),
                cases=str(tmp_path / "flow" / "cases.gpkg"), survey_id="S1", survey_date=d1)
    lib = (tmp_path / "lib" / "out" / "tasks.geojson").read_bytes()
    flow = (tmp_path / "flow" / "out" / "tasks.geojson").read_bytes()
    assert len(lib) > 100 and lib == flow


def test_the_flow_uses_the_surveys_checks(prefect_harness, tiny_world, tmp_path):
    """A CHECKS.toml reaches the flow's diff (it used to run DiffConfig() whatever was set)."""
    checks = tmp_path / "checks.toml"
    checks.write_text("[diff]\nmin_violation_m2 = 100000\n")  # nothing is that large here
    summary = detect_flow(inputs=[str(tiny_world / "epoch1" / "ortho.tif")],
                          registry=str(tiny_world / "registry.gpkg"), out=str(tmp_path / "o"),
                          cases=str(tmp_path / "cases.gpkg"), survey_id="S1",
                          survey_date=dates(tiny_world)[0], checks=str(checks))
    per = summary["totals"]["per_category"]
    assert per.get("illegal_construction", {"count": 0})["count"] == 0
    assert per.get("illegal_billboard", {"count": 0})["count"] == 0


def test_outlines_are_corners_not_pixel_staircases(two_surveys):
    import geopandas as gpd

    from pipeline.cases import read_register
    from pipeline.outlines import vertex_count

    root, _, _ = two_surveys
    tasks = gpd.read_file(root / "s2" / "tasks.geojson").to_crs("EPSG:4549")
    if len(tasks) == 0:
        pytest.skip("the survey produced no tasks")
    obs = read_register(root / "cases.gpkg", "EPSG:4549")["observations"]
    raw = obs[obs.survey_id == "S2"].set_index("task_id")
    before = sum(vertex_count(raw.at[t, "geometry"]) for t in tasks.task_id)
    after = sum(vertex_count(g) for g in tasks.geometry)
    assert before >= 5 * after, (before, after)
    for t in tasks.itertuples():
        assert t.geometry.geom_type in ("Polygon", "MultiPolygon")
        assert t.geometry.area == pytest.approx(t.area_m2, rel=0.01)


def test_pages_are_valid_html_and_chinese_throughout(two_surveys):
    import html5lib

    root, _, _ = two_surveys
    parser = html5lib.HTMLParser(strict=True, namespaceHTMLElements=False)
    for k in ("s1", "s2"):
        for page in [root / k / "report.html", *sorted((root / k / "squads").glob("*.html"))]:
            dom = parser.parse(page.read_text(encoding="utf-8"))  # raises on a parse error
            assert dom.find(".//meta[@name='viewport']") is not None, page
    zh = (root / "s2" / "report.html").read_text(encoding="utf-8")
    for english in ("first seen", "resolved<", ">None<"):
        assert english not in zh


def test_bad_input_is_not_retried_but_a_failing_read_is():
    from prefect.states import Failed

    from flows.detect import io_failure
    from pipeline.ingest import SurveyError

    assert not io_failure(None, None, Failed(data=SurveyError("empty survey")))
    assert io_failure(None, None, Failed(data=OSError("NFS read timed out")))

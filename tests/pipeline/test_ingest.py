import datetime as dt
import shutil

import numpy as np
import pytest
import rasterio
from click.testing import CliRunner
from pyproj import Transformer

from geodata.camera import PHANTOM4PRO, Pose
from geodata.synthetic import WorldConfig, build_scene
from geodata.synthetic.frames import render_frame, write_dji_jpeg
from geodata.synthetic.render import Renderer, random_style
from pipeline.ingest import IngestConfig, SurveyError, discover, ingest
from skypatrol.cli import cli

CRS = "EPSG:4549"


@pytest.fixture(scope="module")
def survey(tmp_path_factory, tiny_world):
    """One survey folder holding good inputs and every kind of bad one."""
    d = tmp_path_factory.mktemp("survey")
    scene = build_scene(WorldConfig(size_m=140.0, seed=7, epochs=2, violation_density=4.0))
    renderer = Renderer(scene, 1, random_style(7, 1))
    x0, y0, x1, y1 = scene.bounds
    cam = PHANTOM4PRO.scaled(800)
    to_ll = Transformer.from_crs(CRS, "EPSG:4326", always_xy=True)
    for name, yaw, gps in (("DJI_0001.JPG", 0.0, True), ("DJI_0090.JPG", 90.0, True),
                           ("DJI_NOGPS.JPG", 10.0, False)):
        pose = Pose((x0 + x1) / 2, (y0 + y1) / 2, 40.0, yaw, -90.0)
        ll = to_ll.transform(pose.x, pose.y) if gps else None
        write_dji_jpeg(d / name, render_frame(renderer, cam, pose), cam, pose, ll,
                       dt.datetime(2026, 4, 1, 10))
    raw = (d / "DJI_0001.JPG").read_bytes()
    (d / "DJI_TRUNC.JPG").write_bytes(raw[: len(raw) * 6 // 10])
    shutil.copy(tiny_world / "epoch1" / "ortho.tif", d / "ortho.tif")
    full = (d / "ortho.tif").read_bytes()
    (d / "ortho_trunc.tif").write_bytes(full[: len(full) // 2])
    with rasterio.open(d / "nocrs.tif", "w", driver="GTiff", width=32, height=32, count=3,
                       dtype="uint8", transform=rasterio.Affine(0.05, 0, 0, 0, -0.05, 0)) as dst:
        dst.write(np.zeros((3, 32, 32), np.uint8))
    (d / "notes.txt").write_text("flight notes, not an image")
    (d / "fake.jpg").write_text("not a jpeg at all")
    return d


def by_name(report):
    return {r["source"].rsplit("/", 1)[-1]: r for r in report.records()}


def test_survey_with_bad_inputs_processes_the_good_and_reports_the_bad(survey):
    report = ingest([survey], CRS, IngestConfig(max_skip_ratio=0.7))
    recs = by_name(report)
    assert {n for n, r in recs.items() if r["status"] == "ok"} == {
        "DJI_0001.JPG", "DJI_0090.JPG", "ortho.tif"}
    expected = {
        "DJI_NOGPS.JPG": "no_gps", "DJI_TRUNC.JPG": "corrupt_jpeg",
        "ortho_trunc.tif": "corrupt_raster", "nocrs.tif": "no_crs", "notes.txt": "not_an_image",
        "fake.jpg": "not_an_image",
    }
    for name, reason in expected.items():
        assert recs[name]["status"] == "skipped" and recs[name]["reason"] == reason, name
        assert name in recs[name]["detail"]
    for r in recs.values():
        if r["reason"] != "not_found":
            assert len(r["sha256"]) == 64
    ok = recs["DJI_0090.JPG"]
    assert ok["footprint"]["type"] == "Polygon" and ok["gsd_cm"] == pytest.approx(
        40 / PHANTOM4PRO.scaled(800).focal_px * 100, rel=1e-3)
    lon, lat = ok["footprint"]["coordinates"][0][0]
    assert 119 < lon < 122 and 30 < lat < 33
    # a yaw of 90 degrees turns the footprint: width (east-west) and height swap
    fp0 = np.asarray(recs["DJI_0001.JPG"]["footprint"]["coordinates"][0])
    fp90 = np.asarray(ok["footprint"]["coordinates"][0])
    w0 = np.ptp(fp0[:, 0]) / np.ptp(fp0[:, 1])
    w90 = np.ptp(fp90[:, 0]) / np.ptp(fp90[:, 1])
    assert w0 > 1.2 and w90 < 0.9


@pytest.mark.slow
def test_bad_inputs_in_one_survey_land_in_summary_json(survey, tiny_world, tmp_path):
    import json

    from pipeline import survey as sv

    spec = sv.SurveySpec((str(survey),), tiny_world / "registry.gpkg", tmp_path / "out",
                         survey_id="S-bad", survey_date=dt.date(2026, 4, 1),
                         ingest=IngestConfig(max_skip_ratio=0.7))
    sv.run_survey(spec)
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    recs = {i["source"].rsplit("/", 1)[-1]: i for i in summary["inputs"]}
    assert {n for n, r in recs.items() if r["status"] == "ok"} == {
        "DJI_0001.JPG", "DJI_0090.JPG", "ortho.tif"}
    assert {n: r["reason"] for n, r in recs.items() if r["status"] == "skipped"} == {
        "DJI_NOGPS.JPG": "no_gps", "DJI_TRUNC.JPG": "corrupt_jpeg",
        "ortho_trunc.tif": "corrupt_raster", "nocrs.tif": "no_crs",
        "notes.txt": "not_an_image", "fake.jpg": "not_an_image"}
    assert (tmp_path / "out" / "report.html").read_text().count("corrupt_raster") == 1


def test_skip_ratio_fails_the_survey_with_the_reasons(survey):
    with pytest.raises(SurveyError, match="6 of 9 inputs are unusable") as info:
        ingest([survey], CRS, IngestConfig(max_skip_ratio=0.5))
    assert "DJI_TRUNC.JPG" in str(info.value)


def test_empty_survey_is_a_clear_error(tmp_path):
    with pytest.raises(SurveyError, match="empty survey"):
        ingest([tmp_path], CRS)


def test_discover_skips_sidecars_and_keeps_urls(tmp_path):
    (tmp_path / "a.jpg").write_bytes(b"x")
    (tmp_path / "a.json").write_text("{}")
    found = discover([tmp_path, "https://example.org/o.tif"])
    assert found == [str(tmp_path / "a.jpg"), "https://example.org/o.tif"]


def test_check_cli_reports_every_bad_input(survey, tiny_world):
    result = CliRunner().invoke(cli, ["check", "--registry", str(tiny_world / "registry.gpkg"),
                                      str(survey)])
    assert result.exit_code == 2
    for name in ("DJI_NOGPS.JPG", "DJI_TRUNC.JPG", "ortho_trunc.tif", "nocrs.tif", "notes.txt"):
        assert name in result.output
    assert "3 ok, 6 skipped" in result.output

"""Surveys that fail well: a summary for every survey that started, a quality gate, any CRS."""

import datetime as dt
import json
import re

import cv2
import geopandas as gpd
import numpy as np
import pytest
import rasterio
from click.testing import CliRunner
from rasterio.warp import calculate_default_transform, reproject

from pipeline import survey as sv
from pipeline.cases import read_register
from pipeline.ingest import SurveyError, discover, ingest
from pipeline.quality import QualityConfig, measure
from skypatrol.cli import cli

CRS = "EPSG:4549"


def _variant(src, dst, fn):
    with rasterio.open(src) as ds:
        profile, data = ds.profile, ds.read()
    with rasterio.open(dst, "w", **profile) as out:
        out.write(fn(data, abs(profile["transform"].a)))
    return dst


def black(data, gsd):
    return np.zeros_like(data)


def blurred(data, gsd):  # a 0.4 m Gaussian smear: nothing the size of a shed stays sharp
    return np.stack([cv2.GaussianBlur(b, (0, 0), 0.4 / gsd) for b in data])


@pytest.fixture
def broken_survey(tmp_path, tiny_world):
    """The issue's folder: one good orthophoto and four unusable files."""
    d = tmp_path / "broken"
    d.mkdir()
    ortho = (tiny_world / "epoch1" / "ortho.tif").read_bytes()
    (d / "ortho.tif").write_bytes(ortho)
    frames = sorted((tiny_world / "epoch1" / "frames").glob("*.JPG"))
    raw = frames[0].read_bytes()
    (d / "DJI_TRUNC.JPG").write_bytes(raw[: len(raw) // 2])
    with rasterio.open(d / "nocrs.tif", "w", driver="GTiff", width=32, height=32, count=3,
                       dtype="uint8", transform=rasterio.Affine(0.05, 0, 0, 0, -0.05, 0)) as o:
        o.write(np.full((3, 32, 32), 90, np.uint8))
    (d / "text.tif").write_text("this is a text file named like a GeoTIFF")
    from PIL import Image

    Image.new("RGB", (64, 48), (120, 130, 90)).save(d / "DJI_NOGPS.JPG")
    return d


def test_a_broken_survey_fails_with_every_verdict_in_summary_json(broken_survey, tiny_world,
                                                                  tmp_path):
    spec = sv.SurveySpec((str(broken_survey),), tiny_world / "registry.gpkg", tmp_path / "out",
                         survey_id="S-broken", survey_date=dt.date(2026, 4, 1))
    with pytest.raises(SurveyError, match="4 of 5 inputs are unusable"):
        sv.run_survey(spec)
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["status"] == "failed" and "4 of 5" in summary["reason"]
    verdicts = {i["source"].rsplit("/", 1)[-1]: (i["status"], i["reason"])
                for i in summary["inputs"]}
    assert verdicts == {"ortho.tif": ("ok", None),
                        "DJI_TRUNC.JPG": ("skipped", "corrupt_jpeg"),
                        "nocrs.tif": ("skipped", "no_crs"),
                        "text.tif": ("skipped", "not_an_image"),
                        "DJI_NOGPS.JPG": ("skipped", "no_gps")}
    assert not (tmp_path / "cases.gpkg").exists()  # nothing recorded for a failed survey


@pytest.mark.slow
def test_the_cli_and_the_flow_fail_the_broken_survey_without_traceback(
        broken_survey, tiny_world, tmp_path):
    out = tmp_path / "cli-out"
    result = CliRunner().invoke(cli, ["detect", str(broken_survey), "--registry",
                                      str(tiny_world / "registry.gpkg"), "--out", str(out),
                                      "--date", "2026-04-01"])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert "4 of 5 inputs are unusable" in result.output and "text.tif" in result.output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "failed" and len(summary["inputs"]) == 5


def test_gdal_and_dji_side_files_and_vector_data_are_not_inputs(tmp_path):
    for name in ("ortho.tif", "ortho.tif.aux.xml", "ortho.tif.ovr", "ortho.tfw",
                 "DJI_202604011000_Timestamp.MRK", "rtk.obs", "rtk.nav", "PPKRAW.bin",
                 "DJI_0001.JPG", "DJI_0001.json", "truth.gpkg", "plan.kml", "area.geojson",
                 "parcels.shp", "parcels.dbf", "parcels.shx"):
        (tmp_path / name).write_bytes(b"x")
    assert [p.rsplit("/", 1)[-1] for p in discover([tmp_path])] == ["DJI_0001.JPG",
                                                                     "ortho.tif"]


def test_vector_data_named_as_imagery_is_refused_with_its_reason(tmp_path):
    reg = tmp_path / "registry.gpkg"
    reg.write_bytes(b"SQLite format 3\x00")
    report = ingest([reg], CRS, strict=False)
    (rec,) = report.records()
    assert rec["status"] == "skipped" and rec["reason"] == "not_an_image"
    assert "registry.gpkg: vector data, not imagery" in rec["detail"]


@pytest.mark.parametrize("variant,reason", [(black, "black"), (blurred, "blurred")])
def test_unusable_imagery_is_refused_by_the_gate(tiny_world, tmp_path, variant, reason):
    src = tiny_world / "epoch1" / "ortho.tif"
    bad = _variant(src, tmp_path / f"{variant.__name__}.tif", variant)
    report = ingest([src, bad], CRS, strict=False)
    recs = {r["source"].rsplit("/", 1)[-1]: r for r in report.records()}
    assert recs["ortho.tif"]["status"] == "ok"
    assert recs[bad.name]["reason"] == "unusable_imagery"
    assert reason in recs[bad.name]["detail"]


def test_sharp_imagery_passes_the_gate_with_margin(tiny_world):
    with rasterio.open(tiny_world / "epoch2" / "ortho.tif") as ds:
        q = measure(ds, QualityConfig())
    assert q.problem(QualityConfig()) is None
    assert q.sharpness > 1.5 * QualityConfig().min_sharpness


@pytest.mark.slow
def test_black_and_blurred_imagery_resolve_no_case(tiny_world, tmp_path):
    reg = tiny_world / "registry.gpkg"
    first = sv.run_survey(sv.SurveySpec((str(tiny_world / "epoch1" / "ortho.tif"),), reg,
                                        tmp_path / "s1", cases=tmp_path / "cases.gpkg",
                                        survey_id="S1", survey_date=dt.date(2026, 3, 1)))
    assert first["totals"]["total_count"] > 0
    before = read_register(tmp_path / "cases.gpkg", CRS)["cases"]
    for k, variant in enumerate((black, blurred)):
        bad = _variant(tiny_world / "epoch2" / "ortho.tif", tmp_path / f"bad{k}.tif", variant)
        with pytest.raises(SurveyError, match="unusable"):
            sv.run_survey(sv.SurveySpec((str(bad),), reg, tmp_path / f"s{k + 2}",
                                        cases=tmp_path / "cases.gpkg", survey_id=f"S{k + 2}",
                                        survey_date=dt.date(2026, 5, 1)))
    after = read_register(tmp_path / "cases.gpkg", CRS)["cases"]
    assert list(after.status) == list(before.status) == ["open"] * len(before)


def _to_wgs84(src, dst):
    with rasterio.open(src) as ds:
        tf, w, h = calculate_default_transform(ds.crs, "EPSG:4326", ds.width, ds.height,
                                               *ds.bounds)
        profile = {**ds.profile, "crs": "EPSG:4326", "transform": tf, "width": w, "height": h}
        with rasterio.open(dst, "w", **profile) as out:
            for b in range(1, ds.count + 1):
                reproject(rasterio.band(ds, b), rasterio.band(out, b))
    return dst


def test_an_orthophoto_in_epsg4326_is_warped_into_the_analysis_crs(tiny_world, tmp_path):
    src = tiny_world / "epoch1" / "ortho.tif"
    geo = _to_wgs84(src, tmp_path / "ortho_4326.tif")
    report = ingest([geo], CRS)
    (item,) = report.ok
    assert item.record.gsd_cm == pytest.approx(5.0, rel=0.1)
    warped = sv.prepare_raster(item, tmp_path / "work", CRS)
    with rasterio.open(warped) as w, rasterio.open(src) as o:
        assert w.crs.to_epsg() == 4549
        assert np.allclose(w.bounds, o.bounds, atol=0.5)
    assert sv.prepare_raster(item, tmp_path / "work", CRS) == warped  # made once


@pytest.mark.slow
def test_an_orthophoto_in_epsg4326_gives_the_same_tasks(tiny_world, tmp_path):
    reg = tiny_world / "registry.gpkg"
    src = tiny_world / "epoch1" / "ortho.tif"
    geo = _to_wgs84(src, tmp_path / "ortho_4326.tif")
    tasks = {}
    for key, path in (("native", src), ("wgs84", geo)):
        sv.run_survey(sv.SurveySpec((str(path),), reg, tmp_path / key / "out",
                                    cases=tmp_path / key / "cases.gpkg", survey_id="S1",
                                    survey_date=dt.date(2026, 3, 1)))
        tasks[key] = gpd.read_file(tmp_path / key / "out" / "tasks.geojson")
    native, wgs = tasks["native"], tasks["wgs84"]
    work = tmp_path / "wgs84" / "out" / ".work"
    assert not (work / "detections").exists()  # intermediate files of a recorded survey go
    assert len(list((work / "warped").glob("*.tif"))) == 1  # the register points at it
    assert len(native) >= 3
    matched = sum(max((g.intersection(h).area / g.union(h).area for h in wgs.geometry),
                      default=0) > 0.7 for g in native.geometry)
    assert matched >= 0.8 * len(native)
    assert wgs.area_m2.sum() == pytest.approx(native.area_m2.sum(), rel=0.1)


def test_hostile_ids_make_safe_kml_and_distinct_work_orders(tmp_path):
    import xml.dom.minidom

    from pipeline.outputs import squad_file_names, write_task_files

    tasks = gpd.GeoDataFrame({
        "task_id": ["T1", "T2"], "category": ["illegal_construction"] * 2,
        "object_class": ["shed"] * 2, "area_m2": [12.0, 30.0],
        "parcel_id": ['P"><img src=x onerror=alert(1)><![CDATA[', "P2\x01\x07"],
        "priority": [1, 2], "lon": [120.3, 120.31], "lat": [31.5, 31.51],
        "lon_gcj02": [120.305, 120.315], "lat_gcj02": [31.498, 31.508],
        "squad": ["a/b", "a-b"], "district": ["D", "D"], "status": ["new"] * 2,
        "confidence": [0.9] * 2, "evidence": ["evidence/T1.jpg", "evidence/T2.jpg"],
        "survey_id": ["S"] * 2, "first_seen": ["2026-04-01"] * 2,
        "last_seen": ["2026-04-01"] * 2, "source": ["o.tif"] * 2,
        "source_sha256": ["0" * 64] * 2, "priority_reason": ["r"] * 2},
        geometry=gpd.points_from_xy([0, 1], [0, 1]), crs=CRS)
    paths = write_task_files(tmp_path, tasks, "en")
    doc = xml.dom.minidom.parse(str(paths["kml"]))  # valid XML despite CDATA and controls
    texts = [d.firstChild.data for d in doc.getElementsByTagName("description")]
    # the balloon's HTML has one image, the evidence; the parcel's markup is shown as text
    everything = "".join(texts)
    assert set(re.findall(r"<img[^>]*>", everything)) == {
        f'<img src="evidence/{t}.jpg" width="400" alt="Evidence {t}">' for t in ("T1", "T2")}
    assert "&lt;img src=x" in everything and "\x01" not in everything
    names = squad_file_names(["a/b", "a-b", "c"])
    assert len(set(names.values())) == 3 and names["c"] == "c"


def test_check_refuses_ids_with_control_characters(tmp_path):
    from geodata.registry import read_registry
    from skypatrol.errors import InvalidRegistryError

    reg = tmp_path / "reg.gpkg"
    from shapely.geometry import box

    parcels = gpd.GeoDataFrame({"parcel_id": ["P\x01"], "land_use": ["residential"],
                                "district": ["D"]}, geometry=[box(0, 0, 10, 10)], crs=CRS)
    parcels.to_file(reg, layer="parcels")
    for layer, cols in (("permitted_structures", ["permit_id", "parcel_id", "kind"]),
                        ("billboard_permits", ["permit_id", "valid_until"]),
                        ("jurisdictions", ["district", "squad"])):
        empty = gpd.GeoDataFrame({c: [] for c in cols}, geometry=[], crs=CRS)
        empty.to_file(reg, layer=layer)
    with pytest.raises(InvalidRegistryError, match="control characters"):
        read_registry(reg)


@pytest.mark.parametrize("extra,needle", [
    (["--max-skip-ratio", "5"], "max_skip_ratio must be within 0..1"),
    (["--model", "no/such/card.json"], "--model file not found"),
    (["--flight-height", "-3"], "flight height"),
    (["--dem", "no/such/dem.tif"], "--dem file not found"),
])
def test_bad_options_are_refused_before_any_work(tiny_world, tmp_path, extra, needle):
    result = CliRunner().invoke(cli, ["detect", str(tiny_world / "epoch1" / "ortho.tif"),
                                      "--registry", str(tiny_world / "registry.gpkg"),
                                      "--out", str(tmp_path / "out"), *extra])
    assert result.exit_code == 2, result.output
    assert needle in result.output and "Traceback" not in result.output


@pytest.mark.parametrize("count,dtype", [(1, "uint8"), (3, "uint16")])
def test_an_orthophoto_that_is_not_8bit_rgb_says_so(make_geotiff, count, dtype):
    data = np.full((count, 64, 64), 90, dtype)
    path = make_geotiff(64, 64, data=data)
    (rec,) = ingest([path], CRS, strict=False).records()
    assert rec["reason"] == "not_an_image" and "8-bit RGB" in rec["detail"]


def test_a_narrow_strip_of_imagery_is_not_refused_as_empty(make_geotiff):
    data = np.zeros((3, 4000, 4000), np.uint8)
    rng = np.random.default_rng(3)
    data[:, :, 1990:2010] = rng.integers(40, 220, (3, 4000, 20), dtype=np.uint8)
    path = make_geotiff(4000, 4000, data=data, nodata=0)
    (rec,) = ingest([path], CRS, strict=False).records()
    assert rec["status"] == "ok", rec


def test_a_geographic_orthophoto_warps_with_its_outside_as_nodata(tiny_world, tmp_path):
    src = tiny_world / "epoch1" / "ortho.tif"
    with rasterio.open(src) as ds:
        profile = {**ds.profile}
    profile.pop("nodata", None)
    plain = tmp_path / "plain.tif"
    with rasterio.open(src) as ds, rasterio.open(plain, "w", **profile) as out:
        out.write(ds.read())
    geo = _to_wgs84(plain, tmp_path / "geo.tif")
    (item,) = ingest([geo], CRS).ok
    warped = sv.prepare_raster(item, tmp_path / "work", CRS)
    with rasterio.open(warped) as w:
        mask = w.read_masks(1)
        assert 0 < (mask == 0).mean() < 0.3  # the wedges outside the image are not imaged


def test_a_black_or_blurred_drone_photo_is_refused_by_the_gate(tmp_path):
    from pyproj import Transformer

    from geodata.camera import PHANTOM4PRO, Pose
    from geodata.synthetic import WorldConfig, build_scene
    from geodata.synthetic.frames import render_frame, write_dji_jpeg
    from geodata.synthetic.render import Renderer, random_style

    scene = build_scene(WorldConfig(size_m=140.0, seed=7, epochs=1))
    x0, y0, x1, y1 = scene.bounds
    cam = PHANTOM4PRO.scaled(1200)
    pose = Pose((x0 + x1) / 2, (y0 + y1) / 2, 40.0, 0.0, -90.0)
    sharp = render_frame(Renderer(scene, 1, random_style(7, 1)), cam, pose)
    ll = Transformer.from_crs(CRS, "EPSG:4326", always_xy=True).transform(pose.x, pose.y)
    gsd = 40.0 / cam.focal_px
    for name, img in (("sharp", sharp), ("black", np.zeros_like(sharp)),
                      ("blurred", cv2.GaussianBlur(sharp, (0, 0), 0.4 / gsd))):
        write_dji_jpeg(tmp_path / f"{name}.JPG", img, cam, pose, ll, dt.datetime(2026, 4, 1))
    recs = {r["source"].rsplit("/", 1)[-1]: r for r in
            ingest([tmp_path], CRS, strict=False).records()}
    assert recs["sharp.JPG"]["status"] == "ok"
    assert recs["black.JPG"]["reason"] == recs["blurred.JPG"]["reason"] == "unusable_imagery"

import datetime as dt
import io
import json

import geopandas as gpd
import numpy as np
import pytest
import rasterio
from PIL import Image
from pyproj import Transformer
from rasterio.features import geometry_mask
from rasterio.windows import from_bounds
from shapely.geometry import Polygon
from shapely.ops import unary_union

from geodata.camera import PHANTOM4PRO, Pose, ground_to_image
from geodata.registry import read_registry
from geodata.synthetic import WorldConfig, build_scene, grid_for
from geodata.synthetic.render import Renderer, RenderStyle, random_style
from geodata.synthetic.truth import truth_frames

CATEGORIES = {"illegal_construction", "green_encroachment", "illegal_billboard"}


def independent_verdict(row, reg, date):
    """The contract's rules, computed here from the registry file with plain geopandas."""
    geom = row.geometry
    if row.object_class == "billboard":
        valid = reg.billboard_permits[
            reg.billboard_permits.valid_until.map(lambda d: d is None or d >= date)]
        near = valid.distance(geom) <= 2.0
        return ("legal", 0.0) if near.any() else ("illegal_billboard", geom.area)
    green = unary_union(reg.parcels[reg.parcels.land_use == "green"].geometry)
    lost = geom.intersection(green).area
    if lost >= 1.0:
        return "green_encroachment", lost
    if row.object_class == "cleared_ground":
        return "legal", 0.0
    kind = "building" if row.object_class == "building" else "shed"
    permits = reg.permitted_structures[reg.permitted_structures.kind == kind]
    excess = geom.difference(unary_union(permits.geometry)).area
    return ("illegal_construction", excess) if excess >= 1.0 else ("legal", 0.0)


@pytest.mark.parametrize("epoch", [1, 2])
def test_truth_on_disk_follows_the_contract_rules(tiny_world, epoch):
    reg = read_registry(tiny_world / "registry.gpkg")
    meta = json.loads((tiny_world / f"epoch{epoch}" / "epoch.json").read_text())
    date = dt.date.fromisoformat(meta["survey_date"])
    objects = gpd.read_file(tiny_world / f"epoch{epoch}" / "truth.gpkg", layer="objects")
    violations = gpd.read_file(tiny_world / f"epoch{epoch}" / "truth.gpkg", layer="violations")
    assert len(objects) > 5 and len(violations) > 0
    for row in objects.itertuples():
        category, area = independent_verdict(row, reg, date)
        assert row.category == category, (row.site_id, row.note)
        assert row.violation_area_m2 == pytest.approx(area, rel=0.01, abs=0.05), row.site_id
    assert set(violations.site_id) == set(objects[objects.category != "legal"].site_id)
    for row in violations.itertuples():
        assert row.geometry.area == pytest.approx(row.violation_area_m2, rel=0.01)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_generated_violations_get_the_category_they_were_built_as(seed):
    scene = build_scene(WorldConfig(size_m=300, seed=seed, epochs=2, violation_density=3.0))
    expected = {
        "yard_shed": "illegal_construction", "rooftop_shed": "illegal_construction",
        "extension": "illegal_construction", "green_shed": "green_encroachment",
        "green_building": "green_encroachment", "green_paving": "green_encroachment",
        "green_cleared": "green_encroachment", "building": "legal", "permitted_shed": "legal",
    }
    for epoch in (1, 2):
        objects, _ = truth_frames(scene, epoch)
        for row in objects.itertuples():
            want = expected.get(row.note)
            if row.note == "extension":
                thing = next(t for t in scene.things if t.site_id == row.site_id)
                if not any(epoch in p.epochs for p in thing.parts[1:]):
                    want = "legal"  # the extension was demolished: the building is as permitted
            if want:
                assert row.category == want, (seed, row.site_id, row.note)
        ext = objects[objects.note == "extension"]
        for row in ext.itertuples():
            thing = next(t for t in scene.things if t.site_id == row.site_id)
            parts = unary_union([p.geometry for p in thing.parts[1:] if epoch in p.epochs])
            built = parts.difference(thing.parts[0].geometry).area
            assert row.violation_area_m2 == pytest.approx(built, rel=0.01)
        roof = objects[objects.note == "rooftop_shed"]
        for row in roof.itertuples():
            assert row.violation_area_m2 == pytest.approx(row.footprint_area_m2, rel=0.01)


def test_world_holds_every_category_and_class_and_changes_between_epochs():
    scene = build_scene(WorldConfig(size_m=500, seed=11, epochs=2))
    _, v1 = truth_frames(scene, 1)
    _, v2 = truth_frames(scene, 2)
    assert set(v1.category) == CATEGORIES
    assert set(v1.object_class) == {"building", "shed", "billboard", "cleared_ground"}
    s1, s2 = set(v1.site_id), set(v2.site_id)
    assert s1 - s2, "some violations are demolished or regreened in epoch 2"
    assert s2 - s1, "some violations are new in epoch 2"
    assert len(s1 & s2) > len(s1) / 3, "most violations persist"
    notes = set(v1.note)
    assert {"rooftop_shed", "extension", "yard_shed", "pole_billboard", "roof_billboard"} <= notes


def test_scene_and_pixels_are_deterministic_per_seed():
    a = build_scene(WorldConfig(size_m=150, seed=5))
    b = build_scene(WorldConfig(size_m=150, seed=5))
    c = build_scene(WorldConfig(size_m=150, seed=6))
    ta, tb, tc = (truth_frames(s, 1)[0] for s in (a, b, c))
    assert list(ta.geometry.to_wkb()) == list(tb.geometry.to_wkb())
    assert list(ta.geometry.to_wkb()) != list(tc.geometry.to_wkb())
    x0, _, _, y1 = a.bounds
    ra, rb = Renderer(a, 1, random_style(5, 1)), Renderer(b, 1, random_style(5, 1))
    ia = ra.render(x0 + 20, y1 - 20, 0.05, 300, 200)
    assert np.array_equal(ia, rb.render(x0 + 20, y1 - 20, 0.05, 300, 200))
    # blocks join without seams: two halves equal the whole window
    left = ra.render(x0 + 20, y1 - 20, 0.05, 150, 200, row0=0, col0=0)
    right = ra.render(x0 + 20 + 150 * 0.05, y1 - 20, 0.05, 150, 200, row0=0, col0=150)
    diff = np.abs(np.hstack([left, right]).astype(int) - ia)
    # only sub-pixel rounding of polygon edges may differ, never a seam
    assert diff.max() <= 4 and (diff > 0).mean() < 0.01


def expected_color(color, style: RenderStyle) -> np.ndarray:
    c = np.asarray(color, float) * np.asarray(style.white_balance) * style.exposure
    grey = c.mean()
    c = grey + (c - grey) * style.saturation
    return c * (1 - style.haze) + np.array([196, 202, 210]) * style.haze


def test_sheds_in_the_truth_are_sheds_in_the_pixels(tiny_world):
    cfg = WorldConfig(**json.loads((tiny_world / "world.json").read_text())["config"])
    scene = build_scene(cfg)
    colors = {t.site_id: t.parts[0].style.color for t in scene.things}
    objects = gpd.read_file(tiny_world / "epoch1" / "truth.gpkg", layer="objects")
    style = RenderStyle(**{k: tuple(v) if isinstance(v, list) else v for k, v in
                           json.loads((tiny_world / "epoch1" / "epoch.json").read_text())[
                               "style"].items()})
    sheds = objects[objects.object_class == "shed"]
    assert len(sheds) >= 2
    with rasterio.open(tiny_world / "epoch1" / "ortho.tif") as ds:
        assert ds.transform == grid_for(scene).transform
        for row in sheds.itertuples():
            inner = row.geometry.buffer(-0.4)
            win = from_bounds(*row.geometry.buffer(2).bounds, ds.transform).round_offsets()
            win = win.round_lengths()
            data = ds.read(window=win)
            mask = ~geometry_mask([inner], (data.shape[1], data.shape[2]),
                                  ds.window_transform(win))
            ring = row.geometry.buffer(1.5).difference(row.geometry.buffer(0.3))
            ring_mask = ~geometry_mask([ring], (data.shape[1], data.shape[2]),
                                       ds.window_transform(win))
            inside = np.median(data[:, mask], axis=1)
            want = expected_color(colors[row.site_id], style)
            assert np.abs(inside - want).max() < 30, (row.site_id, inside, want)
            # and the shed stands out from what surrounds it (unless it is the same colour)
            around = np.median(data[:, ring_mask], axis=1)
            if np.abs(np.asarray(colors[row.site_id]) - around).max() > 60:
                assert np.abs(inside - around).max() > 20


def test_drone_photos_carry_dji_pose_and_show_the_world(tiny_world):
    records = json.loads((tiny_world / "epoch1" / "frames_truth.json").read_text())
    dji = [r for r in records if r["file"].startswith("DJI_")]
    tello = [r for r in records if r["file"].startswith("tello_")]
    assert len(dji) >= 4 and len(tello) >= 1
    assert any(r["pose"]["pitch_deg"] > -80 for r in dji), "some frames are oblique"
    to_ll = Transformer.from_crs("EPSG:4549", "EPSG:4326", always_xy=True)
    for rec in dji:
        raw = (tiny_world / "epoch1" / "frames" / rec["file"]).read_bytes()
        img = Image.open(io.BytesIO(raw))
        gps = img.getexif().get_ifd(0x8825)
        lat = sum(float(v) / 60**i for i, v in enumerate(gps[2]))
        lon = sum(float(v) / 60**i for i, v in enumerate(gps[4]))
        elon, elat = to_ll.transform(rec["pose"]["x"], rec["pose"]["y"])
        assert lon == pytest.approx(elon, abs=1e-6) and lat == pytest.approx(elat, abs=1e-6)
        assert b"drone-dji:RelativeAltitude" in raw and b"GpsLongtitude" in raw
        assert b"drone-dji:CalibratedFocalLength" in raw and b"GimbalPitchDegree" in raw
        assert img.size == (rec["camera"]["width"], rec["camera"]["height"])
    sidecar = json.loads((tiny_world / "epoch1" / "frames" / "tello_0001.json").read_text())
    assert {"planned", "state", "camera", "captured_at"} <= set(sidecar)
    assert {"h", "tof", "yaw", "pitch", "roll"} <= set(sidecar["state"])


def test_a_shed_in_a_nadir_photo_matches_the_ortho(tiny_world):
    records = json.loads((tiny_world / "epoch1" / "frames_truth.json").read_text())
    objects = gpd.read_file(tiny_world / "epoch1" / "truth.gpkg", layer="objects")
    sheds = objects[objects.object_class.isin(["shed"])]
    checked = 0
    with rasterio.open(tiny_world / "epoch1" / "ortho.tif") as ds:
        for rec in records:
            if not rec["file"].startswith("DJI_") or rec["pose"]["pitch_deg"] > -85:
                continue
            cam = PHANTOM4PRO.scaled(rec["camera"]["width"])
            pose = Pose(**rec["pose"])
            H = ground_to_image(cam, pose)
            frame = np.asarray(Image.open(tiny_world / "epoch1" / "frames" / rec["file"]))
            for row in sheds.itertuples():
                inner = row.geometry.buffer(-0.5)
                xy = np.asarray(inner.exterior.coords)
                uvw = H @ np.column_stack([xy, np.ones(len(xy))]).T
                uv = (uvw[:2] / uvw[2]).T
                if uv.min() < 0 or uv[:, 0].max() > cam.width or uv[:, 1].max() > cam.height:
                    continue
                poly = Polygon(uv)
                mask = ~geometry_mask([poly], frame.shape[:2], rasterio.Affine.identity())
                if mask.sum() < 30:
                    continue
                in_frame = np.median(frame[mask], axis=0)
                win = from_bounds(*inner.bounds, ds.transform).round_offsets().round_lengths()
                data = ds.read(window=win)
                m2 = ~geometry_mask([inner], data.shape[1:], ds.window_transform(win))
                in_ortho = np.median(data[:, m2], axis=1)
                assert np.abs(in_frame - in_ortho).max() < 30, (rec["file"], row.site_id)
                checked += 1
    assert checked >= 1


@pytest.mark.parametrize("seed", [7300, 11])
def test_billboards_stand_apart(seed):
    """Two boards drawn over each other read as one from the air: the truth would be unknowable."""
    scene = build_scene(WorldConfig(size_m=400, seed=seed, epochs=2))
    boards = [t.parts[0].geometry for t in scene.things if t.object_class == "billboard"]
    assert len(boards) > 5
    for i, a in enumerate(boards):
        for b in boards[i + 1:]:
            assert a.distance(b) >= 1.0

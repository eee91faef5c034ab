import datetime as dt
import json

import geopandas as gpd
import numpy as np
import pytest
import rasterio
from affine import Affine
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image
from rasterio.features import geometry_mask
from rasterio.windows import from_bounds
from shapely.geometry import Point

from geodata.camera import PHANTOM4PRO, Pose, footprint, image_to_ground
from geodata.georef import (
    NoPoseError,
    box_px_to_world,
    georeference_frame,
    mosaic,
    read_dji_pose,
    read_tello_pose,
)
from geodata.synthetic import WorldConfig, build_scene
from geodata.synthetic.frames import render_frame, write_dji_jpeg
from geodata.synthetic.render import Renderer, random_style

CRS = "EPSG:4549"


def corner_error(frame, truth_corners):
    got = np.asarray(frame.footprint().exterior.coords)[:4]
    return np.hypot(*(got - np.asarray(truth_corners)).T).max()


def test_synthetic_frames_corners_land_within_tolerance(tiny_world):
    records = json.loads((tiny_world / "epoch1" / "frames_truth.json").read_text())
    for rec in records:
        path = tiny_world / "epoch1" / "frames" / rec["file"]
        if rec["file"].startswith("DJI_"):
            frame = read_dji_pose(path, CRS)
        else:
            frame = read_tello_pose(path, CRS)
        tol = 0.5 if rec["pose"]["pitch_deg"] <= -85 else 1.5
        assert corner_error(frame, rec["footprint"]) < tol, rec["file"]


@pytest.fixture(scope="module")
def scene_renderer():
    scene = build_scene(WorldConfig(size_m=200, seed=21, violation_density=4))
    return scene, Renderer(scene, 1, random_style(21, 1))


@pytest.mark.parametrize(("alt", "pitch", "yaw"), [
    (30, -90, 0), (45, -90, 90), (60, -90, -135), (40, -75, 30), (50, -60, 200),
])
def test_dji_photo_pose_round_trips_through_exif(tmp_path, scene_renderer, alt, pitch, yaw):
    scene, renderer = scene_renderer
    x0, y0, x1, y1 = scene.bounds
    cam = PHANTOM4PRO.scaled(912)
    pose = Pose((x0 + x1) / 2, (y0 + y1) / 2, alt, yaw, pitch, 0.3)
    from pyproj import Transformer
    lon, lat = Transformer.from_crs(CRS, "EPSG:4326", always_xy=True).transform(pose.x, pose.y)
    img = render_frame(renderer, cam, pose)
    path = tmp_path / "DJI_0001.JPG"
    write_dji_jpeg(path, img, cam, pose, (lon, lat), dt.datetime(2026, 4, 1, 10))
    frame = read_dji_pose(path, CRS)
    truth = np.asarray(footprint(cam, pose).exterior.coords)[:4]
    assert corner_error(frame, truth) < (0.5 if pitch == -90 else 1.5)
    assert frame.camera.focal_px == pytest.approx(cam.focal_px, rel=1e-6)


def test_photo_without_gps_is_refused(tmp_path, scene_renderer):
    scene, renderer = scene_renderer
    x0, y0, x1, y1 = scene.bounds
    cam = PHANTOM4PRO.scaled(600)
    pose = Pose((x0 + x1) / 2, (y0 + y1) / 2, 40)
    path = tmp_path / "nogps.JPG"
    write_dji_jpeg(path, render_frame(renderer, cam, pose), cam, pose, None,
                   dt.datetime(2026, 4, 1))
    with pytest.raises(NoPoseError, match="no GPS"):
        read_dji_pose(path, CRS)


def test_georeferenced_frame_puts_sheds_on_the_ortho_sheds(tiny_world, tmp_path):
    records = json.loads((tiny_world / "epoch1" / "frames_truth.json").read_text())
    objects = gpd.read_file(tiny_world / "epoch1" / "truth.gpkg", layer="objects")
    sheds = objects[objects.object_class == "shed"]
    checked = 0
    with rasterio.open(tiny_world / "epoch1" / "ortho.tif") as ortho:
        for rec in records:
            if not rec["file"].startswith("DJI_"):
                continue
            path = tiny_world / "epoch1" / "frames" / rec["file"]
            frame = read_dji_pose(path, CRS)
            rgb = np.asarray(Image.open(path).convert("RGB"))
            tif = georeference_frame(rgb, frame, tmp_path / f"{path.stem}.tif")
            with rasterio.open(tif) as geo:
                assert geo.crs.to_epsg() == 4549
                valid_area = frame.footprint()
                for row in sheds.itertuples():
                    inner = row.geometry.buffer(-0.5)
                    if not valid_area.buffer(-1).contains(inner):
                        continue
                    vals = []
                    for ds in (geo, ortho):
                        win = from_bounds(*inner.bounds, ds.transform).round_offsets()
                        data = ds.read(window=win.round_lengths())
                        m = ~geometry_mask([inner], data.shape[1:], ds.window_transform(win))
                        vals.append(np.median(data[:, m], axis=1))
                    assert np.abs(vals[0] - vals[1]).max() < 30, (rec["file"], row.site_id)
                    checked += 1
    assert checked >= 1


def test_mosaic_merges_frames(tiny_world, tmp_path):
    tifs = []
    for name in ("DJI_0001.JPG", "DJI_0002.JPG"):
        path = tiny_world / "epoch1" / "frames" / name
        frame = read_dji_pose(path, CRS)
        rgb = np.asarray(Image.open(path).convert("RGB"))
        tifs.append(georeference_frame(rgb, frame, tmp_path / f"{name}.tif", gsd_m=0.1))
    out = mosaic(tifs, tmp_path / "mosaic.tif", gsd_m=0.1)
    with rasterio.open(out) as ds, rasterio.open(tifs[0]) as a, rasterio.open(tifs[1]) as b:
        assert ds.bounds.left <= min(a.bounds.left, b.bounds.left) + 0.1
        assert ds.bounds.top >= max(a.bounds.top, b.bounds.top) - 0.1
        assert ds.read(1).max() > 0


@given(
    st.floats(0.01, 2.0), st.floats(-0.5, 0.5), st.floats(-0.5, 0.5), st.floats(0.01, 2.0),
    st.floats(0, 1000), st.floats(0, 1000), st.floats(1, 500), st.floats(1, 500),
)
def test_box_px_to_world_uses_pixel_edges(a, b, d, e, c0, r0, w, h):
    t = Affine(a, b, 500000.0, d, -e, 3500000.0)
    poly = box_px_to_world(t, (c0, r0, c0 + w, r0 + h))
    x, y = rasterio.transform.xy(t, r0, c0, offset="ul")
    assert poly.exterior.coords[0] == pytest.approx((float(x), float(y)))
    x, y = rasterio.transform.xy(t, r0 + h, c0 + w, offset="ul")
    assert poly.exterior.coords[2] == pytest.approx((float(x), float(y)))


def test_image_to_ground_nadir_centre_is_below_camera():
    pose = Pose(10.0, 20.0, 50.0, 37.0, -90.0)
    xy = image_to_ground(PHANTOM4PRO, pose, np.array([[PHANTOM4PRO.cx, PHANTOM4PRO.cy]]))
    assert Point(*xy[0]).distance(Point(10, 20)) < 1e-6

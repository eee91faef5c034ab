"""Work-order parts that must stay right when made fast: QR codes, nearest roads, chips."""

from __future__ import annotations

import io
from pathlib import Path

import cv2
import geopandas as gpd
import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin
from shapely.geometry import LineString, box

from pipeline.workorders import amap_navigation, chip, nearest_roads, qr_code


@pytest.mark.parametrize("name", ["T-2026-000123 illegal construction", "T-2026-000123 违法建设"])
def test_a_printed_qr_code_decodes_to_the_navigation_link(name: str) -> None:
    url = amap_navigation(120.123456, 31.567891, name)
    buf = io.BytesIO()
    qr_code(url).save(buf, kind="png", scale=6, border=4)
    img = cv2.imdecode(np.frombuffer(buf.getvalue(), np.uint8), cv2.IMREAD_GRAYSCALE)
    assert img is not None
    text, _, _ = cv2.QRCodeDetector().detectAndDecode(img)
    assert text == url


def test_nearest_roads_agree_with_every_distance() -> None:
    rng = np.random.default_rng(3)
    roads = gpd.GeoDataFrame(
        {"parcel_id": [f"R{i}" for i in range(30)],
         "name": [f"Road {i}" if i % 3 else None for i in range(30)]},
        geometry=[LineString(rng.uniform(0, 1000, (2, 2))).buffer(4) for _ in range(30)],
        crs="EPSG:4549")
    sites = gpd.GeoSeries([box(x, y, x + 6, y + 5) for x, y in rng.uniform(0, 1000, (200, 2))],
                          crs="EPSG:4549")
    got = nearest_roads(sites, roads)
    labels = [n if isinstance(n, str) else pid for n, pid in zip(roads.name, roads.parcel_id)]
    for site, found in zip(sites, got):
        assert found is not None
        d = roads.distance(site).to_numpy()
        assert found[1] == pytest.approx(d.min())
        assert found[0] == labels[int(np.flatnonzero(d <= d.min() + 1e-9)[0])]  # first of ties
    assert nearest_roads(sites, roads.iloc[0:0]) == [None] * len(sites)


def test_a_chip_from_overviews_shows_what_the_full_image_shows(tmp_path: Path) -> None:
    """A wide chip is read from an overview: same place, same colours, as from full pixels."""
    rng = np.random.default_rng(5)
    n = 4096
    big = cv2.resize(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8), (n, n),
                     interpolation=cv2.INTER_LINEAR)
    profile = {"driver": "GTiff", "width": n, "height": n, "count": 3, "dtype": "uint8",
               "crs": "EPSG:4549", "transform": from_origin(500000, 3500000, 0.05, 0.05),
               "tiled": True, "blockxsize": 512, "blockysize": 512}
    plain, ovr = tmp_path / "plain.tif", tmp_path / "ovr.tif"
    for path in (plain, ovr):
        with rasterio.open(path, "w", **profile) as dst:
            dst.write(np.moveaxis(big, 2, 0))
    with rasterio.open(ovr, "r+") as dst:
        dst.build_overviews([2, 4, 8], rasterio.enums.Resampling.average)
    site = box(500060, 3499880, 500070, 3499890)
    a, b = chip(str(plain), site, "EPSG:4549", margin_m=45), chip(str(ovr), site, "EPSG:4549",
                                                                   margin_m=45)
    assert a is not None and b is not None
    assert abs(a.width_px - b.width_px) <= 2 and abs(a.m_per_px - b.m_per_px) < 0.01
    ia, ib = (cv2.imdecode(np.frombuffer(c.jpeg, np.uint8), cv2.IMREAD_COLOR) for c in (a, b))
    assert ia is not None and ib is not None
    ia, ib = ia.astype(float), ib.astype(float)
    h, w = min(ia.shape[0], ib.shape[0]), min(ia.shape[1], ib.shape[1])
    assert np.abs(ia[:h, :w] - ib[:h, :w]).mean() < 6


def test_a_site_at_a_junction_names_the_registrys_first_road() -> None:
    roads = gpd.GeoDataFrame(
        {"parcel_id": ["R1", "R2", "R3"], "name": ["North St", "Main St", None]},
        geometry=[box(0, 100, 100, 108), box(0, 0, 8, 200), box(92, 0, 100, 200)],
        crs="EPSG:4549")
    assert nearest_roads(gpd.GeoSeries([box(2, 98, 6, 104)], crs="EPSG:4549"),
                         roads) == [("North St", 0.0)]


def test_open_rasters_are_bounded_and_reopened_when_asked_again(tmp_path: Path) -> None:
    from geodata.raster import rgb_sources

    paths = []
    for k in range(3):
        paths.append(str(tmp_path / f"r{k}.tif"))
        with rasterio.open(paths[-1], "w", driver="GTiff", width=8, height=8, count=3,
                           dtype="uint8", crs="EPSG:4549",
                           transform=from_origin(0, 8, 1, 1)) as dst:
            dst.write(np.full((3, 8, 8), 50 * k + 10, np.uint8))
    with rgb_sources(max_open=2) as get:
        first = get(paths[0])
        assert first is not None
        get(paths[1])
        get(paths[2])
        assert first.closed  # the least recently used went
        again = get(paths[0])
        assert again is not None and not again.closed and again.read(1)[0, 0] == 10
        assert get(str(tmp_path / "missing.tif")) is None
    assert again.closed

"""Images with nothing to find give no findings: blank, all grass, all road, all roof.

The whole survey job (the shipped model, the named checks, the registry diff) on 60 m
orthophotos at 5 cm of one surface each, over a registry where that surface is legal: grass
in a green parcel, asphalt on a road parcel, a flat roof under its building permit. A
structure, a board or cleared ground "found" in any of them is a false finding.
"""

import datetime as dt
import json

import cv2
import geopandas as gpd
import numpy as np
import pytest
from affine import Affine
from shapely.geometry import box

from geodata.registry import write_registry
from pipeline.ingest import SurveyError
from pipeline.survey import SurveySpec, run_survey

CRS = "EPSG:4549"
X, Y = 529000.0, 3493000.0
SIDE_M, GSD = 60.0, 0.05
N = int(SIDE_M / GSD)


def _texture(base: tuple[int, int, int], amount: float, cell_px: int, seed: int) -> np.ndarray:
    """A surface of one colour with smooth mottling and pixel grain (HWC uint8)."""
    rng = np.random.default_rng(seed)
    coarse = rng.normal(0, 1, (N // cell_px + 2, N // cell_px + 2)).astype(np.float32)
    smooth = cv2.resize(coarse, (N, N), interpolation=cv2.INTER_CUBIC)
    grain = rng.normal(0, 1, (N, N)).astype(np.float32)
    img = np.array(base, np.float32)[None, None, :] * (1 + amount * smooth[..., None])
    return np.clip(img + 4 * grain[..., None], 0, 255).astype(np.uint8)


def _surface(kind: str) -> np.ndarray:
    if kind == "blank":
        return np.full((N, N, 3), 128, np.uint8)
    if kind == "grass":
        return _texture((78, 122, 52), 0.12, 40, 1)
    if kind == "road":
        img = _texture((92, 94, 96), 0.05, 60, 2)
        for y in range(200, N, 400):  # dashed lane lines: 3 m dashes, 6 m gaps
            for x in range(0, N, 180):
                img[y:y + 3, x:x + 60] = (225, 225, 220)
        return img
    img = _texture((172, 168, 160), 0.06, 30, 3)  # a flat concrete roof with its grime
    img[:8], img[-8:], img[:, :8], img[:, -8:] = 140, 140, 140, 140  # parapet rim
    return img


LAND_USE = {"blank": "residential", "grass": "green", "road": "road", "roof": "residential"}


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["blank", "grass", "road", "roof"])
def test_an_image_of_one_surface_gives_no_findings(kind, tmp_path, make_geotiff):
    area = box(X, Y, X + SIDE_M, Y + SIDE_M)
    parcels = gpd.GeoDataFrame({"parcel_id": ["P1"], "land_use": [LAND_USE[kind]],
                                "district": ["Liangxi"]}, geometry=[area], crs=CRS)
    roof = [area.buffer(-0.2, join_style="mitre")] if kind == "roof" else []
    permits = gpd.GeoDataFrame({"permit_id": [f"B{i}" for i in range(len(roof))],
                                "parcel_id": ["P1"] * len(roof), "kind": ["building"] * len(roof)},
                               geometry=gpd.GeoSeries(roof, crs=CRS), crs=CRS)
    boards = gpd.GeoDataFrame({"permit_id": [], "valid_until": []},
                              geometry=gpd.GeoSeries([], crs=CRS), crs=CRS)
    jur = gpd.GeoDataFrame({"district": ["Liangxi"], "squad": ["Liangxi-1"]},
                           geometry=[area], crs=CRS)
    reg = write_registry(tmp_path / "r.gpkg", parcels=parcels, permitted_structures=permits,
                         billboard_permits=boards, jurisdictions=jur)
    ortho = make_geotiff(N, N, Affine(GSD, 0, X, 0, -GSD, Y + SIDE_M), CRS,
                         data=_surface(kind).transpose(2, 0, 1), name=f"{kind}.tif")
    out = tmp_path / "out"
    spec = SurveySpec((str(ortho),), reg, out, survey_id=kind, survey_date=dt.date(2026, 5, 1))
    if kind == "blank":  # no detail at all: the quality gate refuses it, and says so
        with pytest.raises(SurveyError, match="too blurred"):
            run_survey(spec)
        assert json.loads((out / "summary.json").read_text())["status"] == "failed"
        return
    summary = run_survey(spec)
    tasks = json.loads((out / "tasks.geojson").read_text())["features"]
    found = [(f["properties"]["category"], f["properties"]["area_m2"]) for f in tasks]
    assert found == [] and summary["totals"]["total_count"] == 0, found

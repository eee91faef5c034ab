from pathlib import Path

import geopandas as gpd
import pytest
from click.testing import CliRunner
from shapely.geometry import Point, Polygon, box

from geodata.registry import read_registry, write_registry
from skypatrol.cli import cli
from skypatrol.errors import InvalidRegistryError

CRS = "EPSG:4549"


def layers(crs: str = CRS) -> dict[str, gpd.GeoDataFrame]:
    x, y = 529000.0, 3493000.0
    parcels = gpd.GeoDataFrame(
        {"parcel_id": ["P1", "P2"], "land_use": ["residential", "green"],
         "district": ["Liangxi", "Liangxi"]},
        geometry=[box(x, y, x + 50, y + 50), box(x + 50, y, x + 100, y + 50)], crs=crs)
    permits = gpd.GeoDataFrame(
        {"permit_id": ["BP1"], "parcel_id": ["P1"], "kind": ["building"]},
        geometry=[box(x + 10, y + 10, x + 30, y + 30)], crs=crs)
    boards = gpd.GeoDataFrame({"permit_id": ["AD1"], "valid_until": [None]},
                              geometry=[Point(x + 5, y + 5)], crs=crs)
    jur = gpd.GeoDataFrame({"district": ["Liangxi"], "squad": ["Liangxi-1"]},
                           geometry=[box(x, y, x + 100, y + 50)], crs=crs)
    return {"parcels": parcels, "permitted_structures": permits, "billboard_permits": boards,
            "jurisdictions": jur}


def write(path: Path, frames: dict[str, gpd.GeoDataFrame], skip: str | None = None) -> Path:
    path.unlink(missing_ok=True)
    for name, df in frames.items():
        if name != skip:
            df.to_file(path, layer=name, driver="GPKG", engine="pyogrio")
    return path


def problems(path: Path) -> list[str]:
    with pytest.raises(InvalidRegistryError) as info:
        read_registry(path)
    return [str(p) for p in info.value.problems]


def test_valid_registry_reads(tmp_path):
    reg = read_registry(write_registry(tmp_path / "r.gpkg", **layers()))
    assert reg.crs.to_epsg() == 4549
    assert list(reg.parcels.parcel_id) == ["P1", "P2"]
    assert reg.billboard_permits.valid_until.iloc[0] is None


def test_synthetic_registry_is_valid(tiny_world):
    reg = read_registry(tiny_world / "registry.gpkg")
    assert set(reg.parcels.land_use) <= {"residential", "commercial", "industrial", "public",
                                         "green", "road", "water", "other"}
    assert {"green", "road"} <= set(reg.parcels.land_use)
    assert len(reg.jurisdictions) >= 2


def test_missing_layer_is_named(tmp_path):
    msgs = problems(write(tmp_path / "r.gpkg", layers(), skip="jurisdictions"))
    assert any("layer 'jurisdictions'" in m and "missing" in m for m in msgs)


def test_missing_column_is_named(tmp_path):
    fr = layers()
    fr["parcels"] = fr["parcels"].drop(columns=["land_use"])
    msgs = problems(write(tmp_path / "r.gpkg", fr))
    assert any("layer 'parcels'" in m and "column 'land_use'" in m for m in msgs)


def test_invalid_geometry_names_the_feature(tmp_path):
    fr = layers()
    bowtie = Polygon([(529000, 3493000), (529010, 3493010), (529010, 3493000),
                      (529000, 3493010)])
    fr["permitted_structures"] = gpd.GeoDataFrame(
        {"permit_id": ["BP1", "BP9"], "parcel_id": ["P1", "P1"], "kind": ["building", "shed"]},
        geometry=[box(529010, 3493010, 529020, 3493020), bowtie], crs=CRS)
    msgs = problems(write(tmp_path / "r.gpkg", fr))
    assert any("feature 'BP9'" in m and "invalid geometry" in m and "Self-intersection" in m
               for m in msgs)


def test_empty_geometry_names_the_feature(tmp_path):
    fr = layers()
    fr["parcels"] = gpd.GeoDataFrame(
        {"parcel_id": ["P1", "P7"], "land_use": ["residential", "green"],
         "district": ["Liangxi", "Liangxi"]},
        geometry=[box(529000, 3493000, 529050, 3493050), Polygon()], crs=CRS)
    msgs = problems(write(tmp_path / "r.gpkg", fr))
    assert any("feature 'P7'" in m and "empty" in m for m in msgs)


def test_geographic_crs_is_refused(tmp_path):
    fr = {k: v.to_crs("EPSG:4326") for k, v in layers().items()}
    msgs = problems(write(tmp_path / "r.gpkg", fr))
    assert any("geographic" in m and "layer 'parcels'" in m for m in msgs)


def test_layers_in_different_crs_are_refused(tmp_path):
    fr = layers()
    fr["jurisdictions"] = fr["jurisdictions"].to_crs("EPSG:32651")
    msgs = problems(write(tmp_path / "r.gpkg", fr))
    assert any("different CRSs" in m for m in msgs)


def test_duplicate_ids_are_refused(tmp_path):
    fr = layers()
    fr["parcels"] = gpd.GeoDataFrame(
        {"parcel_id": ["P1", "P1"], "land_use": ["residential", "green"],
         "district": ["Liangxi", "Liangxi"]},
        geometry=[box(529000, 3493000, 529050, 3493050), box(529050, 3493000, 529100, 3493050)],
        crs=CRS)
    msgs = problems(write(tmp_path / "r.gpkg", fr))
    assert any("duplicate id" in m and "'P1'" in m and "column 'parcel_id'" in m for m in msgs)


def test_bad_land_use_and_unknown_parcel_reference(tmp_path):
    fr = layers()
    fr["parcels"].loc[1, "land_use"] = "farm"
    fr["permitted_structures"].loc[0, "parcel_id"] = "P404"
    msgs = problems(write(tmp_path / "r.gpkg", fr))
    assert any("land_use 'farm'" in m and "feature 'P2'" in m for m in msgs)
    assert any("'P404' is not in layer 'parcels'" in m for m in msgs)


def test_not_a_geopackage(tmp_path):
    bad = tmp_path / "r.gpkg"
    bad.write_text("hello")
    assert any("not a readable GeoPackage" in m for m in problems(bad))


@pytest.mark.parametrize("kind", ["missing_layer", "geographic", "duplicate", "invalid"])
def test_check_cli_exits_2_naming_the_problem(tmp_path, kind):
    fr = layers()
    skip = None
    if kind == "missing_layer":
        skip, needle = "billboard_permits", "layer 'billboard_permits'"
    elif kind == "geographic":
        fr = {k: v.to_crs("EPSG:4326") for k, v in fr.items()}
        needle = "geographic"
    elif kind == "duplicate":
        fr["billboard_permits"] = gpd.GeoDataFrame(
            {"permit_id": ["AD1", "AD1"], "valid_until": [None, None]},
            geometry=[Point(529001, 3493001), Point(529002, 3493002)], crs=CRS)
        needle = "duplicate id"
    else:
        fr["jurisdictions"] = gpd.GeoDataFrame(
            {"district": ["Liangxi"], "squad": ["Liangxi-1"]},
            geometry=[Polygon([(0, 0), (1, 1), (1, 0), (0, 1)])], crs=CRS)
        needle = "invalid geometry"
    path = write(tmp_path / "r.gpkg", fr, skip=skip)
    result = CliRunner().invoke(cli, ["check", "--registry", str(path)])
    assert result.exit_code == 2
    assert needle in result.output
    assert str(path) in result.output


def test_check_cli_ok(tmp_path):
    path = write_registry(tmp_path / "r.gpkg", **layers())
    result = CliRunner().invoke(cli, ["check", "--registry", str(path)])
    assert result.exit_code == 0, result.output
    assert "2 parcels" in result.output

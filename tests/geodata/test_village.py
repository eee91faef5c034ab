import json
from dataclasses import asdict

import numpy as np
import pytest
from shapely.ops import unary_union

from geodata.registry import read_registry, write_registry
from geodata.synthetic import registry_frames
from geodata.synthetic.scene import WorldConfig
from geodata.synthetic.truth import truth_frames
from geodata.village import VillageRenderer, VillageScene, build_scene, random_style
from geodata.village.world import SETTINGS

CLASSES = {"building", "shed", "billboard", "cleared_ground"}
CATEGORIES = {"illegal_construction", "green_encroachment", "illegal_billboard", "legal"}


@pytest.fixture(scope="module")
def world() -> VillageScene:
    return build_scene(WorldConfig(size_m=300, seed=1, epochs=2))


@pytest.fixture(scope="module")
def small() -> VillageScene:
    return build_scene(WorldConfig(size_m=120, seed=5, epochs=2))


def signature(scene):
    return [(t.site_id, t.object_class, t.note, round(t.height_m, 6), round(t.base_m, 6),
             [(p.geometry.wkb, sorted(p.epochs)) for p in t.parts]) for t in scene.things]


def test_scene_is_deterministic_and_placed_near_wuxi(small):
    again = build_scene(WorldConfig(size_m=120, seed=5, epochs=2))
    assert signature(again) == signature(small)
    assert [p.geometry.wkb for p in again.permits] == [p.geometry.wkb for p in small.permits]
    other = build_scene(WorldConfig(size_m=120, seed=6, epochs=2))
    assert signature(other) != signature(small)
    x0, y0 = small.origin
    assert x0 == round(x0) and y0 == round(y0)
    from pyproj import Transformer
    lon, lat = Transformer.from_crs(small.config.crs, "EPSG:4326",
                                    always_xy=True).transform(x0, y0)
    assert abs(lon - 120.30) < 0.05 and abs(lat - 31.57) < 0.05
    assert len(small.dates) == 2 and small.dates[0].year == 2026 and small.dates[0] < small.dates[1]


def test_every_class_and_violation_setting_appears(world):
    notes, classes, cats, sites = set(), set(), set(), []
    for epoch in (1, 2):
        objects, violations = truth_frames(world, epoch)
        classes |= set(objects.object_class)
        cats |= set(objects.category)
        notes |= set(violations.note)
        sites.append(set(violations.site_id))
        assert (violations.violation_area_m2 >= 1.0).all()
        roof = objects[objects.note == "rooftop_shed"]
        assert (roof.base_m > 2).all()
    assert classes == CLASSES
    assert cats == CATEGORIES
    assert {name for name, _ in SETTINGS} <= notes
    assert sites[0] - sites[1], "some violations are resolved by epoch 2"
    assert sites[1] - sites[0], "some violations are new in epoch 2"
    _, vio1 = truth_frames(world, 1)
    per_ha = len(vio1) / (world.config.size_m ** 2 / 1e4)
    assert per_ha > 3 * world.config.violation_density
    ids = [t.site_id for t in world.things]
    assert len(ids) == len(set(ids))


def test_billboard_permits_include_expired_and_open_ended(world):
    d0 = world.dates[0]
    until = [b.valid_until for b in world.billboard_permits]
    assert any(u is None for u in until)
    assert any(u is not None and u < d0 for u in until)


def test_registry_passes_validation_and_jurisdictions_tile(world, tmp_path):
    path = write_registry(tmp_path / "registry.gpkg", **registry_frames(world))
    reg = read_registry(path)
    assert set(reg.parcels.land_use) >= {"residential", "green", "road", "water", "public"}
    assert reg.parcels.district.str.len().min() > 0
    tiles = unary_union([j.geometry for j in world.jurisdictions])
    assert tiles.area == pytest.approx(world.config.size_m ** 2, rel=1e-9)
    # they tile it: no overlaps (their areas add up to the union's)
    assert sum(j.geometry.area for j in world.jurisdictions) == pytest.approx(tiles.area,
                                                                              rel=1e-9)
    assert {j.squad.split("-")[0] for j in world.jurisdictions} == {
        j.district for j in world.jurisdictions}


def test_style_is_plain_and_deterministic():
    a, b = random_style(3, 1), random_style(3, 1)
    assert a == b and a != random_style(3, 2)
    json.dumps(asdict(a))
    assert 25 <= a.sun_elevation_deg <= 75


def test_render_is_deterministic_and_windows_join(small):
    r = VillageRenderer(small, 1, random_style(5, 1))
    x0, y0, x1, y1 = small.bounds
    g, left, top = 0.05, x0 + 40 * 0.05 * 8, y1 - 30 * 0.05 * 8
    whole = r.render(left, top, g, 512, 512, row0=240, col0=320)
    assert whole.shape == (512, 512, 3) and whole.dtype == np.uint8
    again = VillageRenderer(small, 1, random_style(5, 1)).render(left, top, g, 512, 512,
                                                                  row0=240, col0=320)
    assert np.array_equal(whole, again)
    for dr in (0, 256):
        for dc in (0, 256):
            part = r.render(left + dc * g, top - dr * g, g, 256, 256, row0=240 + dr,
                            col0=320 + dc)
            assert np.array_equal(part, whole[dr:dr + 256, dc:dc + 256]), (dr, dc)
    assert whole.std() > 10  # not a blank image


def test_windows_join_at_other_gsd_without_jpeg(small):
    r = VillageRenderer(small, 2, random_style(5, 2))
    x0, _, _, y1 = small.bounds
    g = 0.2
    whole = r.render(x0 + 7.3, y1 - 9.1, g, 200, 160, row0=3, col0=5)
    right = r.render(x0 + 7.3 + 120 * g, y1 - 9.1, g, 80, 160, row0=3, col0=125)
    assert np.array_equal(right, whole[:, 120:])


def test_windows_outside_the_district(small):
    r = VillageRenderer(small, 1, random_style(5, 1))
    x0, y0, x1, y1 = small.bounds
    far = r.render(x0 - 800, y1 + 800, 0.1, 128, 96)
    assert far.shape == (96, 128, 3)
    half = r.render(x1 - 6.4, y1 + 6.4, 0.05, 256, 256)
    assert half.shape == (256, 256, 3)
    # the outside quarter is plainer than the district quarter
    assert half[:128, :128].std() < half[128:, :128].std() + 40


def test_renderer_refuses_other_scenes():
    from geodata.synthetic import build_scene as classic
    with pytest.raises(TypeError):
        VillageRenderer(classic(WorldConfig(size_m=60, seed=1)), 1, random_style(1, 1))


def test_synth_writes_a_village_world_by_the_contract(tmp_path):
    """`skypatrol synth --renderer village`: the contract's layout, drawn by this generator."""
    import json

    import rasterio
    from click.testing import CliRunner

    from skypatrol.cli import cli

    out = tmp_path / "w"
    res = CliRunner().invoke(cli, ["synth", "--out", str(out), "--size-m", "60", "--seed", "4",
                                   "--renderer", "village", "--no-frames"])
    assert res.exit_code == 0, res.output
    assert json.loads((out / "world.json").read_text())["config"]["renderer"] == "village"
    for k in (1, 2):
        with rasterio.open(out / f"epoch{k}" / "ortho.tif") as ds:
            assert ds.width == 1200 and ds.read(1).std() > 5
        assert (out / f"epoch{k}" / "truth.gpkg").exists()
    bad = CliRunner().invoke(cli, ["synth", "--out", str(out), "--renderer", "escher"])
    assert bad.exit_code == 2 and "escher" in bad.output

"""Tiling and merging across tile seams (the model is exercised in tests/flows)."""

import pandas as pd
import pytest
import shapely
from affine import Affine
from shapely.geometry import box

from pipeline.detect import (
    TileDetection,
    TilingConfig,
    looks_like_board,
    merge_detections,
    plan_tiles,
    tile_core,
)
from pipeline.diff import overlap_ratio

CFG = TilingConfig(imgsz=100, model_gsd_m=0.1, overlap=0.2)  # 10 m tiles, 2 m overlap
T = Affine(0.1, 0, 0, 0, -0.1, 40.0)  # a 40 m x 40 m raster at 10 cm


def _tiles():
    return plan_tiles(400, 400, T, CFG)


def test_tile_cores_cover_the_raster_without_overlapping_inside():
    tiles = _tiles()
    cores = [tile_core(t) for t in tiles]
    assert shapely.union_all(cores).symmetric_difference(box(0, 0, 40, 40)).area < 1e-6
    assert sum(c.area for c in cores) == pytest.approx(40 * 40)  # a partition: no overlaps


def _piece(tile, geom, score=0.9):
    core = tile_core(tile)
    g = geom.intersection(box(*_bounds(tile)))
    left, top, right, bottom = tile.edges
    x0, y0, x1, y1 = _bounds(tile)
    cut = (left and g.bounds[0] <= x0 + 0.2) or (right and g.bounds[2] >= x1 - 0.2) or \
        (top and g.bounds[3] >= y1 - 0.2) or (bottom and g.bounds[1] <= y0 + 0.2)
    return TileDetection(0, score, g, bool(cut), core=core, frame=box(*_bounds(tile)))


def _bounds(tile):
    x0, y1 = tile.transform * (0, 0)
    x1, y0 = tile.transform * (CFG.imgsz, CFG.imgsz)
    return x0, y0, x1, y1


def test_a_structure_cut_by_four_tiles_comes_out_whole():
    building = box(6.5, 25.5, 11.5, 30.5)  # straddles the seams around (8, 8) from the top
    dets = [_piece(t, building) for t in _tiles() if box(*_bounds(t)).intersects(building)
            and box(*_bounds(t)).intersection(building).area > 0.5]
    assert len(dets) >= 4
    merged = merge_detections(dets)
    assert len(merged) == 1
    assert merged[0].geom.symmetric_difference(building).area < 0.5


def test_a_structure_far_larger_than_a_tile_comes_out_whole():
    """A warehouse 2.5 tiles wide: its pieces share only the 2 m overlap strips, a small part
    of each piece, yet they are one structure."""
    warehouse = box(3.5, 13.5, 28.5, 31.5)  # 25 m x 18 m over 10 m tiles
    dets = [_piece(t, warehouse) for t in _tiles() if box(*_bounds(t)).intersects(warehouse)
            and box(*_bounds(t)).intersection(warehouse).area > 0.5]
    assert len(dets) >= 9
    merged = merge_detections(dets)
    assert len(merged) == 1
    assert merged[0].geom.symmetric_difference(warehouse).area < 1.0
    # two buildings side by side, each cut by tiles, stay two
    pair = [box(3.5, 13.5, 9.4, 31.5), box(9.6, 13.5, 18.5, 31.5)]
    dets = [_piece(t, b) for b in pair for t in _tiles()
            if box(*_bounds(t)).intersection(b).area > 0.5]
    assert len(merge_detections(dets)) == 2
    # ... also where the left one's view bleeds 20 cm onto its neighbour's roof, on the
    # ground the two columns of tiles share (x 8-10 m)
    left, right = box(3.5, 13.5, 8.3, 31.5), box(8.1, 13.5, 18.5, 31.5)
    dets = [_piece(t, left) for t in _tiles() if _bounds(t)[0] == 0
            and box(*_bounds(t)).intersection(left).area > 0.5]
    dets += [_piece(t, right) for t in _tiles() if box(*_bounds(t)).intersection(right).area > 0.5]
    assert len(merge_detections(dets)) == 2


def test_a_mask_bleeding_at_a_tile_edge_is_trimmed_by_the_more_central_view():
    building = box(5.0, 22.0, 13.0, 27.0)  # cut by the seam at x = 8 (tiles start 0, 8, ...)
    tiles = [t for t in _tiles() if box(*_bounds(t)).intersects(building)]
    dets = [_piece(t, building) for t in tiles]
    # the left tile's mask bleeds 2 m above the roof, into the right tile's core, where the
    # right tile sees only roof
    left = min(range(len(dets)), key=lambda i: _bounds(tiles[i])[0])
    bleed = box(9.5, 27.0, 11.0, 29.0).intersection(box(*_bounds(tiles[left])))
    dets[left].geom = dets[left].geom.union(bleed)
    merged = merge_detections(dets)
    assert len(merged) == 1
    assert merged[0].geom.difference(building).area < 0.2


def test_a_low_scoring_billboard_must_look_like_a_board():
    from shapely import affinity

    board = affinity.rotate(box(0, 0, 8, 1.1), 30)
    assert looks_like_board(board)
    assert not looks_like_board(box(0, 0, 4.5, 1.8))  # a car
    assert not looks_like_board(box(0, 0, 9, 0.2))  # a road marking: too small
    assert not looks_like_board(box(0, 0, 12, 3.2))  # a slab too deep for a board
    assert not looks_like_board(box(0, 0, 0, 0))


def test_one_structure_seen_as_two_classes_keeps_the_better_one():
    yard_shed = box(2.0, 31.0, 8.0, 36.0)
    twice = [TileDetection(1, 0.8, yard_shed, False),
             TileDetection(0, 0.6, yard_shed.buffer(0.1), False)]
    merged = merge_detections(twice)
    assert [(d.cls, d.score) for d in merged] == [(1, 0.8)]
    roof, rooftop_shed = box(2.0, 31.0, 8.0, 37.0), box(3.0, 32.0, 5.0, 34.0)
    both = [TileDetection(0, 0.9, roof, False), TileDetection(1, 0.7, rooftop_shed, False)]
    assert len(merge_detections(both)) == 2


def test_a_lone_view_cut_by_its_tile_edge_is_unconfirmed():
    building = box(6.5, 25.5, 11.5, 30.5)
    pieces = [_piece(t, building) for t in _tiles() if box(*_bounds(t)).intersects(building)
              and box(*_bounds(t)).intersection(building).area > 0.5]
    assert not merge_detections(pieces)[0].unconfirmed  # neighbours saw the rest
    # only one tile "sees" it, at its edge: the neighbours looked at the rest and found nothing
    lone = [p for p in pieces if p.cut][:1]
    assert merge_detections(lone)[0].unconfirmed
    inside = box(1.0, 31.0, 4.0, 34.0)  # well inside the first tile
    whole = [_piece(t, inside) for t in _tiles() if box(*_bounds(t)).contains(inside)][:1]
    assert not whole[0].cut and not merge_detections(whole)[0].unconfirmed


def test_a_second_look_keeps_what_both_views_agree_on(tiny_world):
    from models.runtime import Detector
    from pipeline.detect import detect_raster, second_look

    det = Detector()
    cfg = TilingConfig.for_detector(det)
    ortho = str(tiny_world / "epoch1" / "ortho.tif")
    found = detect_raster(ortho, det, cfg, "EPSG:4549")
    look = [c in ("building", "shed") for c in found["class"]]
    assert sum(look) >= 3
    again = second_look(found, look, det, cfg)
    assert len(again) == len(found) and again.crs == found.crs
    changed = 0
    for a, b, lk in zip(found.geometry, again.geometry, look):
        assert b.difference(a).area < 0.01  # never grows: the agreed outline
        if not lk:
            assert a.equals(b)
        changed += not a.equals(b)
        assert b.area > 0.5 * a.area  # the same structure, seen twice
    assert changed >= 1


def test_the_centred_view_decides_whether_a_doubtful_detection_exists(tiny_world):
    import geopandas as gpd

    from models.runtime import Detector
    from pipeline.detect import detect_raster, second_look

    det = Detector()
    cfg = TilingConfig.for_detector(det)
    ortho = str(tiny_world / "epoch1" / "ortho.tif")
    found = detect_raster(ortho, det, cfg, "EPSG:4549")
    assert "unconfirmed" in found
    objects = gpd.read_file(tiny_world / "epoch1" / "truth.gpkg", layer="objects")
    stands = shapely.union_all(list(objects.geometry)).buffer(3)
    # a "shed" on open ground, far from anything standing: a tile-edge hallucination
    x0, y0, x1, y1 = objects.total_bounds
    ghost = next(g for x in range(int(x0), int(x1), 3) for y in range(int(y0), int(y1), 3)
                 if not (g := box(x, y, x + 6, y + 6)).intersects(stands))
    real = [i for i, c in enumerate(found["class"]) if c in ("building", "shed")][:3]
    assert len(real) == 3
    frame = pd.concat([found.iloc[real], gpd.GeoDataFrame(
        {"class": ["shed"], "score": [0.6], "source": [ortho], "unconfirmed": [True]},
        geometry=[ghost], crs=found.crs)], ignore_index=True)
    # and a piece of the first shed that one tile saw, cut by its edge: once confirmed it has
    # the shed's outline, a structure the survey already has
    first = found.geometry.iloc[real[0]]
    x0, y0, x1, y1 = first.bounds
    piece = found.iloc[[real[0]]].set_geometry([first.intersection(box(x0, y0, (x0 + x1) / 2,
                                                                        y1))], crs=found.crs)
    frame = pd.concat([frame, piece.assign(cut=True)], ignore_index=True)
    frame["unconfirmed"] = True
    frame.loc[0, "class"] = "building"  # a lone view that called a shed a building
    again = second_look(frame, [False] * len(frame), det, cfg, verify=[True] * len(frame))
    assert len(again) == len(real)  # the ghost is gone, the sheds stay
    assert not again["unconfirmed"].any()
    assert list(again["class"]) == ["shed"] * len(real)  # the centred view's class
    for g in again.geometry:
        assert any(overlap_ratio(g, f) > 0.5 for f in found.geometry.iloc[real])


def test_the_agreed_outline_takes_in_a_part_the_centred_view_sees_on_its_own():
    """A centred view that sees an extension as a structure of its own, overlapping the
    building, agrees on it; a neighbour the first outline bled onto is still cut away."""
    from pipeline.detect import agreed_outline

    first = box(0, 0, 20, 28)                  # building 20 x 20 + extension 8 m deep + ...
    building = box(0, 4, 20, 28)               # the centred view: the building, less 4 m
    extension = box(0, 0, 20, 8)               # ... and the extension, overlapping it
    neighbour = box(14, 22, 20, 28)            # a bled-onto shed seen apart, not overlapping
    neighbour_view = box(0, 6, 20, 28).difference(neighbour)
    agreed = agreed_outline(first, "building", [("building", building),
                                                ("building", extension)])
    assert agreed is not None and agreed.area == pytest.approx(first.area)
    agreed = agreed_outline(first, "building", [("building", neighbour_view),
                                                ("shed", neighbour)])
    assert agreed is not None and agreed.area == pytest.approx(neighbour_view.area)
    assert agreed_outline(first, "building", [("shed", first)]) is None  # not of its class


def test_a_coarse_whole_view_fills_what_the_stitched_pieces_missed():
    """A warehouse stitched from tiles lacks the end of its extension (the tile that trusted
    that ground missed it); the coarse view that sees it whole fills the notch, but neither
    its edge noise nor a mismatched view changes the outline, and it never cuts."""
    from pipeline.detect import filled_outline

    warehouse = box(6, 0, 56, 45)
    extension = box(0, 0, 6, 45)
    stitched = warehouse.union(box(0, 0, 6, 30))            # the last 15 m of it missed
    coarse = warehouse.union(extension).buffer(0.3)         # whole, 30 cm of edge noise
    filled = filled_outline(stitched, "building", [("building", coarse)])
    assert filled is not None
    assert filled.intersection(extension).area == pytest.approx(extension.area, rel=0.01)
    # the coarse edge noise comes along only around what it filled (15 + 6 + 15 m of edge)
    assert filled.difference(warehouse.union(extension)).area < 0.35 * 36
    assert filled.contains(stitched.buffer(-0.01))           # never cuts
    noisy = filled_outline(stitched, "building", [("building", stitched.buffer(0.8))])
    assert noisy is not None and noisy.area == pytest.approx(stitched.area)
    assert filled_outline(stitched, "building", [("shed", coarse)]) is None
    assert filled_outline(stitched, "building", [("building", box(0, 0, 20, 20))]) is None



def test_a_large_view_in_doubt_is_verified_through_a_coarse_whole_view(tiny_world):
    """A stretch of open ground a tile wide seen as one roof, cut by its tile's edges: too
    large for a centred tile, it is verified through a window two tiles wide, which shows no
    building there, and dropped; far larger than that, it is kept as it is."""
    import geopandas as gpd

    from models.runtime import Detector
    from pipeline.detect import second_look

    det = Detector()
    cfg = TilingConfig.for_detector(det)
    ortho = str(tiny_world / "epoch1" / "ortho.tif")
    objects = gpd.read_file(tiny_world / "epoch1" / "truth.gpkg", layer="objects")
    stands = shapely.union_all(list(objects.geometry))
    side = 0.9 * cfg.imgsz * cfg.model_gsd_m
    x0, y0, x1, y1 = objects.total_bounds
    ghost = min((box(x, y, x + side, y + side) for x in range(int(x0), int(x1 - side), 2)
                 for y in range(int(y0), int(y1 - side), 2)),
                key=lambda g: g.intersection(stands).area)
    assert ghost.intersection(stands).area < 0.2 * ghost.area  # mostly open ground
    frame = gpd.GeoDataFrame({"class": ["building"], "score": [0.56], "source": [ortho],
                              "unconfirmed": [True], "cut": [True]},
                             geometry=[ghost], crs="EPSG:4549")
    assert len(second_look(frame, [False], det, cfg, verify=[True])) == 0
    huge = frame.set_geometry([ghost.buffer(60, join_style="mitre")], crs="EPSG:4549")
    assert len(second_look(huge, [False], det, cfg, verify=[True])) == 1

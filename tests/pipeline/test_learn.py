"""Learning from reviews: the reviewed tiles' labels follow the analysts, the fine-tuned model
is judged on held-out reviews against its parent, and promoted only when better."""

import dataclasses
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import shapely
import shapely.affinity

from geodata.errors import InputError
from geodata.registry import read_registry
from models.card import ModelCard
from models.runtime import DEFAULT_CARD
from pipeline.cases import read_register, record_review, register_crs
from pipeline.diff import locate
from pipeline.learn import (
    Judgement,
    LearnConfig,
    add_replay,
    better,
    build_dataset,
    learn_from_reviews,
    reviewed_ground_areas,
    reviewed_sites,
    tile_labels,
)
from pipeline.reviews import Review, added_task_id, area_task_id
from tests.conftest import copy_register_file, free_square

pytestmark = pytest.mark.slow


def _layers(path):
    crs = register_crs(path)
    return {**read_register(path, crs), "crs": crs}


@pytest.fixture
def reviewed(surveyed_world, tmp_path):
    """The tiny world's survey reviewed: one rejected as not a structure, one added shed, one
    relabelled, the rest confirmed."""
    cases = copy_register_file(surveyed_world["cases"], tmp_path / "cases.gpkg")
    lay = _layers(cases)
    ids = sorted(lay["cases"].task_id)
    record_review(cases, Review(ids[0], "S1", "reject", "ana", reason="not_a_structure"))
    record_review(cases, Review(ids[1], "S1", "relabel", "ana",
                                category="illegal_construction", object_class="shed"))
    for tid in ids[2:]:
        record_review(cases, Review(tid, "S1", "confirm", "ana"))
    sq = free_square(lay)
    where = locate(sq, read_registry(surveyed_world["registry"]))
    added = added_task_id("S1", "illegal_construction", sq)
    record_review(cases, Review(added, "S1", "add", "ana", category="illegal_construction",
                                object_class="shed", geometry=sq, parcel_id=where[0],
                                district=where[1], squad=where[2]))
    return cases, {"rejected": ids[0], "relabelled": ids[1], "added": added, "square": sq}


def _labels(path):
    rows = []
    for line in path.read_text().split("\n"):
        if line.strip():
            cls, *v = line.split()
            rows.append((int(cls), shapely.Polygon(np.asarray(v, float).reshape(-1, 2))))
    return rows


def test_the_labels_follow_the_reviews(reviewed, tmp_path):
    cases, who = reviewed
    checked = who["square"].buffer(10, cap_style="square")  # the analyst checked this ground
    record_review(cases, Review(area_task_id("S1", checked), "S1", "area", "ana",
                                geometry=checked))
    lay = _layers(cases)
    cfg = LearnConfig(held_out_share=0.0)
    sites = reviewed_sites(lay, cfg)
    areas = reviewed_ground_areas(lay, cfg)
    assert len(areas) == 1 and who["added"] in {s.task_id for s in sites}
    verdicts = {s.task_id: s.verdict for s in sites}
    assert verdicts[who["rejected"]] == "negative"
    assert verdicts[who["added"]] == "positive"
    _, made = build_dataset(lay, sites, DEFAULT_CARD, tmp_path / "ds", areas=areas)
    ground = [t for t in made if "-area0-" in t.path]
    assert ground and all(t.keep.area > 0.3 * t.keep.envelope.area for t in ground)
    card = ModelCard.load(DEFAULT_CARD)
    px, gsd = card.imgsz, card.gsd_cm / 100

    def to_px(g, corner):
        return shapely.transform(g, lambda xy: np.column_stack(
            [(xy[:, 0] - corner[0]) / gsd, (corner[1] - xy[:, 1]) / gsd]))

    for t in ground:  # on checked ground only the reviewed structures are labels
        whole = to_px(checked, t.corner)
        marked = [to_px(o.geometry, t.corner) for o in t.sites if o.verdict == "positive"]
        name = t.path.replace("/images/", "/labels/").replace(".jpg", ".txt")
        for _, g in _labels(Path(name)):
            g = shapely.affinity.scale(g, px, px, origin=(0, 0))
            assert g.intersection(whole).area < 0.5 * g.area or any(
                g.intersects(m) for m in marked)
    card = ModelCard.load(DEFAULT_CARD)
    px, gsd = card.imgsz, card.gsd_cm / 100
    shed = card.classes.index("shed")
    lbl = tmp_path / "ds" / "labels" / "train"
    # the tile of the added shed is centred on it: one shed label where the analyst drew it
    added = _labels(lbl / f"S1-{who['added']}.txt")
    centre = shapely.box(0.5 - 2.5 / (px * gsd), 0.5 - 2.5 / (px * gsd),
                         0.5 + 2.5 / (px * gsd), 0.5 + 2.5 / (px * gsd))
    hits = [(c, g) for c, g in added if g.intersection(centre).area > 0.8 * centre.area]
    assert hits and hits[0][0] == shed
    # the rejected one's centre is labelled by nothing
    rej = _labels(lbl / f"S1-{who['rejected']}.txt")
    assert not any(g.contains(shapely.Point(0.5, 0.5)) for _, g in rej)
    img = cv2.imread(str(tmp_path / "ds" / "images" / "train" / f"S1-{who['added']}.jpg"))
    assert img.shape == (px, px, 3) and img.std() > 5


def test_the_fine_tune_is_judged_on_held_out_reviews(reviewed, tmp_path):
    cases, _ = reviewed
    cfg = LearnConfig(held_out_share=0.5, block_m=20.0, epochs=1, batch=4, min_sites=3)
    report = learn_from_reviews(cases, tmp_path / "learn", cfg=cfg)
    held = report["held_out"]
    assert held["old"]["positives"] > 0 and held["new"]["positives"] == held["old"]["positives"]
    assert report["train_tiles"] > 0 and report["held_out_tiles"] > 0
    card = ModelCard.load(report["card"])  # a card with sound weights
    lineage = card.training["from_reviews"]
    assert lineage["parent_model"] == str(DEFAULT_CARD.resolve())
    assert lineage["reviewed_sites"]["negative"] == 1
    where = "model" if report["promoted"] else "candidate"
    assert report["card"].endswith(f"{where}/skypatrol-seg.json")
    promoted = better(Judgement(recall=held["new"]["recall"], precision=held["new"]["precision"]),
                      Judgement(recall=held["old"]["recall"], precision=held["old"]["precision"]))
    assert report["promoted"] == promoted
    assert json.loads((tmp_path / "learn" / "learn.json").read_text())["promoted"] == promoted


def test_replay_adds_labelled_tiles_of_the_parents_own_generators(tmp_path):
    data = tmp_path / "dataset" / "data.yaml"
    (tmp_path / "dataset" / "images" / "train").mkdir(parents=True)
    data.write_text(f'path: "{data.parent}"\ntrain: images/train\nval: images/val\n'
                    "names:\n  0: building\n  1: shed\n  2: billboard\n")
    card = ModelCard.load(DEFAULT_CARD)  # trained on classic worlds: its record names none
    card = dataclasses.replace(card, training={**card.training,
                                               "dataset": {"renderers": ["village"]}})
    n = add_replay(data, card, 7, 7000, size_m=80.0)
    images = sorted((tmp_path / "dataset" / "replay" / "images" / "train").glob("*.jpg"))
    assert n == len(images) >= 7
    assert all(p.name.startswith("village7000_") for p in images)
    labels = [p.parent.parent.parent / "labels" / "train" / f"{p.stem}.txt" for p in images]
    assert all(p.exists() for p in labels) and any(p.read_text().strip() for p in labels)
    import yaml

    spec = yaml.safe_load(data.read_text())
    assert spec["train"] == ["images/train", str(images[0].parent.resolve())]
    assert spec["val"] == "images/val"  # the held-out reviews alone judge
    assert add_replay(data, card, 0, 7000) == 0


def test_a_rejected_finding_goes_but_the_roof_it_lay_on_stays():
    from pipeline.learn import Site

    roof = shapely.box(10, 10, 30, 30)  # tile pixels at 1 m: corner (0, 40)
    board = shapely.box(10, 28, 16, 30)  # a parapet strip read as a billboard
    shed = shapely.box(50, 10, 54, 14)
    dets = [("building", roof), ("billboard", board), ("shed", shed)]
    world = shapely.affinity.affine_transform  # tile pixels -> ground (y flips)
    flip = [1, 0, 0, -1, 0, 40]
    sites = [Site("B", "S1", "negative", "billboard", world(board, flip), "rejected"),
             Site("S", "S1", "negative", "shed", world(shed.buffer(0.5), flip), "rejected")]
    labels = tile_labels(dets, sites, (0.0, 40.0), 1.0, ("building", "shed", "billboard"))
    assert [(c, d.equals(roof)) for c, d in labels] == [("building", True)]


def test_promotion_needs_a_better_model():
    j = Judgement
    assert better(j(recall=0.8, precision=0.9), j(recall=0.7, precision=0.9))
    assert not better(j(recall=0.8, precision=0.8), j(recall=0.8, precision=0.8))
    assert not better(j(recall=0.9, precision=0.7), j(recall=0.8, precision=0.8))


def test_too_few_reviews_is_a_clear_error(surveyed_world, tmp_path):
    cases = copy_register_file(surveyed_world["cases"], tmp_path / "cases.gpkg")
    with pytest.raises(InputError, match="reviewed site"):
        learn_from_reviews(cases, tmp_path / "learn")

"""The learn-world benchmark's simulated analyst: every task judged, every true violation given."""

from collections import Counter

import geopandas as gpd
import pandas as pd
import shapely

from benchmarks.bench_learn_world import simulate_reviews
from pipeline.cases import read_register, record_review, register_crs
from pipeline.reviews import fold
from pipeline.survey import load_registry
from tests.conftest import copy_register_file


def _open_ground(cover, objects: gpd.GeoDataFrame, size: float = 4.0):
    taken = shapely.union_all(list(objects.geometry)).buffer(3.0)
    x0, y0, x1, y1 = cover.bounds
    for fx in (0.1 * k for k in range(1, 10)):
        for fy in (0.1 * k for k in range(1, 10)):
            sq = shapely.box(x0 + fx * (x1 - x0), y0 + fy * (y1 - y0),
                             x0 + fx * (x1 - x0) + size, y0 + fy * (y1 - y0) + size)
            if cover.contains(sq) and not sq.intersects(taken):
                return sq
    raise AssertionError("no open ground in the tiny world")


def test_the_simulated_analyst_judges_every_task_and_adds_every_missed_violation(
        surveyed_world, tiny_world, tmp_path):
    cases = copy_register_file(surveyed_world["cases"], tmp_path / "cases.gpkg")
    layers = read_register(cases, register_crs(cases))
    tasks = layers["observations"]
    tasks = tasks[tasks.survey_id == "S1"].reset_index(drop=True)
    truth = tiny_world / "epoch1" / "truth.gpkg"
    violations = gpd.read_file(truth, layer="violations").to_crs(tasks.crs)
    objects = gpd.read_file(truth, layer="objects").to_crs(tasks.crs)
    cover = layers["surveys"].geometry.iloc[0]
    legal = objects[(objects.category == "legal") & objects.object_class.isin(("building", "shed"))]
    # two findings no analyst would keep: one on open ground, one on a permitted structure
    fake = tasks.iloc[[0, 0]].copy()
    fake["task_id"] = ["FAKE-GROUND", "FAKE-LEGAL"]
    fake["category"] = "illegal_construction"
    fake["object_class"] = list(legal.object_class.iloc[[0, 0]])
    fake = fake.set_geometry([_open_ground(cover, objects), legal.geometry.iloc[0].buffer(-0.3)],
                             crs=tasks.crs)
    # and one true violation the survey "missed": its task dropped
    first = violations[violations.category != "illegal_billboard"].geometry.iloc[0]
    missed = tasks.geometry.intersects(first)
    # a true billboard no task found, with a false "roof" 1 m from it: no match for the board
    spot = _open_ground(cover, pd.concat([objects, fake[["geometry"]]], ignore_index=True), 14.0)
    x0, y0 = spot.bounds[:2]
    board = shapely.box(x0, y0, x0 + 3.0, y0 + 0.5)
    row = violations[violations.category != "illegal_billboard"].iloc[[0]].copy()
    row["category"], row["object_class"] = "illegal_billboard", "billboard"
    violations = pd.concat([violations, row.set_geometry([board], crs=violations.crs)],
                           ignore_index=True)
    roof = fake.iloc[[0]].copy()
    roof["task_id"] = "FAKE-BESIDE-BOARD"
    roof = roof.set_geometry([shapely.box(x0 + 4.0, y0, x0 + 12.0, y0 + 8.0)], crs=tasks.crs)
    fake = pd.concat([fake, roof], ignore_index=True)
    shown = pd.concat([tasks[~missed], fake], ignore_index=True)
    reviews = simulate_reviews(shown, violations, objects, "S1", cover,
                               load_registry(surveyed_world["registry"]))
    last = {r.task_id: r for r in reviews}
    assert (last["FAKE-GROUND"].action, last["FAKE-GROUND"].reason) == \
        ("reject", "not_a_structure")
    assert (last["FAKE-LEGAL"].action, last["FAKE-LEGAL"].reason) == ("reject", "permitted")
    assert not any(r.task_id == "FAKE-BESIDE-BOARD" and r.action in ("relabel", "confirm")
                   for r in reviews)
    # every task shown gets one final verdict; each true violation is found once or added
    assert set(shown.task_id) <= set(last)
    verdicts = Counter(r.action for r in reviews if r.action != "relabel")
    assert verdicts["confirm"] + verdicts["correct"] + verdicts["reject"] == len(shown)
    judged = [v for v in violations.itertuples()
              if v.geometry.representative_point().within(cover)]
    assert verdicts["confirm"] + verdicts["correct"] + verdicts["add"] == len(judged)
    added = [r for r in reviews if r.action == "add"]
    assert any(r.geometry.intersection(first).area > 0.9 * first.area for r in added)
    assert any(r.category == "illegal_billboard" and r.geometry.distance(board) < 0.1
               for r in added)
    # and the register takes every review of the real tasks
    for r in reviews:
        if not r.task_id.startswith("FAKE"):
            record_review(cases, r)
    state = fold(read_register(cases, register_crs(cases))["reviews"])
    assert {t for t in tasks[~missed].task_id} <= {t for t, s in state.items() if s["review"]}

"""Analysts' reviews in the case register: kept beside the observations, folded into cases,
reflected in the next survey's outputs, refused when wrong, never lost to a second reviewer."""

import dataclasses
import datetime as dt
import hashlib
import json
import multiprocessing
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
import shapely

from geodata.errors import InputError
from geodata.registry import read_registry
from pipeline import survey as sv
from pipeline.cases import copy_register, read_register, record_review, register_crs
from pipeline.dashboard import dashboard_data
from pipeline.diff import locate
from pipeline.reviews import Review, added_task_id, fold
from tests.conftest import copy_register_file, free_square


def _cases(path):
    return read_register(path, register_crs(path))


def _add(path, registry_path, survey_id, geom, reviewer="ana"):
    where = locate(geom, read_registry(registry_path))
    tid = added_task_id(survey_id, "illegal_construction", geom)
    record_review(path, Review(tid, survey_id, "add", reviewer, category="illegal_construction",
                               object_class="shed", geometry=geom, parcel_id=where[0],
                               district=where[1], squad=where[2]))
    return tid


def test_the_latest_review_decides_and_an_outline_stays_with_its_survey():
    rows = pd.DataFrame([
        {"review_id": "a", "task_id": "T1", "survey_id": "S1", "action": "reject",
         "reason": "permitted", "category": None, "object_class": None, "reviewer": "ana",
         "reviewed_at": "2026-03-02T10:00:00", "note": None, "geometry": None},
        {"review_id": "b", "task_id": "T1", "survey_id": "S1", "action": "confirm",
         "reason": None, "category": None, "object_class": None, "reviewer": "bo",
         "reviewed_at": "2026-03-02T11:00:00", "note": None, "geometry": None},
        {"review_id": "c", "task_id": "T2", "survey_id": "S1", "action": "correct",
         "reason": None, "category": None, "object_class": None, "reviewer": "ana",
         "reviewed_at": "2026-03-02T10:00:00", "note": None, "geometry": shapely.box(0, 0, 2, 2)},
        {"review_id": "d", "task_id": "T2", "survey_id": "S1", "action": "relabel",
         "reason": None, "category": "illegal_construction", "object_class": "shed",
         "reviewer": "ana", "reviewed_at": "2026-03-02T10:05:00", "note": None,
         "geometry": None},
    ])
    state = fold(rows)
    assert state["T1"]["review"] == "confirmed" and state["T1"]["reviewed_by"] == "bo"
    assert state["T2"]["review"] == "relabelled"
    assert state["T2"]["geometry"].area == 4 and state["T2"]["geometry_survey"] == "S1"
    assert state["T2"]["object_class"] == "shed"


def test_reviews_reach_the_next_surveys_outputs(surveyed_world, tmp_path):
    cases = copy_register_file(surveyed_world["cases"], tmp_path / "cases.gpkg")
    before = _cases(cases)
    ids = sorted(before["cases"].task_id)
    assert len(ids) >= 5, "the tiny world has too few findings for this test"
    rejected, corrected, relabelled, confirmed = ids[0], ids[1], ids[2], ids[3]
    record_review(cases, Review(rejected, "S1", "reject", "ana", reason="not_a_structure"))
    g = before["cases"].set_index("task_id").geometry[corrected]
    smaller = shapely.Polygon(g.buffer(-0.3).exterior) if g.buffer(-0.3).geom_type == \
        "Polygon" else g.buffer(-0.3)
    record_review(cases, Review(corrected, "S1", "correct", "ana", geometry=smaller))
    record_review(cases, Review(relabelled, "S1", "relabel", "bo",
                                category="illegal_construction", object_class="shed"))
    record_review(cases, Review(confirmed, "S1", "confirm", "bo"))
    spot = free_square(before, size=4.0, keep_off_m=5.0)
    added = _add(cases, surveyed_world["registry"], "S1", spot)

    after = _cases(cases)
    # observations are never changed; the reviews are kept beside them, who and when
    assert len(after["observations"]) == len(before["observations"])
    assert sorted(after["reviews"].action) == ["add", "confirm", "correct", "reject", "relabel"]
    assert set(after["reviews"].reviewer) == {"ana", "bo"}
    c = after["cases"].set_index("task_id")
    assert c.at[rejected, "review"] == "rejected"
    assert c.at[corrected, "review"] == "corrected"
    assert c.at[corrected, "area_m2"] == pytest.approx(smaller.area, abs=0.01)
    assert c.at[added, "status"] == "open" and c.at[added, "review"] == "added"
    assert c.at[added, "squad"]  # located in the registry's jurisdictions

    # the dashboard leaves the rejected finding out and counts the added one
    data = dashboard_data(cases, date_to=dt.date(2026, 3, 2))
    assert data["open"]["count"] == len(before["cases"]) - 1 + 1
    shown = {s["task_id"] for s in data["sites"]}
    assert rejected not in shown and added in shown

    # the survey run again: the squads' outputs reflect every review
    spec = dataclasses.replace(surveyed_world["spec"], out=tmp_path / "S1-again", cases=cases)
    summary = sv.run_survey(spec)
    tasks = {f["properties"]["task_id"]: f["properties"] for f in json.loads(
        (tmp_path / "S1-again" / "tasks.geojson").read_text())["features"]}
    assert rejected not in tasks
    assert summary["rejected_by_review"] == 1
    assert added in tasks and tasks[added]["verified"] is True
    assert tasks[added]["source"] == "review"
    assert tasks[corrected]["area_m2"] == pytest.approx(smaller.area, abs=0.01)
    assert tasks[relabelled]["object_class"] == "shed" and tasks[relabelled]["verified"]
    assert tasks[confirmed]["verified"] and tasks[confirmed]["review"] == "confirmed"
    unreviewed = set(tasks) - {added, corrected, relabelled, confirmed}
    assert all(not tasks[t]["verified"] for t in unreviewed)
    pages = "".join(p.read_text() for p in (tmp_path / "S1-again" / "squads").glob("*.html"))
    assert rejected not in pages and added in pages
    assert pages.count('class="verified"') == 4
    assert "rejected" not in (tmp_path / "S1-again" / "tasks.csv").read_text().split("\n", 1)[1]
    # the register after the rerun still holds every review, and the same observations
    again = _cases(cases)
    assert len(again["reviews"]) == 5
    assert len(again["observations"]) == len(before["observations"])


def test_bad_reviews_are_refused_and_change_nothing(surveyed_world, tmp_path):
    cases = copy_register_file(surveyed_world["cases"], tmp_path / "cases.gpkg")
    tid = sorted(_cases(cases)["cases"].task_id)[0]
    digest = hashlib.sha256(cases.read_bytes()).hexdigest()
    bow = shapely.Polygon([(0, 0), (10, 10), (10, 0), (0, 10)])
    bad = {
        "unknown action": Review(tid, "S1", "delete", "ana"),
        "unknown case": Review("SP-NOPE", "S1", "confirm", "ana"),
        "unknown survey": Review(tid, "S9", "confirm", "ana"),
        "a reason": Review(tid, "S1", "reject", "ana"),
        "reviewer": Review(tid, "S1", "confirm", " "),
        "not a valid polygon": Review(tid, "S1", "correct", "ana", geometry=bow),
        "outside": Review(tid, "S1", "correct", "ana", geometry=shapely.box(0, 0, 1000, 1000)),
        "billboard": Review(tid, "S1", "relabel", "ana", category="illegal_billboard",
                            object_class="shed"),
        "takes no outline": Review(tid, "S1", "confirm", "ana", geometry=shapely.box(0, 0, 1, 1)),
    }
    for words, review in bad.items():
        with pytest.raises(InputError, match=words.split()[-1]):
            record_review(cases, review)
    assert hashlib.sha256(cases.read_bytes()).hexdigest() == digest


def _review_many(path: str, reviewer: str, ids: list[str]) -> None:
    for tid in ids:
        record_review(Path(path), Review(tid, "S1", "confirm", reviewer, note=reviewer))


def test_two_reviewers_at_once_lose_nothing(surveyed_world, tmp_path):
    cases = copy_register_file(surveyed_world["cases"], tmp_path / "cases.gpkg")
    ids = sorted(_cases(cases)["cases"].task_id)
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_review_many, args=(str(cases), who, ids))
             for who in ("ana", "bo")]
    for p in procs:
        p.start()
    for p in procs:
        p.join(240)
        assert p.exitcode == 0
    rv = _cases(cases)["reviews"]
    assert len(rv) == 2 * len(ids)
    assert rv.groupby("reviewer").size().to_dict() == {"ana": len(ids), "bo": len(ids)}


def test_reviews_in_a_postgis_register(surveyed_world, pg_register, tmp_path):
    copy_register(surveyed_world["cases"], pg_register)
    reg = read_register(pg_register, register_crs(pg_register))
    ids = sorted(reg["cases"].task_id)
    record_review(pg_register, Review(ids[0], "S1", "reject", "ana", reason="duplicate"))
    g = reg["cases"].set_index("task_id").geometry[ids[1]]
    record_review(pg_register, Review(ids[1], "S1", "correct", "bo", geometry=g.buffer(0.2)))
    after = read_register(pg_register, register_crs(pg_register))
    assert list(after["reviews"].action) == ["reject", "correct"]
    c = after["cases"].set_index("task_id")
    assert c.at[ids[0], "review"] == "rejected"
    assert c.at[ids[1], "area_m2"] == pytest.approx(g.buffer(0.2).area, abs=0.01)
    assert isinstance(after["reviews"], gpd.GeoDataFrame)
    assert after["reviews"].geometry.iloc[0] is None
    # ...and back into a GeoPackage with the reviews
    copy_register(pg_register, tmp_path / "back.gpkg")
    assert len(_cases(tmp_path / "back.gpkg")["reviews"]) == 2


# --- the register across surveys, without imagery: findings given as the diff would give them

CRS = "EPSG:4549"
GROUND = shapely.box(500000, 3500000, 500200, 3500200)


def _survey(path, sid, date, sites):
    """Record a survey that covered GROUND and found ``sites``: [(category, geometry)]."""
    from pipeline.cases import update_register

    v = gpd.GeoDataFrame({"category": [c for c, _ in sites],
                          "object_class": ["building" if c != "illegal_billboard"
                                           else "billboard" for c, _ in sites],
                          "area_m2": [g.area for _, g in sites], "confidence": 0.9,
                          "parcel_id": "P1", "district": "D", "squad": "Q1", "source": "x.tif"},
                         geometry=gpd.GeoSeries([g for _, g in sites], crs=CRS), crs=CRS)
    return update_register(path, sid, dt.date.fromisoformat(date), GROUND, v)


SHED = shapely.box(500050, 3500050, 500060, 3500058)


def test_a_relabel_holds_when_a_later_survey_finds_the_site(tmp_path):
    reg = tmp_path / "cases.gpkg"
    tid = _survey(reg, "A", "2026-03-01", [("illegal_construction", SHED)]).tasks.task_id[0]
    record_review(reg, Review(tid, "A", "relabel", "ana", category="green_encroachment",
                              object_class="shed"))
    b = _survey(reg, "B", "2026-04-01", [("illegal_construction", SHED)])
    assert list(b.tasks.task_id) == [tid]  # the same case, not a new one
    assert b.tasks.category[0] == "green_encroachment" and b.tasks.verified[0]
    assert len(b.resolved) == 0


def test_a_rejected_finding_stays_rejected_when_it_comes_back(tmp_path):
    reg = tmp_path / "cases.gpkg"
    tid = _survey(reg, "A", "2026-03-01", [("illegal_construction", SHED)]).tasks.task_id[0]
    record_review(reg, Review(tid, "A", "reject", "ana", reason="not_a_structure"))
    b = _survey(reg, "B", "2026-04-01", [])  # the false finding is not seen this time...
    assert len(b.resolved) == 0  # ...which is no rectification to count
    c = _survey(reg, "C", "2026-05-01", [("illegal_construction", SHED)])  # ...and is again
    assert list(c.tasks.task_id) == [tid] and c.tasks.review[0] == "rejected"
    cases = _cases(reg)["cases"].set_index("task_id")
    assert cases.at[tid, "review"] == "rejected" and cases.at[tid, "status"] == "open"


def test_an_added_site_reaches_the_squads_of_later_surveys(tmp_path):
    reg = tmp_path / "cases.gpkg"
    _survey(reg, "A", "2026-03-01", [("illegal_construction", SHED)])
    missed = shapely.box(500120, 3500120, 500126, 3500125)
    added = added_task_id("A", "illegal_construction", missed)
    record_review(reg, Review(added, "A", "add", "ana", category="illegal_construction",
                              object_class="shed", geometry=missed, parcel_id="P1",
                              district="D", squad="Q1"))
    c = _survey(reg, "C", "2026-05-01", [("illegal_construction", SHED)])  # missed again
    row = c.tasks.set_index("task_id").loc[added]
    assert row.source == "review" and row.status == "persisting" and row.verified
    assert added not in set(c.resolved.task_id)
    # the model finds it at last: its finding takes the added case's id
    d = _survey(reg, "D", "2026-06-01", [("illegal_construction", missed.buffer(0.2))])
    assert list(d.tasks.task_id) == [added]

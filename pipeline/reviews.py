"""Analysts' reviews of findings: kept in the case register beside the observations.

A review is one analyst's verdict on one case, as seen in one survey's imagery: ``confirm``
(the finding is right), ``reject`` (a false finding, with a reason), ``correct`` (the right
outline), ``relabel`` (the right category and class) or ``add`` (a structure the model missed,
drawn by the analyst). Reviews are appended to the register's ``reviews`` layer and never
change an observation; the case register folds them in when it derives its cases:

- a rejected case stays in the register, marked ``rejected``; it reaches no work order, task
  list or total, and a later survey's finding of the same site stays rejected;
- a confirmed, corrected or relabelled case is ``verified`` in every output; a corrected
  outline replaces the outline of the survey it was drawn on (a later survey's own outline
  replaces it in turn), a relabel holds for later surveys too;
- an added site is a case first seen by the survey it was drawn on. The model missed it once,
  so a later survey that does not see it does not resolve it: only a review does.

The latest review of a case decides its verdict (a confirm after a reject restores it).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import pandas as pd
import shapely
from shapely.geometry.base import BaseGeometry

from geodata.errors import InputError

ACTIONS = ("confirm", "reject", "correct", "relabel", "add", "area")
#: Why a finding is false (the analyst picks one; shown translated in the web application).
REJECT_REASONS = ("not_a_structure", "permitted", "duplicate", "temporary", "other")
#: The object classes each category's findings can have.
CLASSES = {
    "illegal_construction": ("building", "shed"),
    "green_encroachment": ("building", "shed", "cleared_ground"),
    "illegal_billboard": ("billboard",),
}
REVIEW_COLUMNS = ["review_id", "task_id", "survey_id", "action", "reason", "category",
                  "object_class", "reviewer", "reviewed_at", "note", "parcel_id", "district",
                  "squad"]
#: What a case's latest review makes of it (the ``review`` column of cases and tasks).
VERDICT = {"confirm": "confirmed", "reject": "rejected", "correct": "corrected",
           "relabel": "relabelled", "add": "added"}
#: The largest outline a reviewer may draw, m² (a slip of the mouse over a whole district).
MAX_AREA_M2 = 50_000.0
#: The largest ground an ``area`` review may mark as checked, m² (a map view at zoom 18).
MAX_REVIEWED_AREA_M2 = 500_000.0


@dataclass(frozen=True)
class Review:
    """One analyst's verdict on one case (``geometry`` in the register's CRS)."""

    task_id: str
    survey_id: str
    action: str
    reviewer: str
    reason: str | None = None
    category: str | None = None
    object_class: str | None = None
    note: str | None = None
    geometry: BaseGeometry | None = None
    parcel_id: str | None = None  # where an added site lies (the registry's parcel, ...)
    district: str | None = None
    squad: str | None = None


def added_task_id(survey_id: str, category: str, geom: BaseGeometry) -> str:
    """The id of a site an analyst added: stable for the same survey, category and place."""
    c = geom.representative_point()
    key = f"review|{survey_id}|{category}|{c.x:.1f}|{c.y:.1f}"
    return "RV-" + hashlib.sha1(key.encode()).hexdigest()[:10].upper()


def check_review(r: Review, cases: pd.DataFrame, surveys: pd.DataFrame) -> None:
    """Refuse a review the register cannot take, saying why.

    Raises:
        InputError: an unknown action, case or survey; a missing or unknown reason,
            category or class; an outline that is missing, not a valid polygon or too large.

    """
    if r.action not in ACTIONS:
        raise InputError(f"unknown action '{r.action}' (one of {', '.join(ACTIONS)})")
    if not r.reviewer or not r.reviewer.strip():
        raise InputError("a review needs the reviewer's name")
    if r.survey_id not in set(surveys.survey_id):
        raise InputError(f"unknown survey '{r.survey_id}'")
    if r.action == "area":
        # "I checked this ground: every structure on it is marked" (found, corrected, added)
        g = r.geometry
        if g is None or g.is_empty or g.geom_type not in ("Polygon", "MultiPolygon") \
                or not g.is_valid:
            raise InputError("the reviewed area must be a valid polygon")
        if g.area > MAX_REVIEWED_AREA_M2:
            raise InputError(f"the reviewed area {g.area / 1e4:.1f} ha is over "
                             f"{MAX_REVIEWED_AREA_M2 / 1e4:.0f} ha: zoom in")
        return
    if r.action != "add" and r.task_id not in set(cases.task_id):
        raise InputError(f"unknown case '{r.task_id}'")
    if r.action == "reject" and r.reason not in REJECT_REASONS:
        raise InputError(f"a rejection needs a reason (one of {', '.join(REJECT_REASONS)})")
    if r.action in ("relabel", "add"):
        if r.category not in CLASSES:
            raise InputError(f"unknown category '{r.category}' "
                             f"(one of {', '.join(CLASSES)})")
        if r.object_class not in CLASSES[r.category]:
            raise InputError(f"class '{r.object_class}' is not one of {r.category}'s "
                             f"({', '.join(CLASSES[r.category])})")
    if r.action in ("correct", "add"):
        g = r.geometry
        if g is None or g.is_empty or g.geom_type not in ("Polygon", "MultiPolygon"):
            raise InputError("the outline must be a polygon")
        if not g.is_valid:
            raise InputError(f"the outline is not a valid polygon ({shapely.is_valid_reason(g)})")
        if not 0.05 <= g.area <= MAX_AREA_M2:
            raise InputError(f"the outline's area {g.area:.2f} m² is outside "
                             f"0.05–{MAX_AREA_M2:.0f} m²")
    elif r.geometry is not None:
        raise InputError(f"a '{r.action}' review takes no outline")


def review_row(r: Review) -> dict[str, Any]:
    """The register row of a review (its id and time stamped now)."""
    return {"review_id": uuid.uuid4().hex, "task_id": r.task_id, "survey_id": r.survey_id,
            "action": r.action, "reason": r.reason, "category": r.category,
            "object_class": r.object_class, "reviewer": r.reviewer.strip()[:80],
            "reviewed_at": dt.datetime.now(dt.UTC).isoformat(timespec="microseconds"),
            "note": (r.note or None) and r.note[:500], "parcel_id": r.parcel_id,
            "district": r.district, "squad": r.squad, "geometry": r.geometry}


def fold(reviews: pd.DataFrame | None) -> dict[str, dict[str, Any]]:
    """Each reviewed case's state after all its reviews, oldest first.

    Returns ``{task_id: {review, reviewed_by, reviewed_at, reason, category, object_class,
    geometry, geometry_survey, survey_id}}``: ``review`` is the latest verdict; category and
    class the latest relabel's (or the addition's); ``geometry`` the latest corrected or added
    outline with the survey it was drawn on.
    """
    state: dict[str, dict[str, Any]] = {}
    if reviews is None or not len(reviews):
        return state
    for r in reviews.sort_values(["reviewed_at", "review_id"]).itertuples():
        if r.action == "area":
            continue  # ground an analyst checked: no case's verdict (see reviewed_areas)
        s = state.setdefault(str(r.task_id), {"category": None, "object_class": None,
                                               "geometry": None, "geometry_survey": None,
                                               "reason": None, "added": False})
        s.update(review=VERDICT[str(r.action)], reviewed_by=r.reviewer,
                 reviewed_at=r.reviewed_at, survey_id=r.survey_id)
        s["reason"] = r.reason if r.action == "reject" else None
        if r.action in ("relabel", "add"):
            s["category"], s["object_class"] = r.category, r.object_class
        if r.action in ("correct", "add"):
            s["geometry"], s["geometry_survey"] = r.geometry, r.survey_id
        if r.action == "add":
            s["added"] = True
            s.update(parcel_id=r.parcel_id, district=r.district, squad=r.squad)
        if s["added"] and r.action == "confirm":
            s["review"] = "added"  # an added site confirmed is still one the model missed
    return state


def area_task_id(survey_id: str, geom: BaseGeometry) -> str:
    """The id an ``area`` review is kept under (it is no case)."""
    x0, y0, x1, y1 = geom.bounds
    key = f"area|{survey_id}|{x0:.1f}|{y0:.1f}|{x1:.1f}|{y1:.1f}"
    return "AREA-" + hashlib.sha1(key.encode()).hexdigest()[:10].upper()


def reviewed_areas(reviews: pd.DataFrame | None) -> list[tuple[str, BaseGeometry]]:
    """The ground analysts marked as fully checked: (survey id, polygon)."""
    if reviews is None or not len(reviews):
        return []
    rows = reviews[reviews.action == "area"]
    return [(str(r.survey_id), r.geometry) for r in rows.itertuples()
            if r.geometry is not None and not r.geometry.is_empty]


def is_verified(review: Any) -> bool:
    """Whether a case's review verdict says an analyst found it right."""
    return review in ("confirmed", "corrected", "relabelled", "added")


def apply_to_case(row: dict[str, Any], s: dict[str, Any] | None, last_survey: str) -> None:
    """Fold a case's review state into its derived row (in place).

    ``match_category`` keeps the model's category: a later survey's finding of the site is
    matched by it (the model keeps seeing what it saw, whatever an analyst relabelled).
    """
    row.update(review=None, reviewed_by=None, reviewed_at=None,
               match_category=row["category"])
    if s is None:
        return
    row.update(review=s["review"], reviewed_by=s["reviewed_by"], reviewed_at=s["reviewed_at"])
    if s["category"]:
        row["category"], row["object_class"] = s["category"], s["object_class"]
    if s["geometry"] is not None and s["geometry_survey"] == last_survey:
        row["geometry"] = s["geometry"]
        row["area_m2"] = round(float(s["geometry"].area), 2)


def added_cases(state: dict[str, dict[str, Any]], seen: set[str],
                survey_dates: dict[str, str]) -> list[dict[str, Any]]:
    """Case rows of the sites analysts added that no survey's finding has matched since.

    They stay open: the model missed them, so its not seeing them again is no evidence.
    """
    rows = []
    for tid, s in state.items():
        date = survey_dates.get(str(s["geometry_survey"]))
        if not s["added"] or tid in seen or date is None:
            continue
        area = round(float(s["geometry"].area), 2)
        rows.append({
            "task_id": tid, "category": s["category"], "object_class": s["object_class"],
            "status": "open", "first_seen": date, "last_seen": date,
            "surveys": s["geometry_survey"], "n_surveys": 1, "area_m2": area,
            "first_area_m2": area, "max_area_m2": area, "resolved_on": None,
            "resolved_by": None, "parcel_id": s["parcel_id"], "district": s["district"] or "",
            "squad": s["squad"] or "", "review": s["review"], "reviewed_by": s["reviewed_by"],
            "reviewed_at": s["reviewed_at"], "match_category": s["category"],
            "geometry": s["geometry"],
        })
    return rows


def apply_to_tasks(tasks: gpd.GeoDataFrame, state: dict[str, dict[str, Any]],
                   survey_id: str, imaged: Callable[[str, dict[str, Any]], bool] | None = None
                   ) -> gpd.GeoDataFrame:
    """One survey's tasks with their reviews folded in, and the sites analysts added.

    Adds ``review`` (the verdict, or empty) and ``verified``; a rejected task stays, marked,
    for the caller to keep out of the squads' outputs. An added site is a task of the survey
    it was drawn on, and of each later survey that ``imaged`` it and did not find it itself
    (the model missed it before: the squads still have to go).
    """
    out = tasks.copy()
    reviews, geoms = [], list(out.geometry)
    for i, row in enumerate(out.itertuples()):
        s = state.get(str(row.task_id))
        reviews.append(s["review"] if s else "")
        if s is None:
            continue
        if s["category"]:
            out.loc[out.index[i], ["category", "object_class"]] = [s["category"],
                                                                   s["object_class"]]
        if s["geometry"] is not None and s["geometry_survey"] == survey_id:
            geoms[i] = s["geometry"]
            out.loc[out.index[i], "area_m2"] = round(float(s["geometry"].area), 2)
    out = out.set_geometry(gpd.GeoSeries(geoms, index=out.index, crs=out.crs))
    out["review"] = reviews
    taken = set(out.task_id)
    found = shapely.STRtree(list(out.geometry))

    def seen(g: BaseGeometry) -> bool:  # the survey's own finding of the added site
        near = found.query(g, predicate="intersects")
        return any(out.geometry.iloc[j].intersection(g).area >= 0.5 * g.area for j in near)

    added = [{"task_id": tid, "category": s["category"], "object_class": s["object_class"],
              "area_m2": round(float(s["geometry"].area), 2), "confidence": float("nan"),
              "parcel_id": s["parcel_id"], "district": s["district"] or "",
              "squad": s["squad"] or "", "source": "review", "review": s["review"],
              "geometry": s["geometry"]}
             for tid, s in state.items()
             if s["added"] and tid not in taken and s["review"] != "rejected"
             and (s["geometry_survey"] == survey_id or (imaged is not None and imaged(tid, s)))
             and not seen(s["geometry"])]
    if added:
        extra = gpd.GeoDataFrame(pd.DataFrame(added), geometry="geometry", crs=out.crs)
        out = gpd.GeoDataFrame(pd.concat([out, extra], ignore_index=True),
                               geometry="geometry", crs=out.crs)
    out["verified"] = [is_verified(v) for v in out.review]
    return out

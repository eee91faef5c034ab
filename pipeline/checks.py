"""The named checks between the model's detections and the squads' tasks.

The model proposes structures and boards; the registry diff turns them into violations. In
between, image and geometry checks keep, drop, relabel or reshape what the model proposed.
Each check has a name, says what it applies to and which verdicts it gives, and reads its
thresholds from ``DiffConfig`` (one config, settable with ``--config CHECKS.toml``; a check
is switched off under ``[checks]``). Every detection and every finding records the checks
that decided it (its *trail*: ``shadow:drop (no shadow: 0.21 of the buildings')``), which
``detections.gpkg``, the task files, the report and the work orders show.

Whether a check earns its place is measured, not assumed: ``python -m benchmarks checks``
runs the survey on held-out worlds of both renderers with each check switched off in turn
(docs/checks.md has the table).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

#: the verdicts a check can give
VERDICTS = ("keep", "drop", "relabel", "reshape", "doubt", "add")


@dataclass(frozen=True)
class Check:
    """One named check: what it looks at, what it can decide, and the settings it reads."""

    name: str
    applies_to: str
    verdicts: tuple[str, ...]
    settings: tuple[str, ...]
    what: str


CHECKS: dict[str, Check] = {c.name: c for c in (
    Check("board_shape", "billboards scored between the card's billboard threshold and its "
          "general one", ("keep", "drop"), ("card: class_score_thresholds",),
          "a low-scored board is kept only if shaped like a thin slab (a car or a road marking "
          "is not)"),
    Check("second_look", "structures whose outline would extend a permit; lone views their "
          "neighbouring tiles did not see", ("reshape", "relabel", "drop", "keep"), (),
          "looks again through a tile centred on the structure (coarser and whole for large "
          "ones): the outline both views agree on is kept; a lone view the centred one does "
          "not find is dropped"),
    Check("roof_colour", "sheds lying on a permitted building's roof", ("relabel", "keep"),
          ("min_roof_contrast",),
          "a 'shed' the colour of the roof around it (ΔE below the setting) and casting no "
          "shadow is part of that roof"),
    Check("shadow", "structures off the permits (and sheds on roofs) larger than "
          "shadow_check_m2", ("drop", "keep"),
          ("min_shadow_ratio", "max_shadow_ratio", "shadow_unreadable_ratio",
           "shadow_unreadable_m2", "shadow_check_m2", "min_shadow_contrast",
           "shadow_veto_below", "shadow_reach_m"),
          "a structure must cast a shadow like the registered buildings in the same image; "
          "one that does not is a flat surface (paving, water, a scar)"),
    Check("vegetation_cover", "buildings and sheds", ("drop",),
          ("max_vegetation_share", "vegetation_exg", "vegetation_gsd_m"),
          "a structure whose outline is mostly vegetation (excess-green index) is a lawn, a "
          "field or a tree crown the model took for a roof"),
    Check("vegetation_index", "green parcels' pixels", ("add",),
          ("exg_threshold", "exg_relative", "dark_threshold", "shadow_relative",
           "vegetation_gsd_m", "min_green_m2"),
          "finds unvegetated ground in green parcels (excess-green index below the image's "
          "own vegetation), leaving shadows and the structures already found out"),
    Check("permit_fit", "sheds and buildings over permitted footprints", ("relabel", "keep"),
          (),
          "a 'shed' with the outline of a permitted building (IoU >= 0.7) is that building; a "
          "'building' lying 80 % inside a permitted shed is that shed"),
    Check("extension_depth", "structures beyond the permits of their kind",
          ("reshape", "drop", "keep"),
          ("footprint_tolerance_m", "extension_min_depth_m", "min_extension_m2",
           "min_violation_m2"),
          "the excess over a permit is kept where it is at least a room deep "
          "(extension_min_depth_m) and large enough; thinner is outline noise"),
    Check("ground_spill", "extensions of permitted structures", ("drop", "keep"),
          ("min_ground_contrast",),
          "an excess that looks like the open ground beside it is an outline spilling onto "
          "it (off by default: min_ground_contrast 0)"),
    Check("merge_sites", "illegal-construction findings overlapping each other; touching "
          "green-encroachment findings in one parcel", ("reshape",), (),
          "one structure, one site: its parts merged, its area counted once"),
)}


def check_names() -> tuple[str, ...]:
    """The names of every check, in the order a survey applies them."""
    return tuple(CHECKS)


def validate_off(names: Iterable[str]) -> frozenset[str]:
    """The set of checks to switch off; raises ValueError naming an unknown one."""
    off = frozenset(names)
    unknown = sorted(off - set(CHECKS))
    if unknown:
        raise ValueError(f"unknown check(s) {', '.join(unknown)} (known: "
                         f"{', '.join(CHECKS)})")
    return off


def entry(check: str, verdict: str, reason: str = "") -> str:
    """One line of a trail: ``check:verdict (reason)``."""
    if check not in CHECKS or verdict not in VERDICTS:
        raise ValueError(f"no check {check!r} with verdict {verdict!r}")
    return f"{check}:{verdict}" + (f" ({reason})" if reason else "")


def extend(trail: str, *entries: str) -> str:
    """A trail with more entries (``; ``-separated, each once, in order)."""
    have = [e for e in trail.split("; ") if e] if trail else []
    for e in entries:
        if e and e not in have:
            have.append(e)
    return "; ".join(have)


def merge_trails(trails: Iterable[str]) -> str:
    """The trail of a site merged from several findings: every entry once."""
    out = ""
    for t in trails:
        out = extend(out, *(t.split("; ") if t else ()))
    return out


def describe(trail: object, lang: str) -> str:
    """A trail for people: ``shadow: kept (…) · second look: outline adjusted (…)``.

    No trail (empty, or missing: NaN) means the model's detection passed no check.
    """
    from pipeline.i18n import t

    parts = []
    for e in (trail.split("; ") if isinstance(trail, str) and trail else []):
        head, _, reason = e.partition(" (")
        check, _, verdict = head.partition(":")
        text = f"{t('check_' + check, lang)}: {t('verdict_' + verdict, lang)}"
        parts.append(text + (f" ({reason}" if reason else ""))
    return " · ".join(parts) if parts else t("model_only", lang)


def deciding(trail: str) -> list[str]:
    """The names of the checks in a trail, in order."""
    return list(dict.fromkeys(e.split(":", 1)[0] for e in trail.split("; ") if e))

"""The named checks between the model's detections and the squads' tasks.

The model proposes structures and boards; the registry diff turns them into violations. In
between, image and geometry checks keep, drop, relabel or reshape what the model proposed.
Each check has a name, says what it applies to and which verdicts it gives, and reads its
thresholds from ``DiffConfig`` (one config, settable with ``--config CHECKS.toml``; a check
is switched off under ``[checks]``). Every detection and every finding records the checks
that decided it (its *trail*: ``shadow:drop (shadow ratio=0.21)``), which
``detections.gpkg``, the task files, the report and the work orders show.

Whether a check earns its place is measured, not assumed: ``python -m benchmarks
crossworld`` runs the survey on held-out worlds of both generators with each check switched off
in turn (its table is in docs/checks.md).
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
          "neighbouring tiles did not see", ("reshape", "relabel", "drop", "keep", "doubt"), (),
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
    Check("permit_fit", "sheds and buildings over permitted footprints", ("relabel",),
          (),
          "a 'shed' with the outline of a permitted building (IoU >= 0.7) is that building; a "
          "'building' lying 80 % inside a permitted shed is that shed"),
    Check("extension_depth", "structures beyond the permits of their kind",
          ("reshape", "drop"),
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


#: Why a check decided: a reason key and its wording, with the numbers a trail records.
REASONS: dict[str, dict[str, str]] = {
    "board": {"en": "score {score}, shaped like a board", "zh": "得分 {score}，呈板状"},
    "not_board": {"en": "score {score}, not a thin slab", "zh": "得分 {score}，非薄板形状"},
    "unseen": {"en": "the centred view does not see it", "zh": "居中复检未见"},
    "duplicate": {"en": "the same structure as another detection", "zh": "与另一检测为同一结构"},
    "seen": {"en": "the centred view sees it", "zh": "居中复检确认"},
    "not_looked": {"en": "not looked at again (too large, or off its image)",
                   "zh": "未能复检（过大或超出影像）"},
    "classes": {"en": "{from}→{to}", "zh": "{from}→{to}"},
    "outline": {"en": "outline {before}→{after} m²", "zh": "轮廓 {before}→{after} 平方米"},
    "roof_alike": {"en": "the roof's colour, ΔE {de}", "zh": "与屋顶同色，ΔE {de}"},
    "roof_alike_stands": {"en": "the roof's colour (ΔE {de}), but it casts a shadow",
                          "zh": "与屋顶同色（ΔE {de}），但有阴影"},
    "shadow": {"en": "shadow {ratio} of the registered buildings'",
               "zh": "阴影强度为已登记建筑的 {ratio}"},
    "vegetation": {"en": "{share} of it vegetation", "zh": "植被占 {share}"},
    "bare": {"en": "{area} m² unvegetated", "zh": "无植被 {area} 平方米"},
    "permit_outline": {"en": "{from}→{to}, IoU {iou} with a permitted {to}",
                       "zh": "{from}→{to}，与许可{to}轮廓 IoU {iou}"},
    "in_permit": {"en": "{from}→{to}, {share} inside a permitted {to}",
                  "zh": "{from}→{to}，{share} 位于许可{to}内"},
    "excess_kept": {"en": "{kept} of {raw} m² beyond the permit kept",
                    "zh": "超出许可 {raw} 平方米中保留 {kept} 平方米"},
    "excess_small": {"en": "{kept} m² counted (outline noise removed), under {min} m²",
                     "zh": "计入 {kept} 平方米（已去除轮廓误差），不足 {min} 平方米"},
    "ground": {"en": "ΔE {de} to the ground beside it", "zh": "与旁边地面 ΔE {de}"},
    "merged": {"en": "{n} findings, one site", "zh": "{n} 处发现合并为一处"},
}


def entry(check: str, verdict: str, reason: str = "", **values: object) -> str:
    """One line of a trail: ``check:verdict (reason k=v ...)``.

    ``reason`` is a key of ``REASONS``; the values fill in its wording (numbers, class names).
    """
    if check not in CHECKS or verdict not in CHECKS[check].verdicts:
        raise ValueError(f"no check {check!r} with verdict {verdict!r}")
    if reason and reason not in REASONS:
        raise ValueError(f"no reason {reason!r}")
    words = [reason, *(f"{k}={v}" for k, v in values.items())] if reason else []
    if any(" " in w for w in words[1:]):
        raise ValueError(f"a trail value holds a space: {values}")
    return f"{check}:{verdict}" + (f" ({' '.join(words)})" if words else "")


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
    """A trail for people, in ``lang``: ``shadow: dropped (shadow 0.08 …) · …``.

    An empty trail: the model's detection passed no check that could decide it. No trail at
    all (NaN, None: a site an analyst added, a sighting recorded before trails) is "".
    """
    from pipeline.i18n import LANGS, t

    if not isinstance(trail, str):
        return ""
    if lang not in LANGS:
        raise ValueError(f"language must be one of {', '.join(LANGS)}, got {lang!r}")
    parts = []
    for e in (trail.split("; ") if trail else []):
        head, _, rest = e.partition(" (")
        check, _, verdict = head.partition(":")
        text = f"{t('check_' + check, lang)}: {t('verdict_' + verdict, lang)}"
        key, *pairs = rest.rstrip(")").split(" ") if rest else [""]
        if key in REASONS:
            values = dict(p.split("=", 1) for p in pairs if "=" in p)
            values = {k: t(v, lang) for k, v in values.items()}  # class names
            try:
                text += f" ({REASONS[key].get(lang, REASONS[key]['en']).format(**values)})"
            except (KeyError, IndexError):
                text += f" ({rest.rstrip(')')})"
        parts.append(text)
    return " · ".join(parts) if parts else t("model_only", lang)


def deciding(trail: str) -> list[str]:
    """The names of the checks in a trail, in order."""
    return list(dict.fromkeys(e.split(":", 1)[0] for e in trail.split("; ") if e))

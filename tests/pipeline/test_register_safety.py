"""The case register as a shared database: locked writes, foreign files refused, links kept."""

import datetime as dt
import multiprocessing as mp
import os

import geopandas as gpd
import pandas as pd
import pytest
from shapely.geometry import box

from pipeline.cases import (
    check_register,
    import_squad_results,
    read_register,
    register_lock,
    update_register,
)
from skypatrol.errors import InputError

CRS = "EPSG:4549"
X, Y = 529000.0, 3493000.0
D1 = dt.date(2026, 3, 10)


def viol(geom, category="illegal_construction"):
    return gpd.GeoDataFrame(
        {"category": [category], "object_class": ["shed"], "area_m2": [geom.area],
         "confidence": [0.9], "parcel_id": ["P1"], "district": ["Liangxi"],
         "squad": ["Liangxi-1"], "source": ["o.tif"]}, geometry=[geom], crs=CRS)


def _one_survey(args):
    reg, k = args
    x = X + 300 * k  # each survey covers its own ground: none can resolve another's case
    update_register(reg, f"S{k}", D1 + dt.timedelta(days=k), box(x, Y, x + 200, Y + 200),
                    viol(box(x + 10, Y + 10, x + 16, Y + 15)))
    return k


def test_eight_concurrent_surveys_lose_nothing(tmp_path):
    reg = str(tmp_path / "cases.gpkg")
    with mp.get_context("spawn").Pool(8) as pool:
        assert sorted(pool.map(_one_survey, [(reg, k) for k in range(8)])) == list(range(8))
    layers = read_register(reg, CRS)
    assert sorted(layers["surveys"].survey_id) == [f"S{k}" for k in range(8)]
    assert sorted(layers["observations"].survey_id) == [f"S{k}" for k in range(8)]
    assert list(layers["cases"].status) == ["open"] * 8  # no false resolution
    assert not list(tmp_path.glob("*.tmp.gpkg"))


def test_a_registry_given_as_cases_is_refused_and_kept(tmp_path):
    registry = tmp_path / "registry.gpkg"
    parcels = gpd.GeoDataFrame({"parcel_id": ["P1"]}, geometry=[box(X, Y, X + 9, Y + 9)],
                               crs=CRS)
    parcels.to_file(registry, layer="parcels", driver="GPKG")
    before = registry.read_bytes()
    with pytest.raises(InputError, match="parcels"):
        update_register(registry, "S1", D1, box(X, Y, X + 50, Y + 50),
                        viol(box(X + 1, Y + 1, X + 5, Y + 5)))
    assert registry.read_bytes() == before


@pytest.mark.parametrize("content", [b"", b"not a geopackage at all"])
def test_a_broken_register_is_a_clear_error(tmp_path, content):
    reg = tmp_path / "cases.gpkg"
    reg.write_bytes(content)
    with pytest.raises(InputError, match="cases.gpkg"):
        check_register(reg)


def test_a_symlinked_register_stays_a_link_and_keeps_its_mode(tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir()
    target = shared / "cases.gpkg"
    update_register(target, "S1", D1, box(X, Y, X + 50, Y + 50),
                    viol(box(X + 1, Y + 1, X + 5, Y + 5)))
    os.chmod(target, 0o600)
    link = tmp_path / "cases.gpkg"
    link.symlink_to(target)
    update_register(link, "S2", D1 + dt.timedelta(days=1), box(X + 100, Y, X + 150, Y + 50),
                    viol(box(X + 101, Y + 1, X + 105, Y + 5)))
    assert link.is_symlink()
    assert sorted(read_register(target, CRS)["surveys"].survey_id) == ["S1", "S2"]
    assert (target.stat().st_mode & 0o777) == 0o600


def test_a_held_register_times_out_with_the_holder_named(tmp_path):
    reg = tmp_path / "cases.gpkg"
    heard = []
    with register_lock(reg, "survey A"):
        ctx = mp.get_context("spawn")
        with ctx.Pool(1) as pool:
            err = pool.apply(_try_lock, (str(reg),))
    assert "survey A" in err
    with register_lock(reg, "survey B", notify=heard.append):
        pass
    assert heard == []  # free again: no waiting said


def _try_lock(reg):
    try:
        with register_lock(reg, "survey C", wait_s=0.5):
            return "acquired"
    except InputError as exc:
        return str(exc)


def test_import_results_is_idempotent_and_reads_chinese(tmp_path):
    reg = tmp_path / "cases.gpkg"
    u = update_register(reg, "S1", D1, box(X, Y, X + 50, Y + 50),
                        viol(box(X + 1, Y + 1, X + 5, Y + 5)))
    sheet = tmp_path / "back.csv"
    pd.DataFrame({"task_id": list(u.tasks.task_id), "result": ["已整改"],
                  "result_date": ["2026-03-20"]}).to_csv(sheet, index=False)
    assert import_squad_results(reg, sheet) == 1
    assert import_squad_results(reg, sheet) == 0
    results = read_register(reg, CRS)["squad_results"]
    assert list(results.result) == ["rectified"]


def test_a_failure_while_writing_outputs_leaves_the_register_as_it_was(tmp_path):
    reg = tmp_path / "cases.gpkg"
    update_register(reg, "S1", D1, box(X, Y, X + 50, Y + 50),
                    viol(box(X + 1, Y + 1, X + 5, Y + 5)))
    before = reg.read_bytes()

    def disk_full(update):
        assert len(update.tasks) == 1  # the outputs get the tasks before the commit
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError, match="No space"):
        update_register(reg, "S2", D1 + dt.timedelta(days=9), box(X, Y, X + 50, Y + 50),
                        viol(box(X + 20, Y + 20, X + 25, Y + 25)), before_commit=disk_full)
    assert reg.read_bytes() == before
    assert sorted(read_register(reg, CRS)["surveys"].survey_id) == ["S1"]


def _survey_process(args):
    import datetime as _dt
    from pathlib import Path

    from pipeline import survey as sv

    ortho, registry, out, cases, k = args
    summary = sv.run_survey(sv.SurveySpec((ortho,), Path(registry), Path(out) / f"s{k}",
                                          cases=cases if "://" in cases else Path(cases),
                                          survey_id=f"S{k}",
                                          survey_date=_dt.date(2026, 4, 1 + k)))
    return summary["totals"]["total_count"]


@pytest.mark.slow
def test_eight_concurrent_detect_runs_keep_every_survey(tiny_world, tmp_path):
    cases = tmp_path / "cases.gpkg"
    args = [(str(tiny_world / "epoch1" / "ortho.tif"), str(tiny_world / "registry.gpkg"),
             str(tmp_path), str(cases), k) for k in range(8)]
    with mp.get_context("spawn").Pool(8) as pool:
        counts = pool.map(_survey_process, args)
    assert len(set(counts)) == 1 and counts[0] > 0  # the same imagery: the same tasks
    layers = read_register(cases, CRS)
    assert sorted(layers["surveys"].survey_id) == [f"S{k}" for k in range(8)]
    per_survey = layers["observations"].groupby("survey_id").size()
    assert list(per_survey) == [counts[0]] * 8
    assert set(layers["cases"].status) == {"open"}  # nothing resolved by a lost read
    assert len(layers["cases"]) == counts[0]


def test_a_survey_processed_after_a_later_one_joins_its_cases(tmp_path):
    """A backfill: the May survey is recorded first, then the March one of the same site."""
    reg = tmp_path / "cases.gpkg"
    cover = box(X, Y, X + 50, Y + 50)
    site = box(X + 1, Y + 1, X + 5, Y + 5)
    may = update_register(reg, "S-may", dt.date(2026, 5, 1), cover, viol(site))
    march = update_register(reg, "S-march", dt.date(2026, 3, 1), cover, viol(site))
    assert list(march.tasks.task_id) == list(may.tasks.task_id)
    cases = read_register(reg, CRS)["cases"]
    assert len(cases) == 1 and cases.status.iloc[0] == "open"
    assert cases.first_seen.iloc[0] == "2026-03-01" and cases.last_seen.iloc[0] == "2026-05-01"


def test_a_register_missing_its_columns_is_refused_before_any_work(tmp_path):
    reg = tmp_path / "cases.gpkg"
    update_register(reg, "S1", D1, box(X, Y, X + 50, Y + 50),
                    viol(box(X + 1, Y + 1, X + 5, Y + 5)))
    layers = read_register(reg, CRS)
    broken = tmp_path / "broken.gpkg"
    layers["surveys"].drop(columns=["survey_date"]).to_file(broken, layer="surveys")
    layers["observations"].to_file(broken, layer="observations")
    with pytest.raises(InputError, match="survey_date"):
        check_register(broken)


def test_a_backfill_does_not_join_a_case_across_its_resolution(tmp_path):
    """March saw a shed, April saw it gone, May saw one rebuilt; March processed last."""
    reg = tmp_path / "cases.gpkg"
    cover = box(X, Y, X + 50, Y + 50)
    site = box(X + 1, Y + 1, X + 5, Y + 5)
    empty = viol(site).iloc[:0]
    update_register(reg, "S-apr", dt.date(2026, 4, 1), cover, empty)
    may = update_register(reg, "S-may", dt.date(2026, 5, 1), cover, viol(site))
    march = update_register(reg, "S-mar", dt.date(2026, 3, 1), cover, viol(site))
    assert list(march.tasks.task_id) != list(may.tasks.task_id)
    cases = read_register(reg, CRS)["cases"].set_index("task_id")
    assert cases.at[march.tasks.task_id[0], "status"] == "resolved"
    assert cases.at[march.tasks.task_id[0], "resolved_by"] == "S-apr"
    assert cases.at[may.tasks.task_id[0], "status"] == "open"


def test_a_changed_squad_verdict_is_recorded(tmp_path):
    reg = tmp_path / "cases.gpkg"
    u = update_register(reg, "S1", D1, box(X, Y, X + 50, Y + 50),
                        viol(box(X + 1, Y + 1, X + 5, Y + 5)))
    tid = u.tasks.task_id.iloc[0]
    for k, result in enumerate(("disputed", "rectified", "disputed")):
        sheet = tmp_path / f"back{k}.csv"
        sheet.write_text(f"task_id,result,result_date\n{tid},{result},2026-03-20\n")
        assert import_squad_results(reg, sheet) == 1
    cases = read_register(reg, CRS)["cases"]
    assert cases.squad_result.iloc[0] == "disputed"


def test_a_register_qgis_added_styles_to_is_still_a_register(tmp_path):
    reg = tmp_path / "cases.gpkg"
    update_register(reg, "S1", D1, box(X, Y, X + 50, Y + 50),
                    viol(box(X + 1, Y + 1, X + 5, Y + 5)))
    import pyogrio

    pyogrio.write_dataframe(pd.DataFrame({"styleName": ["s"], "styleQML": ["<qgis/>"]}), reg,
                            layer="layer_styles", driver="GPKG")
    check_register(reg)  # not refused

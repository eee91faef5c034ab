"""The case register in PostGIS: the same register as the GeoPackage, shared by many writers."""

import datetime as dt
import multiprocessing as mp

import pandas as pd
import pytest
from click.testing import CliRunner
from shapely.geometry import box

from pipeline.cases import import_squad_results, read_register, register_lock, update_register
from skypatrol.cli import cli
from skypatrol.errors import InputError
from tests.pipeline.test_register_safety import (
    CRS,
    D1,
    X,
    Y,
    _one_survey,
    _survey_process,
    _try_lock,
    viol,
)

pytestmark = pytest.mark.usefixtures("postgis_server")


def test_the_register_round_trips_through_postgis(pg_register, tmp_path):
    a, b = box(X + 10, Y + 10, X + 20, Y + 16), box(X + 100, Y + 100, X + 110, Y + 105)
    cover = box(X, Y, X + 300, Y + 300)
    results = {}
    for name, reg in (("gpkg", tmp_path / "cases.gpkg"), ("pg", pg_register)):
        both = pd.concat([viol(a), viol(b, "green_encroachment")], ignore_index=True)
        u1 = update_register(reg, "S1", D1, cover, both)
        u2 = update_register(reg, "S2", D1 + dt.timedelta(days=30), cover, viol(a))
        layers = read_register(reg, CRS)
        results[name] = (sorted(u1.tasks.task_id), sorted(u2.resolved.task_id),
                         layers["cases"].sort_values("task_id")[
                             ["task_id", "status", "first_seen", "resolved_on", "area_m2"]
                         ].to_dict("records"),
                         sorted(layers["observations"].survey_id))
    assert results["pg"] == results["gpkg"]
    layers = read_register(pg_register, "EPSG:4326")  # stored in the registry's CRS, any out
    assert layers["cases"].crs.to_epsg() == 4326
    assert layers["cases"].geometry.iloc[0].bounds[0] == pytest.approx(120.7, abs=0.5)


def test_eight_concurrent_surveys_lose_nothing_in_postgis(pg_register):
    with mp.get_context("spawn").Pool(8) as pool:
        assert sorted(pool.map(_one_survey, [(pg_register, k) for k in range(8)])) == \
            list(range(8))
    layers = read_register(pg_register, CRS)
    assert sorted(layers["surveys"].survey_id) == [f"S{k}" for k in range(8)]
    assert sorted(layers["observations"].survey_id) == [f"S{k}" for k in range(8)]
    assert list(layers["cases"].status) == ["open"] * 8


@pytest.mark.slow
def test_eight_concurrent_detect_runs_into_one_postgis_register(tiny_world, tmp_path,
                                                                pg_register):
    args = [(str(tiny_world / "epoch1" / "ortho.tif"), str(tiny_world / "registry.gpkg"),
             str(tmp_path), pg_register, k) for k in range(8)]
    with mp.get_context("spawn").Pool(8) as pool:
        counts = pool.map(_survey_process, args)
    assert len(set(counts)) == 1 and counts[0] > 0
    layers = read_register(pg_register, CRS)
    assert sorted(layers["surveys"].survey_id) == [f"S{k}" for k in range(8)]
    per_survey = layers["observations"].groupby("survey_id").size()
    assert list(per_survey) == [counts[0]] * 8
    assert len(layers["cases"]) == counts[0] and set(layers["cases"].status) == {"open"}


def test_a_held_postgis_register_times_out_with_the_holder_named(pg_register):
    with register_lock(pg_register, "survey A"):
        with mp.get_context("spawn").Pool(1) as pool:
            err = pool.apply(_try_lock, (pg_register,))
    assert "survey A" in err and "still held" in err
    with register_lock(pg_register, "survey B"):
        pass


def test_import_results_and_migrate_from_a_geopackage(pg_register, tmp_path):
    gpkg = tmp_path / "cases.gpkg"
    u = update_register(gpkg, "S1", D1, box(X, Y, X + 100, Y + 100),
                        viol(box(X + 10, Y + 10, X + 16, Y + 15)))
    tid = u.tasks.task_id.iloc[0]
    sheet = tmp_path / "back.csv"
    sheet.write_text(f"任务编号,处理结果,处理日期\n{tid},已整改,2026-03-12\n", encoding="utf-8")
    assert import_squad_results(gpkg, sheet) == 1
    res = CliRunner().invoke(cli, ["register", "migrate", "--from", str(gpkg), "--to",
                                   pg_register])
    assert res.exit_code == 0, res.output
    assert "1 observations of 1 surveys, 1 cases and 1 squad results" in res.output
    cases = read_register(pg_register, CRS)["cases"]
    assert list(cases.squad_result) == ["rectified"]
    res = CliRunner().invoke(cli, ["register", "migrate", "--from", str(gpkg), "--to",
                                   pg_register])
    assert res.exit_code == 2 and "already holds surveys" in res.output
    assert import_squad_results(pg_register, sheet) == 0  # the same sheet: nothing new
    out = tmp_path / "dash"
    res = CliRunner().invoke(cli, ["report", "--cases", pg_register, "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert (out / "dashboard.html").exists()


def test_a_database_that_is_not_there_is_a_clear_error(postgis_server):
    url = postgis_server.rsplit(":", 1)[0] + ":1/nowhere"
    with pytest.raises(InputError, match="cannot use the case register database"):
        read_register(url, CRS)
    res = CliRunner().invoke(cli, ["report", "--cases", url, "--out", "/tmp/x"])
    assert res.exit_code == 2 and "Traceback" not in res.output

import pytest

from benchmarks.__main__ import BENCHMARKS, benchmark_names


def test_make_bench_runs_every_benchmark_when_none_is_named():
    assert benchmark_names([]) == list(BENCHMARKS)
    assert benchmark_names(["detect", "survey"]) == ["detect", "survey"]


def test_an_unknown_benchmark_is_refused_with_its_name(capsys):
    with pytest.raises(SystemExit) as e:
        benchmark_names(["detect", "sahi"])
    assert e.value.code == 2 and "unknown benchmark sahi" in capsys.readouterr().err


def test_a_failing_benchmark_child_reports_its_own_error():
    from benchmarks.common import run_child

    with pytest.raises(RuntimeError) as e:
        run_child("benchmarks.bench_detect", "no-such-mode", "1")
    assert "exit status 1" in str(e.value) and "KeyError: 'no-such-mode'" in str(e.value)


def test_a_benchmark_with_no_data_keeps_the_figures_measured_where_it_had_them(
        tmp_path, monkeypatch, capsys):
    import json

    import benchmarks.__main__ as bench

    (tmp_path / "real.json").write_text('{"models": {"shipped": {}}}\n')
    monkeypatch.setattr(bench, "RESULTS", tmp_path)
    monkeypatch.setattr(bench, "BENCHMARKS", {
        "real": lambda: {"benchmark": "real", "skipped": "no data/real"},
        "quality": lambda: {"benchmark": "quality", "sharp": 1.0}})
    monkeypatch.setattr("sys.argv", ["benchmarks"])
    bench.main()
    assert json.loads((tmp_path / "real.json").read_text()) == {"models": {"shipped": {}}}
    assert json.loads((tmp_path / "quality.json").read_text())["sharp"] == 1.0
    assert "real: skipped (no data/real); kept" in capsys.readouterr().out

import pytest

from benchmarks.__main__ import BENCHMARKS, benchmark_names


def test_make_bench_runs_every_benchmark_when_none_is_named():
    assert benchmark_names([]) == list(BENCHMARKS)
    assert benchmark_names(["detect", "survey"]) == ["detect", "survey"]


def test_an_unknown_benchmark_is_refused_with_its_name(capsys):
    with pytest.raises(SystemExit) as e:
        benchmark_names(["detect", "sahi"])
    assert e.value.code == 2 and "unknown benchmark sahi" in capsys.readouterr().err

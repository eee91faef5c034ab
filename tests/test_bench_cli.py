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

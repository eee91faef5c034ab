"""The rule for replacing the shipped model, on the results it was first applied to."""

import copy
import json
from pathlib import Path

from benchmarks.ship_rule import decide, main

RESULTS = Path(__file__).resolve().parents[1] / "benchmarks" / "results"


def _load(name: str) -> dict:
    return json.loads((RESULTS / name).read_text())


def test_the_mixed_candidate_is_refused_for_the_reasons_the_docs_give():
    real = _load("real-mixed-candidate.json")["models"]
    ok, why = decide(_load("crossworld.json"), _load("crossworld-mixed-model.json"),
                     real["shipped"], real["mixed"])
    assert not ok
    assert "classic illegal_construction precision 0.98 -> 0.80" in why
    assert "village resolved precision 0.93 -> 0.86" in why
    assert any(w.startswith("real town nepal-banepa (<= 10 cm) precision") for w in why)
    assert not any(w.startswith("negative scenes") for w in why)  # 2.96 -> 0.13 findings/ha


def test_a_candidate_better_on_the_village_worlds_and_no_worse_elsewhere_ships():
    shipped = _load("crossworld.json")
    real = _load("real-mixed-candidate.json")["models"]["shipped"]
    same_ok, same_why = decide(shipped, shipped, real, real)
    assert not same_ok and same_why == ["village: 0 categories better, 2 needed"]
    better = copy.deepcopy(shipped)
    village = better["renderers"]["village"]["pooled"]["default checks"]
    village["illegal_construction"]["recall"] += 0.1
    village["illegal_billboard"]["precision"] += 0.1
    better["renderers"]["classic"]["pooled"]["default checks"]["resolved"]["recall"] -= 0.02
    assert decide(shipped, better, real, real) == (True, [])
    village["green_encroachment"]["precision"] -= 0.001  # any village figure lower refuses
    assert decide(shipped, better, real, real)[0] is False


def test_the_command_line_exits_1_to_keep_and_2_for_an_unknown_label(capsys):
    args = ["--shipped", str(RESULTS / "crossworld.json"),
            "--candidate", str(RESULTS / "crossworld-mixed-model.json"),
            "--real", str(RESULTS / "real-mixed-candidate.json")]
    assert main([*args, "--candidate-label", "mixed"]) == 1
    assert "keep the shipped model" in capsys.readouterr().out
    assert main([*args, "--candidate-label", "nope"]) == 2
    assert "no model labelled 'nope'" in capsys.readouterr().err

"""Survey accuracy on an unseen synthetic district: tasks vs truth, areas, resolved cases."""

from __future__ import annotations

import datetime as dt
import json
import sys
import tempfile
from pathlib import Path


def child(size_m: float, seed: int, model: Path | None = None) -> None:
    from geodata.synthetic import WorldConfig, synthesize
    from pipeline.evaluate import evaluate_survey
    from pipeline.survey import SurveySpec, run_survey

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        res = synthesize(root / "world", WorldConfig(size_m=size_m, seed=seed), frames=False)
        world_json = (root / "world" / "world.json").read_text(encoding="utf-8")
        dates = json.loads(world_json)["survey_dates"]
        out = []
        for k, ortho in enumerate(res.orthos, start=1):
            spec = SurveySpec((str(ortho),), res.registry, root / f"s{k}",
                              cases=root / "cases.gpkg", survey_id=f"e{k}",
                              survey_date=dt.date.fromisoformat(dates[k - 1]), model=model)
            summary = run_survey(spec)
            acc = evaluate_survey(root / "world", k, root / f"s{k}")
            acc["stage_timings_s"] = summary["stage_timings_s"]
            out.append(acc)
    print(json.dumps({"size_m": size_m, "seed": seed, "epochs": out}))


#: Unseen worlds (training used seeds 1000-1013, 1100-1109, 1900-1910 and 2000-2039): the
#: tuning worlds were looked at while the diff's rules were set; the held-out ones were not,
#: until the rules and the model were fixed (8100 to 15700 were held out in earlier rounds).
WORLDS = ((500.0, 7100, "tuning"),
          *((400.0, seed, "tuning") for seed in range(7300, 15900, 200)),
          *((400.0, seed, "held out") for seed in range(15900, 17500, 200)))


def run() -> dict[str, object]:
    from benchmarks.common import machine, run_child

    worlds = []
    for size_m, seed, role in WORLDS:
        res = run_child("benchmarks.bench_survey", str(size_m), str(seed))
        res["role"] = role
        worlds.append(res)
    return {"benchmark": "survey_accuracy", "machine": machine(), "worlds": worlds}


if __name__ == "__main__" and "--child" in sys.argv:
    # --child SIZE_M SEED [--model CARD]: one world, its JSON on stdout (a candidate model's
    # card can be compared with the shipped one this way)
    args = sys.argv[sys.argv.index("--child") + 1:]
    card = Path(args[args.index("--model") + 1]) if "--model" in args else None
    child(float(args[0]), int(args[1]), card)

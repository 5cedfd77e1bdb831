"""``repro sweep``: a recorded sweep and seed study on quadratics, end to end through the
command line, resumed without training again, and the selection of the seed study."""

import json
from pathlib import Path

import pytest
import torch
import yaml

from repro import cli
from repro.commands.sweep import points, record

ROOT = Path(__file__).resolve().parents[2]
PLAN = {
    "config": str(ROOT / "experiments" / "quadratic.yaml"),
    "common": {"meta.steps": 4, "meta.val_every": 2},
    "points": [{"name": "lr 3e-3", "overrides": {"meta.lr": 0.003}},
               {"name": "lr 1e-2", "overrides": {"meta.lr": 0.01}}],
    "recipe": {"meta.steps": 4, "meta.val_every": 2},
    "seeds": [0, 1],
    "selection_problems": 3,
}
SMALL = ["problem.batch=4", "meta.val_problems=3", "tune.problems=3", "tune.grid=[0.1,0.01]",
         "trainer.threads=1", "meta.horizon=8", "meta.unroll=4"]


def _not_again(*args):
    raise AssertionError("a selection loss measured again")


def test_the_points_of_a_sweep_and_of_a_seed_study():
    assert points(PLAN, "sweep") == [
        ("lr 3e-3", {"meta.steps": 4, "meta.val_every": 2, "meta.lr": 0.003}),
        ("lr 1e-2", {"meta.steps": 4, "meta.val_every": 2, "meta.lr": 0.01}),
    ]
    assert [name for name, _ in points(PLAN, "seeds")] == ["seed0", "seed1"]
    assert points(PLAN, "seeds")[1][1]["meta.seed"] == 1


@pytest.mark.slow
def test_a_sweep_and_a_seed_study_through_the_command_line(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    plan = tmp_path / "plan.yaml"
    plan.write_text(yaml.safe_dump(PLAN))
    figures, runs = tmp_path / "figures", tmp_path / "runs"
    tune = ["tune", "--config", PLAN["config"], "--figures-dir", str(figures),
            "--runs-dir", str(runs / "tune"), *(f"--{item}" for item in SMALL)]
    assert cli.main(tune) == 0
    common = ["--figures-dir", str(figures), "--runs-dir", str(runs), "--set", *SMALL]
    assert cli.main(["sweep", str(plan), *common]) == 0
    swept = json.loads((figures / "data" / "sweep_quadratic.json").read_text())
    assert [p["name"] for p in swept["points"]] == ["lr 3e-3", "lr 1e-2"]
    assert all(p["truncations"] == 4 and p["validations"] == 2 for p in swept["points"])
    assert (figures / "sweep_quadratic.png").is_file()

    weights = tmp_path / "selected.pt"
    assert cli.main(["sweep", str(plan), "--part", "seeds", "--weights", str(weights),
                     *common]) == 0
    seeds = json.loads((figures / "data" / "seeds_quadratic.json").read_text())
    chosen = min(seeds["points"], key=lambda p: p["selection_loss"])
    assert seeds["selected"]["seed"] == chosen["overrides"]["meta.seed"]
    shipped = torch.load(weights, weights_only=False)
    exported = torch.load(chosen["checkpoint"], weights_only=False)
    assert all(torch.equal(shipped["state_dict"][k], v)
               for k, v in exported["state_dict"].items())

    # again: every point has its phi, so nothing is trained or measured again
    logs = sorted(runs.glob("none/seeds/*/fit.log"))  # data.name: quadratics have none
    sizes = [log.stat().st_size for log in logs]
    assert len(logs) == 2
    monkeypatch.setattr("repro.commands.sweep.revalidate", _not_again)
    assert cli.main(["sweep", str(plan), "--part", "seeds", *common]) == 0
    again = json.loads((figures / "data" / "seeds_quadratic.json").read_text())
    assert again["selected"] == seeds["selected"]
    assert [log.stat().st_size for log in logs] == sizes


def test_the_seed_with_the_lowest_selection_loss_is_selected():
    points_so_far = [
        {"name": f"seed{s}", "overrides": {"meta.seed": s}, "best_val_loss": v, "best_at": 10,
         "escaped_at": 5, "beats": ["ADAM"], "selection_loss": sel, "checkpoint": f"c{s}"}
        for s, v, sel in ((0, 0.18, 0.21), (1, 0.19, 0.17), (2, None, None))
    ]
    config = cli.settings.load(Path(PLAN["config"]), "paper", [])
    data = record(Path("plan.yaml"), "seeds", config, Path("tuned.json"), {"ADAM": 0.3},
                  points_so_far, 3, {"commit": "abc"})
    assert data["selected"]["seed"] == 1 and data["selected"]["checkpoint"] == "c1"
    assert data["escaped"] == "3/3" and data["beat_adam"] == "3/3"

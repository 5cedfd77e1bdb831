from pathlib import Path
from typing import get_args

import pytest

from repro.config import Baseline
from repro.config_loading import from_dict, load
from repro.optimizers.hand import BASELINES
from repro.settings import ConfigError

ROOT = Path(__file__).resolve().parents[1]

QUADRATIC = ROOT / "experiments" / "quadratic.yaml"


def test_quadratic_config_holds_the_papers_settings():
    config = load(QUADRATIC)
    assert config.problem.dim == 10 and config.optimizer.hidden == 20
    assert config.optimizer.layers == 2 and config.optimizer.preprocessing == "none"
    assert config.meta.horizon == 100 and config.meta.unroll == 20
    assert not config.meta.second_order
    assert {1.0, 0.3, 0.1, 0.03, 0.01, 0.003, 0.001, 3e-4, 1e-4} <= set(config.tune.grid)
    assert config.evaluate.problems >= 100 and config.steps == 100


def test_quick_profile_overrides_and_command_line_overrides():
    quick = load(QUADRATIC, "quick", ["meta.lr=0.01", "optimizer.hidden=8"])
    assert quick.profile == "quick" and quick.meta.lr == 0.01 and quick.optimizer.hidden == 8
    assert quick.meta.steps < load(QUADRATIC).meta.steps


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"meta": {"lrr": 1}}, "unknown key 'meta.lrr'"),
        ({"bogus": 1}, "unknown key 'bogus'"),
        ({"meta": {"unroll": 30, "horizon": 20}}, "meta.unroll (30) is longer than meta.horizon"),
        ({"meta": {"unroll": 30, "horizon": 100}}, "not a multiple of meta.unroll"),
        ({"problem": {"dim": 0}}, "problem.dim: must be positive"),
        ({"problem": {"batch": -2}}, "problem.batch: must be positive"),
        ({"meta": {"lr": "fast"}}, "meta.lr: expected a number"),
        ({"meta": {"steps": 1.5}}, "meta.steps: expected an integer"),
        ({"problem": {"batch": 9.223372036894413e18}},
         "problem.batch: 9223372036894412800 does not fit a 64-bit integer"),
        ({"seed": 10**12}, "seed: must be at most 4294967295, got 1000000000000"),
        ({"meta": {"seed": 2**32}}, "meta.seed: must be at most 4294967295, got 4294967296"),
        ({"meta": {"lr": 1e38}}, "meta.lr: must be below 3.403e+37 (ADAM's first step on phi"),
        ({"optimizer": {"preprocessing": "log"}}, "choose one of none, logsign"),
        ({"tune": {"grid": []}}, "tune.grid: expected a non-empty list"),
        ({"tune": {"grid": [0.1, -1]}}, "tune.grid: must be positive, got -1"),
        ({"meta": 3}, "meta: expected a mapping"),
        ({"profiles": {"fast": {}}}, "unknown profile 'fast'"),
        ({"trainer": {"devices": 0}}, "trainer.devices: expected a positive integer or auto"),
        ({"evaluate": {"panels": []}}, "evaluate.panels: expected a non-empty list"),
        ({"problem": {"family": "mlp"}}, "problem.family 'mlp' needs data.name mnist or"),
        ({"problem": {"family": "convnet"}, "data": {"name": "cifar10", "classes": [1, 1]}},
         "data.classes: [1, 1] must be two or more distinct"),
        ({"data": {"classes": [1, 2]}},
         "data.classes: only for data.name cifar10 (the convnet family)"),
        ({"problem": {"family": "mlp", "dim": 3}, "data": {"name": "mnist"}},
         "unknown key 'problem.dim'; allowed under problem: family, batch, hidden, "),
        ({"problem": {"family": "cubic"}}, "problem.family: 'cubic' is not allowed; choose"),
        ({"art": {"size": 64}}, "unknown key 'art'; allowed under the top level: experiment, "),
        ({"evaluate": {"panels": ["figure4z"]}},
         "evaluate.panels: 'figure4z' is not a panel of the figure registry"),
        ({"grid": {"layers": [1]}}, "grid: set both grid.layers and grid.widths, or neither"),
        ({"grid": {"layers": [1], "widths": [20]}},
         "grid: the architecture grid needs problem.family mlp, got 'quadratic'"),
        ({"evaluate": {"reference_label": "LSTM"}}, "evaluate.reference_label: 'LSTM' must be"),
        ({"evaluate": {"reference_label": "NAG"}}, "evaluate.reference_label: 'NAG' must be"),
        ({"evaluate": {"reference_label": " "}}, "evaluate.reference_label: ' ' must be"),
    ],
)
def test_bad_values_get_one_line_errors_naming_the_key(data, message):
    with pytest.raises(ConfigError) as info:
        from_dict(data)
    assert message in str(info.value)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["problem.family=mlp"], "problem.family: 'mlp' where the config names 'quadratic'; "),
        (["problem.family=[a"], "problem.family: '[a' is not valid YAML"),
        (["art.size=16"], "unknown key 'art'; allowed under the top level: experiment, "),
    ],
)
def test_bad_overrides_get_one_line_errors(overrides, message):
    with pytest.raises(ConfigError) as info:
        load(QUADRATIC, overrides=overrides)
    assert str(info.value).startswith(message) and "\n" not in str(info.value)


def test_a_family_given_by_a_problem_mapping_reads_that_familys_settings():
    config = from_dict({}, overrides=["problem={family: mlp, hidden: [7]}", "data.name=mnist"])
    assert config.problem.family == "mlp" and config.problem.hidden == [7]


def test_a_subclass_of_a_family_keeps_the_checks_of_its_base():
    from dataclasses import dataclass

    from repro.families.mlp import MLPProblem
    from repro.settings import section

    @dataclass(frozen=True)
    @section("problem")
    class Wider(MLPProblem):
        pass

    with pytest.raises(ConfigError, match="problem.hidden: expected a non-empty list"):
        Wider(hidden=[])


def test_a_note_is_added_to_every_panels_title_and_steps_cap_them():
    config = load(QUADRATIC, overrides=["evaluate.note=a departure", "evaluate.steps=7",
                                        "evaluate.trace_step=3"])
    (panel,) = config.evaluate.curve_panels
    assert (panel.name, panel.title, panel.steps) == ("figure4a", "Quadratics: a departure", 7)
    assert config.steps == 7


def test_missing_and_malformed_files(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("meta: [1,\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load(bad)
    with pytest.raises(ConfigError, match="--meta.lr: expected one argument"):
        load(QUADRATIC, overrides=["meta.lr"])
    with pytest.raises(ConfigError, match="profile 'fast' is not allowed"):
        load(QUADRATIC, "fast")


def test_meta_seed_varies_phi_and_training_problems_only():
    config = load(QUADRATIC, overrides=["seed=4"])
    assert config.meta.phi_seed(config.seed) == 4
    other = load(QUADRATIC, overrides=["seed=4", "meta.seed=7"])
    assert other.meta.phi_seed(other.seed) == 7 and other.seed == 4


def test_bounds_live_on_the_fields_and_values_stay_plain_numbers():
    config = load(QUADRATIC, overrides=["meta.steps=7", "tune.grid=[0.5, 2]"])
    assert type(config.meta.steps) is int and type(config.tune.grid[0]) is float
    assert config.tune.grid == [0.5, 2.0] and config.problem.dim == 10


def test_every_baseline_the_config_allows_is_a_hand_written_rule():
    assert get_args(Baseline) == tuple(BASELINES)


@pytest.mark.parametrize("experiment", ["quadratic", "mnist", "cifar10", "neural_art"])
def test_loading_a_config_loads_no_lightning(experiment):
    # jsonargparse runs a settings module's type-checking imports; one of Lightning's data
    # modules there loaded Lightning, torchmetrics and matplotlib (+260 MiB in every process)
    import subprocess
    import sys

    code = (f"import sys; from repro.config_loading import load; "
            f"load('{ROOT}/experiments/{experiment}.yaml', 'paper', []); "
            "print(sorted({'lightning', 'torchmetrics', 'matplotlib'} & set(sys.modules)))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True, cwd=ROOT)
    assert done.stdout.strip() == "[]", done.stdout

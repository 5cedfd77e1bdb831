from pathlib import Path

import lightning as L
import pytest
import torch

from repro.config import MetaConfig
from repro.config_loading import load
from repro.data.problems import ProblemData
from repro.meta.experiments import make_source
from repro.meta.learner import MetaLearner, lr_factor
from tests.test_config import QUADRATIC


def test_training_steps_carry_theta_and_reset_every_horizon(tmp_path):
    config = load(QUADRATIC, "quick", [
        "problem.batch=3", "meta.horizon=20", "meta.unroll=5", "meta.steps=7",
        "meta.val_every=100", "optimizer.hidden=6",
    ])
    learner = MetaLearner(config, make_source(config))
    episodes = []
    sample = learner._sample

    def record(index):
        episodes.append(index)
        sample(index)

    learner._sample = record
    phi = [p.detach().clone() for p in learner.optimizer_net.parameters()]
    trainer = L.Trainer(
        max_steps=7, logger=False, enable_checkpointing=False, enable_progress_bar=False,
        inference_mode=False, limit_val_batches=0, default_root_dir=tmp_path,
        enable_model_summary=False,
    )
    trainer.fit(learner, datamodule=ProblemData())
    # 4 truncations per 20-step horizon: truncations 0-3 on problem 0, 4-6 on problem 1.
    assert episodes == [0, 1]
    assert learner.carry.step == 15
    assert learner.carry.theta.grad_fn is None
    first = config.problem
    fresh = learner.source.sample("train", 1, first.batch, "cpu")
    assert torch.equal(learner.problem.weights, fresh.weights)
    assert not torch.equal(learner.carry.theta, fresh.theta0)
    assert all(not torch.equal(a, b) for a, b in zip(
        phi, learner.optimizer_net.parameters(), strict=True))


def test_meta_learning_rate_warms_up_then_stays_or_follows_a_cosine():
    constant = lr_factor(MetaConfig(steps=100, warmup=10))
    assert [constant(t) for t in (0, 4, 9, 10, 99)] == [0.1, 0.5, 1.0, 1.0, 1.0]
    cosine = lr_factor(MetaConfig(steps=110, warmup=10, lr_schedule="cosine"))
    assert cosine(10) == 1.0
    assert abs(cosine(60) - 0.5) < 1e-12
    assert cosine(110) == 0.0 and cosine(500) == 0.0
    assert lr_factor(MetaConfig(steps=10))(0) == 1.0


def test_meta_seed_draws_other_training_problems_but_the_same_validation_problems():
    config = load(QUADRATIC, "quick", ["problem.batch=2"])
    reseeded = load(QUADRATIC, "quick", ["problem.batch=2", "meta.seed=5"])
    ours, theirs = (MetaLearner(c, make_source(c)) for c in (config, reseeded))
    train = [m.train_sources[0].sample("train", 0, 2, "cpu").weights for m in (ours, theirs)]
    val = [m.source.sample("val", 0, 2, "cpu").weights for m in (ours, theirs)]
    assert not torch.equal(*train)
    assert torch.equal(*val)


def test_train_hidden_cycles_the_training_networks_and_validates_on_the_base_one():
    from repro.optimizees import Dataset
    from repro.settings import ConfigError

    mnist = Path(__file__).resolve().parents[2] / "experiments" / "mnist.yaml"
    config = load(mnist, "quick", ["problem.train_hidden=[[20], [20, 20]]"])
    images, labels = torch.rand(50, 784), torch.randint(0, 10, (50,))
    source = config.problem.build(config, Dataset("mnist", {"train": (images, labels)}))
    sources = config.problem.training_sources(config, source)
    assert [s.hidden for s in sources] == [(20,), (20, 20)]
    assert all(s.data is source.data for s in sources)
    assert source.hidden == (20,)
    with pytest.raises(ConfigError, match="problem.train_hidden"):
        load(QUADRATIC, overrides=["problem.train_hidden=[[20]]"])
    with pytest.raises(ConfigError, match="problem.train_hidden"):
        load(mnist, overrides=["problem.train_hidden=[[20], [0]]"])


def test_a_nan_on_one_validation_problem_makes_the_validation_loss_inf(monkeypatch):
    import math

    import repro.meta.learner as learner_module

    config = load(QUADRATIC, "quick", ["problem.batch=2", "meta.val_problems=3"])
    learner = MetaLearner(config, make_source(config))
    real = learner_module.rollout

    def one_nan(problem, rule, steps):
        losses = real(problem, rule, steps)
        losses[-1, 1] = math.nan
        return losses

    learner.validation_step(0, 0)
    finite = float(learner.val_final_loss.compute())
    assert math.isfinite(finite)
    learner.val_final_loss.reset()
    monkeypatch.setattr(learner_module, "rollout", one_nan)
    learner.validation_step(0, 0)
    assert float(learner.val_final_loss.compute()) == math.inf

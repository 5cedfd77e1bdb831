"""Divergence guards, clipping, atomic checkpoints and resumable episode state, in process."""

import math
from dataclasses import dataclass

import lightning as L
import pytest
import torch

from repro.config_loading import load
from repro.data.problems import ProblemData
from repro.meta.checkpoint import resume_from
from repro.meta.evaluate import evaluate
from repro.meta.experiments import make_source
from repro.meta.learner import MetaLearner, MetaTrainingDiverged
from repro.meta.training import make_trainer
from repro.optimizers.hand import SGD
from tests.test_config import QUADRATIC

TINY = [
    "problem.batch=3", "meta.horizon=20", "meta.unroll=5", "meta.val_every=1000",
    "optimizer.hidden=6", "trainer.log_every=1", "meta.checkpoint_every=2",
]


@dataclass
class FaultyProblem:
    """A problem whose loss and gradient are NaN from optimizee step ``at`` on."""

    inner: object
    at: int

    def initial_params(self):
        return self.inner.initial_params()

    def loss_and_grad(self, theta, step, create_graph=False):
        loss, grad = self.inner.loss_and_grad(theta, step, create_graph)
        if step >= self.at:
            return loss * math.nan, grad * math.nan
        return loss, grad


@dataclass
class FaultySource:
    """Problem source whose training problems with an index in ``bad`` are faulty."""

    inner: object
    bad: set
    at: int = 7
    sampled: list | None = None

    def sample(self, split, index, count, device):
        if self.sampled is not None:
            self.sampled.append((split, index))
        problem = self.inner.sample(split, index, count, device)
        faulty = split == "train" and index in self.bad
        return FaultyProblem(problem, self.at) if faulty else problem

    @property
    def seed(self):
        return self.inner.seed


class Record(L.Callback):
    """phi after every meta-update, and whether it changed."""

    def __init__(self):
        self.phi = []

    def on_train_batch_end(self, trainer, module, *args):
        params = module.optimizer_net.parameters()
        self.phi.append(torch.cat([p.detach().flatten() for p in params]))


def train(tmp_path, steps, source_of=lambda source: source, extra=(), callbacks=()):
    config = load(QUADRATIC, "quick", [*TINY, f"meta.steps={steps}", *extra])
    learner = MetaLearner(config, source_of(make_source(config)))
    trainer, *_ = make_trainer(config, tmp_path, loggers=False)
    trainer.callbacks.extend(callbacks)
    trainer.fit(learner, datamodule=ProblemData())
    return learner, trainer


def test_nan_truncation_is_skipped_and_its_episode_reset(tmp_path):
    record = Record()
    sampled = []

    def source_of(source):
        return FaultySource(source, bad={0}, sampled=sampled)

    learner, _ = train(tmp_path, 6, source_of, callbacks=[record])
    # Problem 0 goes NaN at step 7: the second truncation (steps 6-10) is skipped, phi
    # unchanged, and the next truncation starts problem 1 from its step 0.
    assert learner.skipped == 1 and learner.skipped_in_row == 0
    assert torch.equal(record.phi[1], record.phi[0])
    assert not torch.equal(record.phi[2], record.phi[1])
    assert [i for s, i in sampled if s == "train"] == [0, 1]
    assert learner.carry.step == 20 and learner.episodes == 2
    assert all(torch.isfinite(p).all() for p in learner.optimizer_net.parameters())


def test_non_finite_meta_gradient_with_finite_loss_is_skipped(tmp_path):
    record = Record()

    class PoisonOnce(L.Callback):
        def on_train_batch_start(self, trainer, module, batch, batch_idx):
            if trainer.global_step == 3:
                weight = next(module.optimizer_net.parameters())
                handle = weight.register_hook(lambda g: g * math.inf)
                self.handle = handle
            elif hasattr(self, "handle"):
                self.handle.remove()

    learner, _ = train(tmp_path, 6, callbacks=[PoisonOnce(), record])
    assert learner.skipped == 1
    assert torch.equal(record.phi[3], record.phi[2])
    assert all(torch.isfinite(p).all() for p in learner.optimizer_net.parameters())


def test_too_many_non_finite_truncations_in_a_row_stop_the_run(tmp_path):
    with pytest.raises(MetaTrainingDiverged, match=r"4 truncations in a row.*max_skips is 3"):
        train(tmp_path, 50, lambda s: FaultySource(s, bad=set(range(100)), at=1),
              extra=["meta.max_skips=3"])


def test_meta_gradient_clipping_bounds_the_norm(tmp_path):
    norms = []

    class Norm(L.Callback):
        def on_train_batch_end(self, trainer, module, *args):
            grads = [p.grad for p in module.optimizer_net.parameters()]
            norms.append(float(torch.linalg.vector_norm(torch.cat([g.flatten() for g in grads]))))

    _, trainer = train(tmp_path, 4, extra=["meta.clip_grad_norm=0.001"], callbacks=[Norm()])
    assert trainer.gradient_clip_val == 0.001
    assert max(norms) <= 0.001 * (1 + 1e-5)
    _, unclipped = train(tmp_path / "off", 4, callbacks=[Norm()])
    assert unclipped.gradient_clip_val is None and max(norms[4:]) > 0.001


def test_diverging_optimizer_is_recorded_in_evaluation_not_raised():
    config = load(QUADRATIC, "quick", TINY)
    problem = FaultyProblem(make_source(config).sample("test", 0, 4, "cpu"), at=7)
    curves = evaluate(problem, {"SGD": (SGD(0.1), 0.1)}, 12)
    assert curves["SGD"]["diverged_at"] == 7
    assert curves["SGD"]["mean"][5] is not None and curves["SGD"]["mean"][6] is None


def test_checkpoint_holds_the_episode_and_a_resumed_learner_continues_it(tmp_path):
    learner, trainer = train(tmp_path, 6)
    last = tmp_path / "checkpoints" / "last.ckpt"
    saved = torch.load(last, weights_only=False)
    assert saved["global_step"] == 6 and saved["episode"]["step"] == 10
    assert torch.equal(saved["episode"]["carry"]["theta"], learner.carry.theta)
    assert {"python", "numpy", "torch"} <= set(saved["rng"])
    config = load(QUADRATIC, "quick", [*TINY, "meta.steps=6"])
    assert resume_from(config, tmp_path) == last
    fresh = MetaLearner(config, make_source(config))
    fresh.trainer = trainer
    fresh.on_load_checkpoint(saved)
    assert fresh.carry.step == 10 and torch.equal(fresh.carry.theta, learner.carry.theta)
    assert fresh.problem is None and fresh.problem_index == learner.problem_index


def test_resume_refuses_a_checkpoint_of_other_settings(tmp_path):
    train(tmp_path, 2)
    other = load(QUADRATIC, "quick", [*TINY, "meta.steps=2", "meta.lr=0.5"])
    with pytest.raises(ValueError, match=r"trained with meta.lr=.*config: 0.5.*resume false"):
        resume_from(other, tmp_path)
    never = load(QUADRATIC, "quick", [*TINY, "meta.steps=2", "trainer.resume=false"])
    assert resume_from(never, tmp_path) is None


def test_a_crash_while_writing_a_checkpoint_keeps_the_previous_one(tmp_path, monkeypatch):
    learner, trainer = train(tmp_path, 2)
    last = tmp_path / "checkpoints" / "last.ckpt"
    before = last.read_bytes()

    def half_then_crash(obj, file, *args, **kwargs):
        with open(file, "wb") as handle:
            handle.write(b"half a checkpoint")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(torch, "save", half_then_crash)
    with pytest.raises(OSError, match="No space left on device"):
        trainer.save_checkpoint(last)
    assert last.read_bytes() == before
    assert sorted(p.name for p in last.parent.iterdir()) == ["last.ckpt"]


def test_rng_states_round_trip_through_a_weights_only_checkpoint(tmp_path):
    import random

    import numpy as np

    from repro.meta.checkpoint import rng_states, set_rng_states

    torch.save(rng_states(), tmp_path / "rng.pt")
    expected = (random.random(), float(np.random.rand()), float(torch.rand(())))
    random.random(), np.random.rand(), torch.rand(())
    set_rng_states(torch.load(tmp_path / "rng.pt", weights_only=True))
    assert (random.random(), float(np.random.rand()), float(torch.rand(()))) == expected


def test_sigterm_writes_the_last_checkpoint_and_stops_after_the_truncation(tmp_path):
    import os
    import signal

    class Terminate(L.Callback):
        def on_train_batch_end(self, trainer, *args):
            if trainer.global_step == 5:
                os.kill(os.getpid(), signal.SIGTERM)

    config = load(QUADRATIC, "quick", [*TINY, "meta.steps=30", "meta.checkpoint_every=4"])
    learner = MetaLearner(config, make_source(config))
    trainer, _, preemption = make_trainer(config, tmp_path, loggers=False)
    trainer.callbacks.insert(0, Terminate())
    trainer.fit(learner, datamodule=ProblemData())
    assert preemption.stopped_at == 5 == trainer.global_step
    saved = torch.load(preemption.last_path, weights_only=False)
    assert saved["global_step"] == 5 and saved["episode"]["step"] == 5

"""repro.optim.LearnedOptimizer: parity with repro's evaluation rollout, exact resume, errors,
the lr and its schedulers, non-finite gradients, the drift under an all-zero gradient."""

import csv
import dataclasses
import io
import math
import os
import warnings
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.optim.lr_scheduler import StepLR
from torch.utils.data import DataLoader, TensorDataset

from repro.config import OptimizerConfig
from repro.data.errors import DatasetError
from repro.data.mnist import load_mnist
from repro.meta.unroll import rollout
from repro.optim import LearnedOptimizer, fingerprint, load_rule
from repro.optimizees.family import Dataset
from repro.optimizees.mlp import MLPFamily
from repro.optimizers.lstm import LSTMOptimizer
from repro.optimizers.phi_file import SELECTION, PhiFile
from tests.images import learnable_images

QUADRATIC = Path(__file__).resolve().parents[1] / "experiments" / "quadratic.yaml"
IN_CI = bool(os.environ.get("CI"))


@pytest.fixture(scope="module")
def images() -> tuple[torch.Tensor, torch.Tensor]:
    """Fashion-MNIST's test split where it is installed, generated images otherwise (never in
    CI, which installs it)."""
    try:
        data = load_mnist("fashion_mnist", root=None, download=False)
    except DatasetError:
        if IN_CI:
            raise
        return learnable_images(2_000, torch.Generator().manual_seed(0))
    return data.test_images, data.test_labels


class MLP(nn.Module):
    """The MNIST base network of the paper (784-20-10, sigmoid) as an ordinary nn.Module,
    started at the flat theta_0 ``[n]`` of :class:`repro.optimizees.mlp.MLPFamily`."""

    def __init__(self, problems, theta0: torch.Tensor) -> None:
        super().__init__()
        self.fc1 = nn.Linear(784, 20, dtype=theta0.dtype)
        self.fc2 = nn.Linear(20, 10, dtype=theta0.dtype)
        (w1, b1), (w2, b2) = problems.params(theta0.unsqueeze(0))
        with torch.no_grad():
            for layer, weight, bias in ((self.fc1, w1, b1), (self.fc2, w2, b2)):
                layer.weight.copy_(weight[0].T)  # repro stores W as [in, out]
                layer.bias.copy_(bias[0])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(torch.sigmoid(self.fc1(x)))


def _parity(images, dtype: torch.dtype, steps: int, weights: str) -> tuple[torch.Tensor, ...]:
    """Losses f(theta_0..theta_steps) of repro's rollout with the shipped MNIST phi and of
    ``steps`` LearnedOptimizer steps with ``weights`` on the same theta_0 and minibatches."""
    problems = MLPFamily(data=Dataset.one(*images)).sample("test", 0, 1)
    problems = dataclasses.replace(
        problems, theta0=problems.theta0.to(dtype), images=problems.images.to(dtype)
    )
    expected = rollout(problems, load_rule("mnist_fashion_mnist").to(dtype), steps)[:, 0]
    model = MLP(problems, problems.theta0[0])
    opt = LearnedOptimizer(model.parameters(), weights=weights)
    losses = []
    for t in range(steps + 1):
        x, y = problems.minibatch(t)
        loss = F.cross_entropy(model(x[0]), y[0])
        losses.append(loss.detach())
        if t < steps:
            opt.zero_grad()
            loss.backward()
            opt.step()
    return torch.stack(losses), expected


@pytest.mark.slow  # 10-35 s on 2 shared cores: the LSTM in float64 runs the PyTorch layer
def test_100_steps_give_the_losses_of_the_evaluation_rollout_in_float64(images):
    got, expected = _parity(images, torch.float64, 100, "mnist_fashion_mnist")
    # Measured: at most 5.5e-7 over the 100 steps (1e-15 at step 10, growing with the steps:
    # the autograd and the hand-written MLP gradients differ in the last bits and training
    # amplifies it); the LSTM runs in float64 here on both sides.
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-5)


def test_float32_steps_on_the_fused_kernel_match_the_rollout_and_another_phi_does_not(images):
    got, expected = _parity(images, torch.float32, 10, "mnist_fashion_mnist")
    # Measured: at most 2.1e-6 over 10 steps. Over 100 steps float32 runs part by up to 0.05,
    # as far as repro's own rollouts on the fused kernel and on the PyTorch layer do (0.043):
    # float32 rounding, amplified by training, hence float64 for the 100-step parity.
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-4)
    wrong, expected = _parity(images, torch.float32, 10, "quadratic")
    assert (wrong - expected).abs().max() > 1e-2


def _train(model: nn.Module, opt: torch.optim.Optimizer, steps: int, start: int) -> list[float]:
    gen = torch.Generator().manual_seed(start)
    losses = []
    for _ in range(steps):
        x, y = torch.randn(32, 6, generator=gen), torch.randint(0, 3, (32,), generator=gen)
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses


def _net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(6, 8), nn.Sigmoid(), nn.Linear(8, 3))


def _saved(*objects) -> list:
    buffer = io.BytesIO()
    torch.save([o.state_dict() for o in objects], buffer)
    buffer.seek(0)
    return torch.load(buffer, weights_only=True)


def test_a_run_saved_and_resumed_midway_continues_bit_identically():
    model = _net()
    opt = LearnedOptimizer([{"params": model[0].parameters()}, {"params": model[2].parameters()}])
    _train(model, opt, 5, start=0)
    model_state, opt_state = _saved(model, opt)
    reference = _train(model, opt, 5, start=1), [p.detach() for p in model.parameters()]

    def resumed(perturb: bool) -> tuple[list[float], list[torch.Tensor]]:
        again = _net()
        again.load_state_dict(model_state)
        fresh = LearnedOptimizer(
            [{"params": again[0].parameters()}, {"params": again[2].parameters()}]
        )
        fresh.load_state_dict(opt_state)
        if perturb:  # the control: the first layer's second-LSTM cell states moved by 0.1
            fresh.state[again[0].weight]["c1"].add_(0.1)
        return _train(again, fresh, 5, start=1), [p.detach() for p in again.parameters()]

    losses, params = resumed(perturb=False)
    assert losses == reference[0]
    assert all(torch.equal(a, b) for a, b in zip(params, reference[1], strict=True))
    losses, params = resumed(perturb=True)
    assert losses != reference[0] and not torch.equal(params[0], reference[1][0])


def test_the_step_writing_the_state_in_place_gives_the_bits_of_one_into_new_tensors():
    model = _net()
    params = list(model.parameters())
    opt = LearnedOptimizer(params)
    rule = opt._rule(torch.device("cpu"), torch.float32)
    theta = torch.cat([p.detach().reshape(-1) for p in params])
    state = rule.init_state(theta)
    gen = torch.Generator().manual_seed(0)
    for _ in range(3):
        for p in params:
            p.grad = torch.randn(p.shape, generator=gen)
        opt.step()
        with torch.no_grad():
            update, state = rule.step(torch.cat([p.grad.reshape(-1) for p in params]), state)
        theta = theta + update
    assert torch.equal(torch.cat([p.detach().reshape(-1) for p in params]), theta)
    for key, value in state.items():
        assert torch.equal(torch.cat([opt.state[p][key] for p in params]), value), key


def test_any_shapes_one_lstm_pass_per_group_and_parameters_without_grad_skipped(monkeypatch):
    scalar = nn.Parameter(torch.tensor(0.5))
    kernel = nn.Parameter(torch.randn(2, 3, 2, 2))
    vector = nn.Parameter(torch.randn(4))
    idle = nn.Parameter(torch.randn(3))
    opt = LearnedOptimizer([{"params": [scalar, kernel]}, {"params": [vector, idle]}])
    calls = []
    step = LSTMOptimizer.step

    def counted(self, grad, state, in_place=False):
        calls.append(grad.numel())
        return step(self, grad, state, in_place)

    monkeypatch.setattr(LSTMOptimizer, "step", counted)
    before = idle.detach().clone()
    loss = scalar**2 + (kernel**2).sum() + vector.sum()
    loss.backward()
    opt.step()
    assert calls == [1 + 24, 4]
    assert idle.grad is None and torch.equal(idle, before) and idle not in opt.state
    assert opt.state[kernel]["h0"].shape == (24, 20) and opt.state[scalar]["c1"].shape == (1, 20)


def test_closure_is_evaluated_with_gradients_and_its_loss_returned():
    model = _net()
    opt = LearnedOptimizer(model.parameters(), weights="quadratic")
    x, y = torch.randn(8, 6), torch.randint(0, 3, (8,))

    def closure():
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        return loss

    with torch.no_grad():
        loss = opt.step(closure)
    assert loss.requires_grad and all(len(s) == 4 for s in opt.state.values())


def test_float64_parameters_keep_a_float64_state():
    p = nn.Parameter(torch.randn(5, dtype=torch.float64))
    opt = LearnedOptimizer([p])
    p.sum().backward()
    opt.step()
    assert opt.state[p]["h1"].dtype == torch.float64 and p.dtype == torch.float64


def _stepped(values: torch.Tensor, grads: list[torch.Tensor]) -> tuple[torch.Tensor, dict]:
    """A parameter starting at ``values`` after one LearnedOptimizer step per gradient."""
    p = nn.Parameter(values.clone())
    opt = LearnedOptimizer([p], weights="mnist")
    for grad in grads:
        p.grad = grad.to(values.dtype)
        opt.step()
    return p.detach(), opt.state[p]


@pytest.mark.parametrize("half", [torch.bfloat16, torch.float16])
def test_half_precision_parameters_step_as_float32_ones_rounded(half):
    """bf16/fp16 parameters: the LSTM computes in float32 on their gradients; the parameter and
    the state stay in their dtype. One step lands within two half-precision roundings (the
    update's, the sum's) of the float32 step on the same gradient."""
    torch.manual_seed(0)
    start, grad = torch.randn(300).to(half), torch.randn(300).to(half)
    got, state = _stepped(start, [grad])
    expected, _ = _stepped(start.float(), [grad.float()])
    assert got.dtype == half and all(v.dtype == half for v in state.values())
    update = expected - start.float()
    assert update.abs().min() > 0
    bound = 2 * torch.finfo(half).eps * torch.maximum(expected.abs(), update.abs())
    assert ((got.float() - expected).abs() <= bound).all()


def test_mixed_dtypes_in_one_group_step_as_if_each_were_alone():
    """float32, float64 and bfloat16 parameters in one group: each steps exactly as it would
    in an optimizer of its own (one LSTM copy per dtype, states in the parameter's dtype)."""
    torch.manual_seed(1)
    starts = [torch.randn(7, dtype=d) for d in (torch.float32, torch.float64, torch.bfloat16)]
    grads = [torch.randn(7).to(start.dtype) for start in starts]
    params = [nn.Parameter(start.clone()) for start in starts]
    opt = LearnedOptimizer(params, weights="mnist")
    for p, g in zip(params, grads, strict=True):
        p.grad = g
    opt.step()
    for p, g, start in zip(params, grads, starts, strict=True):
        alone, _ = _stepped(start, [g])
        assert p.dtype == start.dtype and opt.state[p]["h1"].dtype == start.dtype
        assert not torch.equal(p.detach(), start)
        assert torch.equal(p.detach(), alone), p.dtype


def _one_line(error: pytest.ExceptionInfo) -> str:
    message = str(error.value)
    assert "\n" not in message
    return message


def test_unknown_weights_name_lists_the_shipped_ones():
    with pytest.raises(ValueError) as error:
        LearnedOptimizer([nn.Parameter(torch.zeros(2))], weights="mnist_cifar")
    assert "mnist_fashion_mnist, official_dm, official_dm_aug" in _one_line(error)
    assert _one_line(error).endswith(", quadratic")


def test_unreadable_and_grouped_checkpoints_are_refused(tmp_path):
    junk = tmp_path / "junk.pt"
    junk.write_text("not a checkpoint")
    with pytest.raises(ValueError, match="not a readable optimizer checkpoint") as error:
        LearnedOptimizer([nn.Parameter(torch.zeros(2))], weights=junk)
    _one_line(error)
    grouped = tmp_path / "cifar.ckpt"
    settings = dataclasses.asdict(OptimizerConfig(groups=["conv", "fc"]))
    PhiFile({}, settings, dict.fromkeys(SELECTION), {}).save(grouped)
    with pytest.raises(ValueError, match="one LSTM per parameter group") as error:
        LearnedOptimizer([nn.Parameter(torch.zeros(2))], weights=str(grouped))
    _one_line(error)


def test_sparse_gradients_and_complex_parameters_are_refused():
    embedding = nn.Embedding(10, 3, sparse=True)
    opt = LearnedOptimizer(embedding.parameters())
    embedding(torch.tensor([1, 2])).sum().backward()
    with pytest.raises(TypeError, match="sparse gradients") as error:
        opt.step()
    _one_line(error)
    with pytest.raises(TypeError, match="real parameters") as error:
        LearnedOptimizer([nn.Parameter(torch.zeros(2, dtype=torch.complex64))])
    _one_line(error)
    opt = LearnedOptimizer([nn.Parameter(torch.zeros(2))])
    with pytest.raises(TypeError, match="real parameters"):
        opt.add_param_group({"params": [nn.Parameter(torch.zeros(2, dtype=torch.complex64))]})
    assert len(opt.param_groups) == 1


def test_a_state_saved_under_another_phi_is_refused():
    p = nn.Parameter(torch.zeros(3))
    opt = LearnedOptimizer([p], weights="quadratic")
    p.sum().backward()
    opt.step()
    other = LearnedOptimizer([p], weights="mnist_fashion_mnist")
    with pytest.raises(ValueError, match="another phi") as error:
        other.load_state_dict(opt.state_dict())
    _one_line(error)


def test_weights_may_be_the_checkpoint_a_fit_exported(tmp_path):
    from repro.commands.fit import fit
    from repro.config_loading import load
    from repro.optimizers.phi_file import load_optimizer
    from repro.paths import Paths

    config = load(QUADRATIC, "quick", [
        "problem.batch=2", "meta.steps=2", "meta.val_every=2", "meta.val_problems=2",
        "meta.horizon=4", "meta.unroll=2",
    ])
    checkpoint = fit(config, Paths(runs=tmp_path / "runs", figures=tmp_path / "figures"))
    opt = LearnedOptimizer([nn.Parameter(torch.zeros(2))], weights=checkpoint)
    fitted = load_optimizer(checkpoint)
    for ours, theirs in zip(opt.rule.parameters(), fitted.parameters(), strict=True):
        assert torch.equal(ours, theirs)
    assert opt.defaults["phi"] != fingerprint(load_rule("quadratic"))


def _scheduled(gamma: float | None) -> tuple[list[float], list[torch.Tensor], list[float]]:
    """Losses, final parameters and last lrs of 6 steps of :func:`_train`'s loop with a
    StepLR(step_size=2, gamma) stepped after every step (without one for ``gamma=None``)."""
    model = _net()
    opt = LearnedOptimizer([{"params": model[0].parameters()}, {"params": model[2].parameters()}])
    scheduler = None if gamma is None else StepLR(opt, step_size=2, gamma=gamma)
    losses = []
    for step in range(6):
        losses += _train(model, opt, 1, start=step)
        if scheduler is not None:
            scheduler.step()
    return losses, [p.detach() for p in model.parameters()], [g["lr"] for g in opt.param_groups]


def test_a_step_lr_scheduler_scales_the_updates_and_with_gamma_1_changes_nothing():
    losses, params, lrs = _scheduled(None)
    assert lrs == [1.0, 1.0]
    same = _scheduled(1.0)
    assert same[0] == losses and all(map(torch.equal, same[1], params))
    scaled, scaled_params, scaled_lrs = _scheduled(0.1)
    assert scaled_lrs == pytest.approx([1e-3, 1e-3])
    # lr 1 for steps 0-1, so the losses before step 2's update agree, and none after it
    assert scaled[:3] == losses[:3]
    assert all(a != b for a, b in zip(scaled[3:], losses[3:], strict=True))
    assert not any(map(torch.equal, scaled_params, params))


def test_lr_multiplies_the_update_and_leaves_the_lstm_state_alone():
    def one_step(lr: float) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        p = nn.Parameter(torch.linspace(-1, 1, 9))
        opt = LearnedOptimizer([{"params": [p], "lr": lr}], lr=7.0)
        p.grad = torch.linspace(0.5, -0.3, 9)
        opt.step()
        return p.detach() - torch.linspace(-1, 1, 9), opt.state[p]

    update, state = one_step(1.0)
    for lr in (0.25, 0.0):
        scaled, scaled_state = one_step(lr)
        torch.testing.assert_close(scaled, lr * update)
        assert all(torch.equal(scaled_state[k], state[k]) for k in state)


def test_lightning_logs_the_lr_that_a_scheduler_sets(tmp_path):
    import lightning as L
    from lightning.pytorch.callbacks import LearningRateMonitor
    from lightning.pytorch.loggers import CSVLogger

    class Classifier(L.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.net = _net()

        def training_step(self, batch, batch_idx):
            x, y = batch
            return F.cross_entropy(self.net(x), y)

        def configure_optimizers(self):
            opt = LearnedOptimizer(self.parameters(), lr=0.5)
            scheduler = {"scheduler": StepLR(opt, step_size=1, gamma=0.1), "interval": "step"}
            return {"optimizer": opt, "lr_scheduler": scheduler}

    data = TensorDataset(torch.randn(24, 6), torch.randint(0, 3, (24,)))
    trainer = L.Trainer(
        max_steps=3, logger=CSVLogger(tmp_path), callbacks=[LearningRateMonitor("step")],
        log_every_n_steps=1, accelerator="cpu", enable_checkpointing=False,
        enable_progress_bar=False, enable_model_summary=False,
    )
    trainer.fit(Classifier(), DataLoader(data, batch_size=8))
    with open(Path(trainer.logger.log_dir) / "metrics.csv") as file:
        logged = [row["lr-LearnedOptimizer"] for row in csv.DictReader(file)]
    assert [float(lr) for lr in logged if lr] == pytest.approx([0.5, 0.05, 0.005])


def test_unknown_options_and_bad_lrs_are_refused_and_group_lrs_kept():
    p = nn.Parameter(torch.zeros(2))
    with pytest.raises(ValueError, match="unknown keyword 'foo'; allowed: weights, lr") as error:
        LearnedOptimizer([p], foo="bar")
    _one_line(error)
    allowed = "allowed: params, param_names, lr"
    with pytest.raises(ValueError, match=f"param-group key 'foo'; {allowed}") as error:
        LearnedOptimizer([{"params": [p], "foo": "bar"}])
    _one_line(error)
    for lr in (-0.1, math.nan, math.inf):
        with pytest.raises(ValueError, match="lr must be finite and >= 0") as error:
            LearnedOptimizer([p], lr=lr)
        _one_line(error)
        with pytest.raises(ValueError, match="lr must be finite and >= 0"):
            LearnedOptimizer([{"params": [p], "lr": lr}])
    q = nn.Parameter(torch.zeros(3))
    opt = LearnedOptimizer([{"params": [p], "lr": 0.1}], lr=0.5)
    with pytest.raises(ValueError, match="'momentum'"):
        opt.add_param_group({"params": [q], "momentum": 0.9})
    opt.add_param_group({"params": [q]})
    assert [g["lr"] for g in opt.param_groups] == [0.1, 0.5]
    named = LearnedOptimizer(nn.Linear(2, 1).named_parameters())
    assert named.param_groups[0]["param_names"] == ["weight", "bias"]


def test_a_state_saved_before_groups_had_an_lr_loads_with_lr_1():
    p = nn.Parameter(torch.zeros(3))
    opt = LearnedOptimizer([p], lr=0.5)
    p.sum().backward()
    opt.step()
    saved = opt.state_dict()
    del saved["param_groups"][0]["lr"]
    opt.load_state_dict(saved)
    assert opt.param_groups[0]["lr"] == 1.0
    opt.step()


def _run(grads: list[torch.Tensor], dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    """The flat parameters and the LSTM states ``[4, 10, 20]`` after one step per gradient
    (each ``[10]``) on a [2, 3] and a [4] parameter of one group."""
    a = nn.Parameter(torch.linspace(-1, 1, 6, dtype=dtype).view(2, 3))
    b = nn.Parameter(torch.linspace(2, 1, 4, dtype=dtype))
    opt = LearnedOptimizer([a, b], weights="mnist")
    for grad in grads:
        grad_a, b.grad = grad.to(dtype).split((6, 4))
        a.grad = grad_a.view(2, 3)
        opt.step()
    states = [torch.cat([opt.state[p][k] for p in (a, b)]) for k in ("h0", "c0", "h1", "c1")]
    return torch.cat([a.detach().view(-1), b.detach()]), torch.stack(states)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])  # the kernel, the torch layer
@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_a_non_finite_gradient_coordinate_is_skipped_and_the_others_step_as_without_it(
    bad, dtype
):
    first, second = torch.linspace(-0.3, 0.5, 10), torch.linspace(0.2, -0.1, 10)
    dirty, clean = second.clone(), second.clone()
    dirty[7], clean[7] = bad, 0.0  # b[1]; the others' updates do not read it: coordinatewise
    with pytest.warns(RuntimeWarning, match="1 of 10 gradient coordinates") as record:
        params, states = _run([first, dirty, dirty], dtype)
    assert len([w for w in record if w.category is RuntimeWarning]) == 1
    before, before_states = _run([first], dtype)
    expected, expected_states = _run([first, clean, clean], dtype)
    assert params[7] == before[7] and torch.equal(states[:, 7], before_states[:, 7])
    others = torch.arange(10) != 7
    assert torch.equal(params[others], expected[others])
    assert torch.equal(states[:, others], expected_states[:, others])
    assert torch.isfinite(states).all() and not torch.equal(params[others], before[others])


def test_finite_gradients_whose_sum_overflows_step_without_a_warning():
    huge = torch.full((10,), 3e38)  # every coordinate finite, their float32 sum is not
    assert not torch.isfinite(huge.sum())
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        params, states = _run([huge], torch.float32)
    assert torch.isfinite(states).all() and torch.isfinite(params).all()


@pytest.mark.parametrize(
    ("weights", "largest", "after_10", "after_100"),
    [  # measured on float32 (the kernel); float64 gives the same to 4 digits
        ("mnist", 0.0708, -0.2790, -0.2153),
        ("official_dm", 0.0434, -0.0312, -0.1054),
        ("mnist_fashion_mnist", 0.0223, 0.1111, -0.0825),
    ],
)
def test_an_all_zero_gradient_moves_every_coordinate_alike_as_documented(
    weights, largest, after_10, after_100
):
    p = nn.Parameter(torch.zeros(1000))
    opt = LearnedOptimizer([p], weights=weights)
    updates = []
    for _ in range(100):
        before = p.detach().clone()
        p.grad = torch.zeros_like(p)
        opt.step()
        updates.append(p.detach() - before)
    updates = torch.stack(updates)
    assert torch.equal(updates, updates[:, :1].expand_as(updates))
    assert (updates != 0).all() and updates.abs().max().item() <= 0.075
    assert updates.abs().max().item() == pytest.approx(largest, abs=1e-4)
    assert updates[:10, 0].sum().item() == pytest.approx(after_10, abs=1e-3)
    assert p[0].item() == pytest.approx(after_100, abs=1e-3)


@pytest.mark.gpu
def test_cuda_parameters_get_a_cuda_state_and_the_cpu_updates():
    cpu = nn.Parameter(torch.randn(50))
    cuda = nn.Parameter(cpu.detach().cuda())
    for p in (cpu, cuda):
        opt = LearnedOptimizer([p])
        for _ in range(3):
            opt.zero_grad()
            (p**2).sum().backward()
            opt.step()
        assert opt.state[p]["h0"].device == p.device
    torch.testing.assert_close(cuda.detach().cpu(), cpu.detach(), rtol=1e-4, atol=1e-5)

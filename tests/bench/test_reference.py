import torch

from bench.reference import ReferenceLSTM, reference_truncation
from repro.meta.unroll import meta_loss, start, unroll
from repro.optimizees.quadratic import QuadraticFamily
from repro.optimizers.lstm import LSTMOptimizer


def test_common_reimplementation_computes_our_meta_gradient():
    torch.manual_seed(0)
    ours = LSTMOptimizer()
    reference = ReferenceLSTM(ours)
    problem = QuadraticFamily().sample("train", 0, 4)
    losses, _ = unroll(problem, ours, start(problem, ours), 6)
    loss = meta_loss(losses)
    ref_loss, _, _ = reference_truncation(reference, problem, problem.initial_params(), None, 6)
    torch.testing.assert_close(ref_loss, loss)
    ours_grad = torch.autograd.grad(loss, [ours.head_weight, ours.weights[1]])
    ref_grad = torch.autograd.grad(ref_loss, [reference.head.weight, reference.cells[1].weight_hh])
    torch.testing.assert_close(ref_grad[0], ours_grad[0].T, rtol=1e-4, atol=1e-6)
    h = ours.hidden
    i, f, o, g = ours_grad[1].T.split(h, dim=0)
    torch.testing.assert_close(
        ref_grad[1], torch.cat((i, f, g, o))[:, h:], rtol=1e-4, atol=1e-6
    )


def test_common_reimplementation_on_an_mlp_computes_our_meta_gradient():
    from bench.reference import mlp_parameters, reference_mlp_truncation
    from repro.optimizees.family import Dataset
    from repro.optimizees.mlp import MLPFamily

    torch.manual_seed(0)
    ours = LSTMOptimizer(preprocessing="logsign", output_scale=0.1)
    reference = ReferenceLSTM(ours)
    images = torch.rand(64, 784)
    labels = torch.randint(0, 10, (64,))
    problem = MLPFamily(hidden=(5,), batch_size=16, data=Dataset.one(images, labels)).sample(
        "train", 0, 1
    )
    losses, _ = unroll(problem, ours, start(problem, ours), 4)
    loss = meta_loss(losses)
    params = mlp_parameters(problem, problem.initial_params())
    ref_loss, _, _ = reference_mlp_truncation(reference, problem, params, None, 0, 4)
    torch.testing.assert_close(ref_loss, loss, rtol=1e-5, atol=1e-6)
    ours_grad = torch.autograd.grad(loss, [ours.head_weight])[0]
    ref_grad = torch.autograd.grad(ref_loss, [reference.head.weight])[0]
    torch.testing.assert_close(ref_grad, ours_grad.T, rtol=1e-3, atol=1e-6)

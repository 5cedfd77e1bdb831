"""The comparison shared by the parity tests and by their controls, which break one side on
purpose and check that this same comparison then reports the tensors it changed."""

import torch

from repro.optimizers.lstm import LSTMOptimizer


def wrong_gate_order(opt: LSTMOptimizer) -> None:
    """Swap the output and cell gate blocks of every layer's weights and bias."""
    h = opt.hidden
    order = torch.cat((torch.arange(2 * h), torch.arange(3 * h, 4 * h), torch.arange(2 * h, 3 * h)))
    with torch.no_grad():
        for weight, bias in zip(opt.weights, opt.biases, strict=True):
            weight.copy_(weight[:, order])
            bias.copy_(bias[order])


def dropped_bias(opt: LSTMOptimizer) -> None:
    """Zero every layer's bias."""
    with torch.no_grad():
        for bias in opt.biases:
            bias.zero_()


BREAKAGES = {"wrong gate order": wrong_gate_order, "dropped bias": dropped_bias}
"""Ways to break an LSTM optimizer on purpose, applied to its weights after a reference
copied them."""


def mismatches(ours: dict, reference: dict, **tolerances) -> dict[str, str]:
    """Name -> message for every tensor of ``ours`` that ``torch.testing.assert_close`` (with
    ``tolerances``) finds unlike the tensor of the same name in ``reference``."""
    assert ours.keys() == reference.keys()
    found = {}
    for name, value in ours.items():
        try:
            torch.testing.assert_close(value, reference[name], **tolerances)
        except AssertionError as error:
            found[name] = str(error)
    return found

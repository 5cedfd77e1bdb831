import math

import torch

from repro.optimizers.preprocess import log_sign, n_features, preprocess


def _paper_piecewise(g: float, p: float) -> tuple[float, float]:
    if abs(g) >= math.exp(-p):
        return math.log(abs(g)) / p, math.copysign(1.0, g)
    return -1.0, math.exp(p) * g


def test_log_sign_equals_appendix_a_piecewise_definition():
    values = [3.0, -0.5, 1e-3, -2e-4, 4e-5, -4e-5, 1e-7, 0.0, 45.0]
    for p in (5.0, 10.0):
        out = log_sign(torch.tensor(values, dtype=torch.float64), p)
        assert out.shape == (len(values), 2)
        for (a, b), g in zip(out.tolist(), values, strict=True):
            ea, eb = _paper_piecewise(g, p) if g != 0 else (-1.0, 0.0)
            # the continuous form adds float32 eps inside the log: d log = eps / |g|
            tol = 1e-6 + (torch.finfo(torch.float32).eps / (abs(g) * p) if g else 0.0)
            assert abs(a - ea) < tol and abs(b - eb) < 1e-6, (g, p, a, b)


def test_identity_and_feature_counts():
    g = torch.randn(3, 4)
    assert torch.equal(preprocess(g, "none", 10.0)[..., 0], g)
    assert n_features("none") == 1 and n_features("logsign") == 2
    assert preprocess(g, "logsign", 10.0).shape == (3, 4, 2)

"""Controls: the family contract (tests/optimizees/contract.py) turns red on a family that
breaks each of its clauses."""

from dataclasses import dataclass

import pytest
import torch

from repro.optimizees.quadratic import QuadraticFamily
from tests.optimizees.contract import check_family


@dataclass
class Broken:
    """A quadratic problem batch with one clause of the contract broken."""

    problem: object
    how: str

    def initial_params(self):
        theta = self.problem.initial_params()
        if self.how == "random theta_0":
            return theta + torch.randn(theta.shape)  # the global generator: not reproducible
        return theta

    def loss_and_grad(self, theta, step, create_graph=False):
        if self.how == "instances mixed":
            theta = theta + 0.01 * theta.mean(0, keepdim=True)
        loss, grad = self.problem.loss_and_grad(theta, step, create_graph=create_graph)
        if self.how == "gradient off by 1%":
            grad = 1.01 * grad
        return loss, grad


@dataclass
class BrokenFamily:
    how: str
    family: QuadraticFamily = QuadraticFamily(seed=3)

    @property
    def n_params(self):
        return self.family.n_params

    def sample(self, split, index, count, device="cpu"):
        return Broken(self.family.sample(split, index, count, device), self.how)

    def describe(self):
        return self.family.describe()


@pytest.mark.parametrize("how", ["random theta_0", "instances mixed", "gradient off by 1%"])
def test_the_contract_fails_a_family_that_breaks_it(how):
    with pytest.raises(AssertionError):
        check_family(BrokenFamily(how))


def test_the_control_family_keeps_the_contract_unbroken():
    check_family(BrokenFamily("nothing"))

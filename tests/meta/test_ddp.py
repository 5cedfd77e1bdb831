"""Distributed meta-training on Lightning's DDP: 2 CPU processes (gloo), run as a script."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

SCRIPT = Path(__file__).with_name("ddp_fit.py")
ROOT = SCRIPT.parents[2]


@pytest.mark.slow
def test_two_ranks_draw_different_problems_and_end_with_the_same_phi(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, str(SCRIPT), str(tmp_path), "2", "12", "4"],
                          check=False, cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert all(r["world_size"] == 2 and r["global_step"] == 12 for r in ranks)
    # 12 truncations of 5 steps on a 20-step horizon: 3 problems per rank, rank r taking
    # instances r, 2 + r, 4 + r: twice the problems of one process, none shared.
    assert ranks[0]["sampled"] == [0, 2, 4] and ranks[1]["sampled"] == [1, 3, 5]
    phi = [torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in (0, 1)]
    for key, value in phi[0].items():
        assert torch.equal(value, phi[1][key]), key
    assert sorted(p.name for p in (tmp_path / "run" / "checkpoints").iterdir()) == [
        "best.ckpt", "last.ckpt"
    ]

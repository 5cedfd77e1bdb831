"""Meta-train a tiny quadratic LSTM under DDP; each rank writes what it sampled and its phi.

Run as a script (DDP relaunches the command for every rank):
``python tests/meta/ddp_fit.py OUT DEVICES STEPS``.
"""

import json
import sys
import time
from pathlib import Path

import torch

from repro.config import load
from repro.data.problems import ProblemData
from repro.meta.learner import MetaLearner
from repro.meta.training import make_trainer
from repro.optimizees import make_source

ROOT = Path(__file__).resolve().parents[2]


def main(out: Path, devices: int, steps: int, batch: int) -> None:
    """Fit on ``devices`` CPU processes; write ``rank<r>.json`` and ``rank<r>.pt`` into ``out``."""
    torch.set_num_threads(1)
    config = load(ROOT / "experiments" / "quadratic.yaml", "quick", [
        f"problem.batch={batch}", "meta.horizon=20", "meta.unroll=5", f"meta.steps={steps}",
        "meta.val_every=10", "meta.val_problems=4", "meta.checkpoint_every=5",
        "optimizer.hidden=6", "trainer.accelerator=cpu", f"trainer.devices={devices}",
        "trainer.strategy=" + ("ddp" if devices > 1 else "auto"),
    ])
    source = make_source(config)
    sampled = []
    sample = source.sample

    def recorded(split, index, count, device):
        if split == "train":
            sampled.append(index)
        return sample(split, index, count, device)

    source.sample = recorded
    learner = MetaLearner(config, source)
    trainer, *_ = make_trainer(config, out / "run", loggers=False)
    started = time.perf_counter()
    trainer.fit(learner, datamodule=ProblemData())
    seconds = time.perf_counter() - started
    rank = trainer.global_rank
    (out / f"rank{rank}.json").write_text(json.dumps({
        "world_size": trainer.world_size, "sampled": sampled, "global_step": trainer.global_step,
        "seconds": seconds, "problems_per_second": len(sampled) * trainer.world_size * batch
        / seconds,
    }))
    torch.save(learner.optimizer_net.state_dict(), out / f"rank{rank}.pt")


if __name__ == "__main__":
    main(Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]))

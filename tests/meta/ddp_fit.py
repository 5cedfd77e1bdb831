"""Meta-train a tiny quadratic LSTM under DDP; each rank writes what it sampled and its phi.

Run as a script (DDP relaunches the command for every rank):
``python tests/meta/ddp_fit.py OUT DEVICES STEPS BATCH [HIDDEN]``.
"""

import json
import sys
import time
from pathlib import Path

import lightning as L
import torch

from repro.config_loading import load
from repro.data.problems import ProblemData
from repro.meta.experiments import make_source
from repro.meta.learner import MetaLearner
from repro.meta.training import make_trainer

ROOT = Path(__file__).resolve().parents[2]


class Clock(L.Callback):
    """Seconds of training proper: from the first to the last truncation, start-up excluded."""

    def on_train_start(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        self.started = time.perf_counter()

    def on_train_end(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        self.seconds = time.perf_counter() - self.started


def main(out: Path, devices: int, steps: int, batch: int, hidden: int = 6) -> None:
    """Fit on ``devices`` CPU processes; write ``rank<r>.json`` and ``rank<r>.pt`` into ``out``."""
    torch.set_num_threads(1)
    config = load(ROOT / "experiments" / "quadratic.yaml", "quick", [
        f"problem.batch={batch}", "meta.horizon=20", "meta.unroll=5", f"meta.steps={steps}",
        "meta.val_every=10", "meta.val_problems=4", "meta.checkpoint_every=5",
        f"optimizer.hidden={hidden}", "trainer.accelerator=cpu", f"trainer.devices={devices}",
        "trainer.strategy=" + ("ddp" if devices > 1 else "auto"),
    ])
    source = make_source(config)
    sampled = []
    sample = source.sample

    def recorded(split, index, count, device):
        if split == "train":
            sampled.append(index)
        return sample(split, index, count, device)

    object.__setattr__(source, "sample", recorded)  # the family is a frozen dataclass
    learner = MetaLearner(config, source)
    trainer, *_ = make_trainer(config, out / "run", loggers=False)
    clock = Clock()
    trainer.callbacks.append(clock)
    trainer.fit(learner, datamodule=ProblemData())
    seconds = clock.seconds
    rank = trainer.global_rank
    (out / f"rank{rank}.json").write_text(json.dumps({
        "world_size": trainer.world_size, "sampled": sampled, "global_step": trainer.global_step,
        "seconds": seconds, "problems_per_second": len(sampled) * trainer.world_size * batch
        / seconds,
    }))
    torch.save(learner.optimizer_net.state_dict(), out / f"rank{rank}.pt")


if __name__ == "__main__":
    main(Path(sys.argv[1]), *map(int, sys.argv[2:]))

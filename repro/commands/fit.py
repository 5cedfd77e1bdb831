"""``repro fit``: meta-train the LSTM optimizer and export the phi selected on validation."""

from __future__ import annotations

import signal
import threading
import time
import warnings
from pathlib import Path

from repro import tracking
from repro.commands.runs import (
    device_for,
    holding_run_folder,
    refuse_lone_nodes,
    set_threads,
)
from repro.config import Config
from repro.errors import Preempted
from repro.io import provenance
from repro.meta.checkpoint import resume_from, resumed_step
from repro.meta.experiments import make_experiment
from repro.paths import Paths


@holding_run_folder("fit")
def fit(config: Config, paths: Paths) -> Path:
    """Meta-train the LSTM optimizer; export the best (by validation) phi; return its path.

    An interrupted fit of the same settings resumes from its last checkpoint; on SIGTERM the
    fit writes that checkpoint (or, signalled during validation, keeps the last one written)
    and raises :class:`Preempted`; on Ctrl-C it raises KeyboardInterrupt, naming the last
    checkpoint written.
    """
    import lightning as L
    from lightning.pytorch.utilities.exceptions import SIGTERMException

    from repro.meta.training import export_selected, make_trainer

    run_dir = paths.run_dir(config, "fit")
    set_threads(config)
    device_for(config)  # refuses what this machine lacks; Lightning places the run itself
    refuse_lone_nodes(config)
    L.seed_everything(config.meta.phi_seed(config.seed), workers=True, verbose=False)
    resume = resume_from(config, run_dir)
    learner, data = make_experiment(config)
    with tracking.run(run_dir, f"{config.experiment}-fit", config.to_dict(),
                      keep_before=None if resume is None else resumed_step(resume)) as loggers:
        trainer, best, preemption = make_trainer(config, run_dir, loggers)
        if resume is not None and trainer.is_global_zero:
            print(f"resuming meta-training from {resume}")
        if config.meta.clip_grad_norm and trainer.is_global_zero:
            print(f"meta-gradient norm clipped at {config.meta.clip_grad_norm}")
        started = time.perf_counter()
        sigint = signal.getsignal(signal.SIGINT)
        try:
            with warnings.catch_warnings():
                # Lightning 2.6 builds torch's deprecated LeafSpec on every fit
                warnings.filterwarnings("ignore", r"`isinstance\(treespec, LeafSpec\)`",
                                        FutureWarning)
                trainer.fit(learner, datamodule=data, ckpt_path=resume)
        except SIGTERMException:
            # SIGTERM after Preemption's check (during validation): Lightning stops the fit itself
            raise Preempted(f"preempted during truncation {trainer.global_step}: "
                            f"{_resumable(preemption.last_path)}") from None
        except SystemExit:  # after SIGTERMException, a SystemExit too
            if not preemption.interrupted:
                raise
            raise KeyboardInterrupt(_resumable(preemption.last_path)) from None
        finally:
            if sigint is not None and threading.current_thread() is threading.main_thread():
                signal.signal(signal.SIGINT, sigint)  # Lightning ignores Ctrl-C once it saw one
    seconds = time.perf_counter() - started
    if preemption.stopped_at is not None:
        raise Preempted(
            f"preempted after truncation {preemption.stopped_at}: checkpoint "
            f"{preemption.last_path} written; run the same command again to resume"
        )
    if not trainer.is_global_zero:
        return paths.checkpoint(config.experiment)
    meta = provenance(
        paths.config_file, config.seed, profile=config.profile,
        phi_seed=config.meta.phi_seed(config.seed), **learner.source.describe(),
    )
    return export_selected(paths.checkpoint(config.experiment), learner, trainer, best, resume,
                           seconds, meta)


def _resumable(last: Path) -> str:
    """What a fit stopped short leaves to resume from: the checkpoint ``last``, if written."""
    if last.is_file():
        return f"checkpoint {last} stands; run the same command again to resume"
    return "no checkpoint was written yet; nothing was left behind"

"""Experiment tracking: a CSV logger plus a Weights & Biases logger for every run.

Every command (Lightning-driven or not) logs through the same pair of loggers made by
:func:`make_loggers`, in the :func:`run` context that finishes them. The CSV copy lives at
``run_dir/csv/metrics.csv``; the W&B run lives under ``run_dir/wandb/`` and is uploaded live
when the user is logged in, or stored offline (to be pushed later with
``wandb sync run_dir/wandb/offline-run-*``) when not.

The tests read both records back (``tests/run_records.py``) and compare them.
"""

from __future__ import annotations

import contextlib
import csv
import netrc
import os
import uuid
import warnings
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from lightning.pytorch.loggers import CSVLogger, Logger, WandbLogger
from lightning.pytorch.utilities import rank_zero_only

DEFAULT_PROJECT = "l2l-repro"
CSV_SUBDIR = "csv"
"""Sub-directory of ``run_dir`` holding ``metrics.csv`` and ``hparams.yaml``."""
STEP_KEY = "trainer/global_step"
"""History key in which Lightning's ``WandbLogger`` records the step passed to ``log_metrics``."""
CURVE_COLUMNS = ["optimizer", "step", "mean", "lo", "hi"]
"""Columns of the W&B table written by :func:`log_curves_table`."""

_DEFAULT_WANDB_API_HOST = "api.wandb.ai"
_REPO_ROOT = Path(__file__).resolve().parents[1]


def wandb_mode() -> str:
    """Return the W&B mode to run in: ``$WANDB_MODE`` if set, else "online" when W&B credentials
    are available on this machine (``WANDB_API_KEY``, a netrc entry for the W&B host, the W&B
    settings file, or an earlier ``wandb.login`` in this process), else "offline".

    Only local state is inspected: this never prompts and never touches the network.
    """
    mode = os.environ.get("WANDB_MODE", "").strip()
    return mode or ("online" if _has_wandb_credentials() else "offline")


def _has_wandb_credentials() -> bool:
    """Whether W&B would find an API key (or identity token) without prompting."""
    if os.environ.get("WANDB_API_KEY") or os.environ.get("WANDB_IDENTITY_TOKEN_FILE"):
        return True
    from wandb.errors import AuthenticationError

    try:
        return _wandb_finds_credentials()
    except AuthenticationError:
        # A stored key exists but is malformed: wandb.init would fail online.
        return False
    except (ImportError, AttributeError, TypeError, ValueError, OSError):
        # wandb internals moved, or a bad settings value: fall back to a plain netrc lookup
        return _netrc_has_entry(_DEFAULT_WANDB_API_HOST)


def _wandb_finds_credentials() -> bool:
    """Ask wandb's own (internal, offline) credential lookup whether a key is stored."""
    import wandb

    # Internal, unavoidable: the public wandb.login(prompt=False) also authenticates the session.
    from wandb.sdk.lib import wbauth

    settings = wandb.Settings(quiet=True)
    config_dir = os.environ.get("WANDB_CONFIG_DIR") or Path("~", ".config", "wandb")
    settings.settings_system = str(Path(config_dir).expanduser() / "settings")
    settings.update_from_system_settings()
    settings.update_from_env_vars(dict(os.environ))
    if settings.api_key:
        return True
    host = wbauth.HostUrl(settings.base_url, app_url=settings.app_url)
    if wbauth.session_credentials(host=host) is not None:
        return True
    return wbauth.read_netrc_auth(host=host) is not None


def _netrc_has_entry(host: str) -> bool:
    """Whether the user's netrc file has a password for ``host``."""
    path = Path(os.environ.get("NETRC") or Path("~", ".netrc")).expanduser()
    try:
        creds = netrc.netrc(str(path)).authenticators(host)
    except (OSError, netrc.NetrcParseError):
        return False
    return bool(creds and creds[2])


def make_loggers(
    run_dir: Path, name: str, config: dict, keep_before: int | None = None
) -> list[Logger]:
    """Create ``[CSVLogger, WandbLogger]`` for one run.

    The CSV logger writes ``run_dir/csv/metrics.csv`` (and ``hparams.yaml`` with ``config``); the
    W&B run (display name ``name``, config ``config``, mode :func:`wandb_mode`) is started
    immediately and stored under ``run_dir/wandb``. Pass the list to
    ``lightning.Trainer(logger=...)`` or use it with :func:`log_metrics`; always end with
    :func:`finish`.

    Every start in ``run_dir`` (a fit and each resume of it) is a W&B run of its own, in the W&B
    group kept in ``run_dir/wandb/group``, so the attempts of one fit show together and none is
    lost. (Continuing one W&B run across a kill fails: W&B's service still holds the killed
    run's id.) A W&B run still active in this process is finished first (with a warning), since
    Lightning would otherwise silently reuse it. ``keep_before`` (a resumed run's first step)
    keeps the rows of an earlier ``metrics.csv`` logged before that step, where Lightning would
    start the file afresh; later rows append to them.
    """
    import wandb

    run_dir = Path(run_dir)
    # wandb inspects its root dir for git info at init; it must exist by then.
    run_dir.mkdir(parents=True, exist_ok=True)

    if wandb.run is not None:
        warnings.warn(
            f"finishing the still-active W&B run {wandb.run.id!r} before starting run {name!r}",
            stacklevel=2,
        )
        wandb.run.finish()

    csv_logger = CSVLogger(save_dir=run_dir, name=CSV_SUBDIR, version="")
    history = _history(run_dir / CSV_SUBDIR / "metrics.csv", keep_before)
    csv_logger.log_hyperparams(dict(config))  # creates the writer, which deletes the old file
    if history is not None:
        _write_history(csv_logger, *history)

    mode = wandb_mode()
    run = None
    if rank_zero_only.rank == 0:
        # Started here, not by WandbLogger: it passes wandb.init anonymous=None, which wandb 0.31
        # warns about on every init. Started now, so it exists (with its config) even if unused.
        run = wandb.init(
            name=name, project=DEFAULT_PROJECT, dir=str(run_dir), resume="allow",
            config=dict(config), mode=mode, settings=wandb.Settings(**_wandb_settings(mode)),
            group=_group(run_dir),
        )
        run.define_metric(STEP_KEY)  # the axes WandbLogger defines on the runs it starts
        run.define_metric("*", step_metric=STEP_KEY, step_sync=True)
    wandb_logger = WandbLogger(name=name, save_dir=run_dir, project=DEFAULT_PROJECT, experiment=run)
    return [csv_logger, wandb_logger]


def _wandb_settings(mode: str) -> dict[str, Any]:
    """The W&B settings of every run: no console capture, quiet (silent offline), and this
    repository's commit recorded even when the run folder lies outside it."""
    settings: dict[str, Any] = {
        "console": "off",  # no stdout/stderr capture (keeps progress bars out of the run)
        "quiet": True,  # online: only the run name/URL, warnings and errors are printed
    }
    if mode in ("offline", "dryrun"):
        # wandb 0.31 prints a 3-line offline banner unless fully silent
        settings["silent"] = True
    if (_REPO_ROOT / ".git").exists():
        settings["git_root"] = str(_REPO_ROOT)
    return settings


def _group(run_dir: Path) -> str:
    """The W&B group of the runs started in ``run_dir``: made at the first start (again if a
    kill left its file empty), then kept."""
    path = run_dir / "wandb" / "group"
    group = path.read_text().strip() if path.is_file() else ""
    if not group:
        group = f"{run_dir.name}-{uuid.uuid4().hex[:8]}"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(group + "\n")
    return group


def log_metrics(loggers: list[Logger], metrics: Mapping[str, float], step: int) -> None:
    """Log scalar ``metrics`` at ``step`` to every logger."""
    values = {key: float(value) for key, value in metrics.items()}
    for logger in loggers:
        logger.log_metrics(values, step=int(step))


def log_figure(loggers: list[Logger], key: str, png_path: Path) -> None:
    """Attach the image file ``png_path`` to the W&B run under ``key``; CSV loggers ignore it."""
    for logger in _wandb_loggers(loggers):
        logger.log_image(key=key, images=[str(png_path)])


def log_curves_table(
    loggers: list[Logger], key: str, curves: Mapping[str, Mapping[str, list[float]]]
) -> None:
    """Log loss curves ``{optimizer: {"step", "mean", "lo", "hi": [...]}}`` as one W&B table under
    ``key`` with columns optimizer, step, mean, lo, hi (one row per optimizer and step); CSV
    loggers ignore it.
    """
    rows: list[list[Any]] = []
    for optimizer, curve in curves.items():
        columns = [curve[c] for c in CURVE_COLUMNS[1:]]
        if len({len(c) for c in columns}) != 1:
            raise ValueError(f"curve {optimizer!r}: step/mean/lo/hi lengths differ")
        for s, mean, lo, hi in zip(*columns, strict=True):
            # a diverged curve's None becomes NaN
            cells = (float("nan") if v is None else float(v) for v in (mean, lo, hi))
            rows.append([str(optimizer), int(s), *cells])
    for logger in _wandb_loggers(loggers):
        logger.log_table(key=key, columns=list(CURVE_COLUMNS), data=rows)


def finish(loggers: list[Logger], exit_code: int = 0) -> None:
    """Write pending CSV rows and close the W&B run so its files are complete on disk.

    Safe to call more than once; ``exit_code != 0`` marks the W&B run as failed.
    """
    for logger in loggers:
        if isinstance(logger, WandbLogger):
            logger.experiment.finish(exit_code=exit_code)  # started by make_loggers
        else:
            logger.save()


def _history(path: Path, before: int | None) -> tuple[list[str], list[dict[str, str]]] | None:
    """The header and the rows logged before step ``before`` of the CSV at ``path`` (None when
    ``before`` is None or there is no such file)."""
    if before is None or not path.is_file():
        return None
    with path.open(newline="") as fh:
        reader = csv.DictReader(fh)
        rows = [row for row in reader if int(row["step"]) < before]
        return list(reader.fieldnames or []), rows


def _write_history(logger: CSVLogger, keys: list[str], rows: list[dict[str, str]]) -> None:
    """Put the kept rows back into the logger's file, under the header later rows extend."""
    writer = logger.experiment
    writer.metrics_keys = list(keys)
    with open(writer.metrics_file_path, "w", newline="") as fh:
        out = csv.DictWriter(fh, fieldnames=writer.metrics_keys)
        out.writeheader()
        out.writerows(rows)


@contextlib.contextmanager
def run(run_dir: Path, name: str, config: dict,
        keep_before: int | None = None) -> Iterator[list[Logger]]:
    """The loggers of one run (:func:`make_loggers`), finished on leaving: the W&B run is
    marked failed when the block raises."""
    loggers = make_loggers(run_dir, name, config, keep_before=keep_before)
    exit_code = 1
    try:
        yield loggers
        exit_code = 0
    finally:
        finish(loggers, exit_code)


def _wandb_loggers(loggers: list[Logger]) -> Iterator[WandbLogger]:
    return (logger for logger in loggers if isinstance(logger, WandbLogger))


Metrics = dict[str, list[tuple[int, float]]]


def read_csv_metrics(run_dir: Path) -> Metrics:
    """Return ``{key: [(step, value), ...]}`` for every numeric metric in
    ``run_dir/csv/metrics.csv``.

    Rows are in file (logging) order; blank cells (keys not logged in that call) are skipped.
    """
    path = Path(run_dir) / CSV_SUBDIR / "metrics.csv"
    out: Metrics = {}
    with path.open(newline="") as fh:
        for row in csv.DictReader(fh):
            step = int(row["step"])
            for key, cell in row.items():
                if key != "step" and cell:
                    with contextlib.suppress(ValueError):
                        value = float(cell)
                        out.setdefault(key, []).append((step, value))
    return out

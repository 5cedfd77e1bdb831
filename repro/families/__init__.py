"""The optimizee families as units: each module here defines one family's ``problem:``
settings (its fields, checks and hooks, :class:`repro.settings.ProblemSettings`) and registers
it under its ``problem.family`` name. Importing this package imports every unit in it."""

from __future__ import annotations

import importlib
import pkgutil

for _unit in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_unit.name}")

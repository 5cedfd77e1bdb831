"""The suite's commands, one module each (fit, tune, evaluate, figure), on shared run helpers
(:mod:`repro.commands.runs`: paths, locking, devices, inputs)."""

"""Optimizee families (the paper's f): problems drawn by (split, index) from a seed and, for
data-driven families, a dataset. A config builds its family through its ``problem:`` settings
(:mod:`repro.families`)."""

from __future__ import annotations

from repro.optimizees.family import Dataset, Family

__all__ = ["Dataset", "Family"]

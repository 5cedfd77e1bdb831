"""``python -m repro.weights CHECKPOINT OUT --dataset NAME``: ship a fit's exported phi."""

from repro.weights import main

main()

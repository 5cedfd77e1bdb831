#!/usr/bin/env bash
# Regenerate every Fashion-MNIST figure's data (paper profile) and time each make target.
#   bash scripts/reproduce_fashion_mnist.sh [WEIGHTS]
# With WEIGHTS (e.g. mnist_fashion_mnist) the LSTM is the shipped phi repro/weights/WEIGHTS.pt;
# without it, make meta-trains from scratch. Old data is removed first so that every file is
# made anew; the times go to paper_figures/fashion_mnist/data/make_times.json.
set -euo pipefail
cd "$(dirname "$0")/.."
weights="${1:-}"
data=paper_figures/fashion_mnist/data
rm -f paper_figures/data/{figure3,figure4a,tuned_lr_quadratic}.json \
  "$data"/{figure4a,figure4b,figure4c,figure5a,figure5b,figure5c,figure6}.json \
  "$data"/tuned_lr_mnist{,_40units,_2layers,_relu}.json
declare -A seconds
for target in figure3 figure4 figure5 figure6; do
  start=$(date +%s.%N)
  if [ "$target" = figure3 ]; then
    make figure3
  else
    make "$target" DATASET=fashion_mnist ${weights:+WEIGHTS=$weights}
  fi
  seconds[$target]=$(python3 -c "import time; print(round(time.time() - $start, 1))")
done
python3 - "$data/make_times.json" "$weights" "$(git rev-parse --short HEAD)" \
  "${seconds[figure3]}" "${seconds[figure4]}" "${seconds[figure5]}" "${seconds[figure6]}" <<'PY'
import json, sys
out, weights, commit, *times = sys.argv[1:]
names = ["figure3", "figure4", "figure5", "figure6"]
json.dump({"weights": weights or None, "commit": commit, "nproc": __import__("os").cpu_count(),
           "seconds": dict(zip(names, map(float, times))),
           "note": "figure3 meta-trains the quadratic optimizer; figure4 also makes figure4a; "
                   "with weights the MNIST LSTM is not meta-trained (see the seed record)"},
          open(out, "w"), indent=1)
PY
cat "$data/make_times.json"

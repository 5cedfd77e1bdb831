"""``python -m bench [--quick] [--device cpu|cuda] [--threads N]``."""

import sys

from bench.run import main

sys.exit(main())

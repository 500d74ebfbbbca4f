"""``python -m shared.dataset load PATH`` / ``info``: the data set's loader (shared.dataset.columns)."""

import sys

from shared.dataset.columns import main

sys.exit(main())

"""``python -m shared.dataset load [PATH]`` / ``info`` (shared.dataset.columns), ``kaggle`` (.kaggle)."""

import sys

if sys.argv[1:2] == ["kaggle"]:
    from shared.dataset.kaggle import main

    sys.exit(main(sys.argv[2:]))

from shared.dataset.columns import main

sys.exit(main())

"""``python -m gridy_async``: the same as the ``gridy-async`` command."""

import sys

from ._cli import main

sys.exit(main())

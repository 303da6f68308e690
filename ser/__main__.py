"""``python -m ser`` = the ``ser`` command."""

import sys

from .cli import main

sys.exit(main())

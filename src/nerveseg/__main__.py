"""``python -m nerveseg``: the same as the ``nerveseg`` command.

Also what a multi-process run re-executes: Lightning starts the other DDP processes by running
the command line again (``python -m nerveseg.__main__ train ...``).
"""

import sys

from nerveseg.cli import main

sys.exit(main())

"""``python -m objrec.cli``: the ``objrec`` command, as ``python -m objrec`` runs it."""

import sys

from objrec.cli import main

sys.exit(main())

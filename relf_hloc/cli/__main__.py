"""``python -m relf_hloc.cli``: the ``relf-hloc`` command."""

import sys

from . import main

sys.exit(main())

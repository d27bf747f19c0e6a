"""``python -m softhsm_py.cli``: the ``softhsm-py`` command."""

import sys

from softhsm_py.cli.main import main

sys.exit(main())

"""``python -m vedder …``: the same CLI as the ``vedder`` command."""

import sys

from vedder.cli import main

sys.exit(main(prog_name="vedder"))

"""``python -m loadtest.scaleout``: the scale-out rehearsal (``make scaleout-rehearsal``)."""

import sys

from loadtest.scaleout.rehearsal import main

sys.exit(main())

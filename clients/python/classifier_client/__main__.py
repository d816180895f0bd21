"""``python -m classifier_client``: the command line of ``classifier_client.cli``."""

import sys

from classifier_client.cli import main

sys.exit(main())

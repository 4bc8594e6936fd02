"""``python -m collab_sdk.cli``: the ``collab`` command."""

import sys

from collab_sdk.cli.main import main

sys.exit(main())

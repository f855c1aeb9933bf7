"""``python -m appserver``: the same command as the ``appserver`` script."""

import sys

from appserver.cli import main

if __name__ == "__main__":
    sys.exit(main())

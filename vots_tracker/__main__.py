"""``python -m vots_tracker`` (what trackers.ini's traxpython protocol runs)."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())

"""``vots-tracker`` with the test-only refinement fault hook installed (see refine_fault_hook.py).

Usage: python faulty_refiner_server.py serve ARGS...; the faults come from $VOTS_TEST_REFINE_FAULTS.
Used as a trackers.ini command and by the hostile-client suite; never part of the package.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from refine_fault_hook import install  # noqa: E402

from vots_tracker.cli import main  # noqa: E402

if __name__ == "__main__":
    install(os.environ.get("VOTS_TEST_REFINE_FAULTS", ""))
    sys.exit(main(sys.argv[1:]))

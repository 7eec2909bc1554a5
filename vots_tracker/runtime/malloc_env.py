"""glibc malloc settings for the tracker process (CPU runs): one source for the value.

glibc returns every freed block above its mmap threshold to the kernel, so each HQ-SAM
image embedding faults its large activation buffers in again (benchmarks/malloc_tunables.py).
Raising the mmap and trim thresholds keeps those buffers in the heap between frames, at the
price of a higher resident set. glibc reads GLIBC_TUNABLES only when a process starts.
"""

import os
import platform
import sys
from typing import Sequence

MALLOC_TUNABLES = "glibc.malloc.mmap_threshold=1073741824:glibc.malloc.trim_threshold=4294967296"

ENV_NAME = "GLIBC_TUNABLES"


def restart_with_tunables(args: Sequence[str]) -> None:
    """Re-execute ``python -m vots_tracker ARGS`` with GLIBC_TUNABLES set, unless it is set already.

    For commands started from a shell (``vots-tracker track``): glibc reads the variable only
    at process start, so setting it from Python needs a fresh process image. A value the user
    set (even an empty one) is respected; non-glibc systems are left alone.
    """
    if ENV_NAME in os.environ or platform.libc_ver()[0] != "glibc":
        return
    env = {**os.environ, ENV_NAME: MALLOC_TUNABLES}
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(sys.executable, [sys.executable, "-m", "vots_tracker", *args], env)

"""Repository-root data files (``trackers.ini``, ``workspace_template/``): the checkout's, else the installed copy."""

from __future__ import annotations

import sys
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent.parent  # vots_tracker/ (this file is in vots_tracker/workspace/)
#: Directory that must be on PYTHONPATH for ``python -m vots_tracker`` (the repository root in a checkout).
PACKAGE_ROOT = PACKAGE_DIR.parent
#: A non-editable install (pip install .) puts the repository-root files under <prefix>/share.
INSTALLED_DATA = Path(sys.prefix) / "share" / "vots-tracker"


def _data_path(name: str) -> Path:
    """A repository-root file or folder: from the checkout if there is one, else the installed copy."""
    in_checkout = PACKAGE_ROOT / name
    installed = INSTALLED_DATA / name
    return in_checkout if in_checkout.exists() or not installed.exists() else installed


TEMPLATE_DIR = _data_path("workspace_template")
ROOT_TRACKERS_INI = _data_path("trackers.ini")

"""What an official checkpoint file is: its name, who publishes it where, and its size and hash.

The model tables (``dmaot.specs``, ``refine.sam_specs``) describe their official files with
:class:`CheckpointEntry`; the weights registry collects them. This module imports nothing
from the package, so every table can use it without import cycles or torch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Tuple


@dataclass(frozen=True)
class CheckpointEntry:
    filename: str
    kind: str  # the model family: 'dmaot' | 'hqsam' | 'sam' | 'sam2'
    model: str  # architecture name understood by the family's random-weights writer
    urls: Tuple[str, ...]
    size: Optional[int] = None
    sha256: Optional[str] = None
    description: str = ""
    gdrive_id: Optional[str] = None
    writer: str = ""  # "module:function" writing RANDOM weights of `model` in this file's format
    # No published hash: the first download's sha256 is recorded next to the file, a later mismatch refused.
    pin_sha256: bool = False

    @property
    def url(self) -> str:
        return self.urls[0]

    @property
    def page(self) -> str:
        """A URL a human can open in a browser to get the file."""
        if self.gdrive_id:
            return f"https://drive.google.com/file/d/{self.gdrive_id}/view"
        return self.urls[0]


def gdrive_urls(file_id: str) -> Tuple[str, ...]:
    """Direct-download URLs of a public Google Drive file (the second skips the virus-scan page)."""
    return (
        f"https://drive.google.com/uc?export=download&id={file_id}",
        f"https://drive.usercontent.google.com/download?id={file_id}&export=download&confirm=t",
    )

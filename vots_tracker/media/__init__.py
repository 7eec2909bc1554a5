"""Pixels and files: frames, masks, the palette, overlay videos, and staged (all-or-nothing) writes.

- ``frame_source``: frames from a folder or a video, decoded as the original runner did.
- ``mask_files``: label PNGs and per-object masks, fitted to their frames.
- ``palette``: the project's object colours; ``overlay``: masks drawn over frames, MP4 output.
- ``staging``: temp-then-rename files and folders, the only way this project writes results.

May import ``runtime`` and ``errors`` only: every other room builds on it.
"""

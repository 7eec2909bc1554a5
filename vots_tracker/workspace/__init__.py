"""VOT toolkit workspaces on disk: creating them, their trackers.ini, synthetic and converted sequences.

- ``folder``: ``vots-tracker workspace init`` (template, stack, trackers.ini, random weights).
- ``trackers_ini``: the repository's entries, rendered with absolute paths for a workspace.
- ``synthetic_sequences``: small offline multi-object sequences for smoke runs and tests.
- ``convert``: ``vots-tracker convert`` (DAVIS / YouTube-VOS style folders to VOT sequences).
- ``data_files``: where the repository-root files live (checkout or installed copy).

May import ``media``, ``runtime``, ``weights`` and ``errors``; never ``server`` or ``evaluation``.
"""

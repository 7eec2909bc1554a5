"""Running the VOT toolkit and checking what it wrote: the ``smoke``, ``evaluate`` and ``sweep`` jobs.

- ``toolkit``: ``vot`` subprocesses with logs, the ASCII route, workspace loading.
- ``outputs``: completeness of results, Q from ``vot analysis``, ``vot pack`` archives.
- ``entries``: trackers.ini entries as tracker configurations.
- ``smoke``, ``evaluate``, ``commands``: the offline cycle, the main job, their subcommands.
- ``distributed``: generic Ray tasks (retries, progress, node checks); ``tasks``: one
  toolkit-run sequence per task, staged and resumable.
- ``sweep``: the one-pass gate sweep.

May import every other room; nothing outside ``cli`` imports it.
"""

"""``vots-tracker sweep``: tune the IoU gate (tau, proposal set) with one tracking pass per sequence.

- ``settings``: tau SPEC parsing, gate settings, derived trackers.ini entries.
- ``shared_pass``: the sweep session (propose once, decide per setting) behind toolkit runtimes.
- ``runner``: per-sequence tasks, written through the toolkit's own experiment code; run in process.
- ``parallel``: the same tasks on Ray (``vots_tracker.evaluation.distributed``).
- ``report``: ``vot analysis``, the table and the Q-vs-tau plot.
- ``cli``: the subcommand.
"""

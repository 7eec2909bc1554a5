"""``vots-tracker show``: pictures of a workspace's results, for people tuning the gate.

- ``sources``: the workspace, its sequences and the masks the toolkit stored (read with the
  toolkit's own code), and the trackers' gate-decision files.
- ``render``: overlays, two trackers side by side with their disagreement marked, contact sheets.
- ``gate_plots``: the gate over time per sequence; acceptance rate per sequence per tracker.
- ``command``: the subcommand.

May import ``evaluation`` (loading workspaces), ``server`` (the decision-file format), ``media``
and the base modules; only ``cli`` imports it.
"""

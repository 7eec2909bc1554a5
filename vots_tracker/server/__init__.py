"""The tracker process: one :class:`~.session.TrackingSession` per sequence, driven by TraX or by files.

- ``protocol``: the TraX loop (``vots-tracker serve``, what trackers.ini starts); it knows
  requests and regions, never models.
- ``session``: the per-sequence pipeline (DMAOT propagation, refinement behind the gate,
  objects that arrive late); the models it holds stay stateless.
- ``watchdog``: exits a server whose client is gone while libtrax waits.
- ``track``: ``vots-tracker track``, the same session over a frame folder or a video.

May import: the models (``dmaot``, ``refine``), ``weights``, ``media``, ``runtime`` and the
top-level ``config``/``components``/``errors``. Never ``evaluation`` or ``workspace``: the
server runs inside the toolkit and must not pull in the machinery that runs the toolkit.
"""

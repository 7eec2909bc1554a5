"""vots_tracker: a DMAOT + HQ-SAM gated tracker for the VOTS challenge, native to the VOT toolkit."""

__version__ = "0.1.0"

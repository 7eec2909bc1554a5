"""Errors that carry a message meant for the user (printed as one line, no traceback)."""


class UserError(Exception):
    """Bad input or environment: the message names the problem and, where possible, the fix."""

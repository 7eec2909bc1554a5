"""Errors that carry a message meant for the user (printed as one line, no traceback)."""


class UserError(Exception):
    """Bad input or environment: the message names the problem and, where possible, the fix."""


def first_line(error: BaseException) -> str:
    """The first non-empty line of an exception's message (torch's load errors span many lines)."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return lines[0] if lines else type(error).__name__

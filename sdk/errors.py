"""User-facing errors: the CLI prints them as one line and exits non-zero, never a traceback."""


class EdgefmrError(Exception):
    """An error caused by the user's input (a file, a key, a value); its message says what is valid."""


class IRError(EdgefmrError):
    """An invalid IR graph or file."""

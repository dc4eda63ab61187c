"""The one exception type the CLI turns into a clear sentence and a non-zero exit."""


class ObjrecError(Exception):
    """A user-facing error: bad input, a missing file, a mismatch. The message is one sentence."""

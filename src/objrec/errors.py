"""The one exception type the CLI turns into a clear sentence and a non-zero exit."""


class ObjrecError(Exception):
    """A user-facing error: bad input, a missing file, a mismatch. The message is one sentence."""


class Interrupted(ObjrecError):
    """Ctrl-C during a long job, after its work so far was saved; the message says how to go on."""

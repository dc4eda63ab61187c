"""The one exception type the CLI turns into a clear sentence and a non-zero exit."""

from typing import Any


class ObjrecError(Exception):
    """A user-facing error: bad input, a missing file, a mismatch. The message is one sentence.

    It names parameters as the Python API spells them, in backticks (`force=True`, `epochs`); the
    CLI shows the same sentence with its own spelling of each (--force, --epochs, RUN), so a Python
    caller never reads a flag and a person at the shell never reads a keyword argument.

    ``values`` gives the value an option would take at the shell where the API names a switch:
    `resume=True` with ``values={"resume": "runs/a"}`` reads ``--resume runs/a`` in the CLI.
    """

    def __init__(self, message: str = "", values: dict[str, str] | None = None):
        super().__init__(message)
        self.values = dict(values or {})


LOGGED_VALUES = "objrec_values"
"""The attribute of a logged record (``extra={LOGGED_VALUES: values}``) holding its ``values``, as
an ObjrecError's: the CLI spells `resume=True` in a warning with them too. ``launched``
(``alone`` or ``torchrun``, with ``WORLD_SIZE`` and ``LOCAL_WORLD_SIZE``) says how a command the
sentence gives is launched, when not as this one was."""


def strict_refusal(folder: object, problems: list[str]) -> ObjrecError:
    """The one wording of ``strict=True``'s error (``split`` and ``train``): the folder refused and
    its problems, each naming its first files and counting the rest."""
    return ObjrecError(f"`strict=True` refuses {folder}: " + "; ".join(problems))


class Interrupted(ObjrecError):
    """Ctrl-C during a long job, after its work so far was saved; the message says how to go on.

    ``summary``: a train stopped in the head's epochs, the run's summary.json as it was written
    then (``finished`` False), which ``train --json`` prints; None when none was written."""

    def __init__(
        self,
        message: str = "",
        values: dict[str, str] | None = None,
        summary: dict[str, Any] | None = None,
    ):
        super().__init__(message, values)
        self.summary = summary

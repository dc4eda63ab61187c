"""Output paths: objrec writes only where it was asked to and never overwrites without --force.

:func:`refuse_overwrite` is the one rule every command applies before writing: an existing file, or
a folder with anything in it, is written over only when the user passed ``--force``.
"""

from __future__ import annotations

from pathlib import Path

from objrec.errors import ObjrecError

HINT = "choose another `out` or pass `force=True`"


def refuse_overwrite(path: Path, force: bool = False, hint: str = HINT) -> None:
    """Raise unless ``path`` is absent, an empty folder, or ``force`` is given.

    Args:
        path: the file or folder about to be written.
        force: the user's ``--force``: write over it anyway.
        hint: what the user can do instead, ending the error sentence.
    """
    path = Path(path)
    if force or not path.exists():
        return
    if path.is_dir():
        if any(path.iterdir()):
            raise ObjrecError(f"{path} is not empty: {hint}")
        return
    raise ObjrecError(f"{path} exists: {hint}")


def prepare_output_dir(path: Path, force: bool = False, hint: str = HINT) -> Path:
    """Create the folder ``path``; refuse when it exists with anything in it, unless ``force``.

    With ``force`` the files objrec writes replace those of the same name; nothing else is removed.
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise ObjrecError(f"{path} exists and is not a folder")
    refuse_overwrite(path, force, hint)
    path.mkdir(parents=True, exist_ok=True)
    return path

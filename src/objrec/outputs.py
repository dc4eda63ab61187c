"""Output folders: objrec writes only where it was asked to and never overwrites without --force."""

from __future__ import annotations

from pathlib import Path

from objrec.errors import ObjrecError


def prepare_output_dir(path: Path, force: bool = False) -> Path:
    """Create ``path``; refuse when it exists with anything in it, unless ``force``.

    With ``force`` the files objrec writes replace those of the same name; nothing else is removed.
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise ObjrecError(f"{path} exists and is not a folder")
    if path.is_dir() and any(path.iterdir()) and not force:
        raise ObjrecError(f"{path} is not empty: choose another --out or pass --force")
    path.mkdir(parents=True, exist_ok=True)
    return path

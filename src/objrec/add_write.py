"""Writing an add's plan: each file under a hidden temporary name, then linked to its name,
never over a file; the manifest gets the rows of the files written, even when a later one fails
or Ctrl-C stops it, and :data:`objrec.add_pending.PENDING` covers a kill."""

from __future__ import annotations

import functools
import shutil
from pathlib import Path

from objrec.add_new import NewImage
from objrec.add_pending import PENDING, write_pending
from objrec.errors import ctrl_c_leaves
from objrec.manifest import MANIFEST, MANIFEST_COLUMNS, MANIFEST_GROUP, append_manifest
from objrec.outputs import link_file, remove_leftovers, write_new
from objrec.progress import plural


def write_added(data: Path, rows, mode: str, on_write=None) -> list[tuple[str, str]]:
    """Each file under a hidden temporary name, then linked to its target, never replacing a file
    (one there the plan did not see gets the next free name); the manifest gets the rows of the
    files written, even when a later one fails (or Ctrl-C): files and manifest always match.
    A killed add's temporary files in the class folders written go first, each folder looked
    through once (``write_new`` does not: a class folder of thousands, once per image).
    Returns each written file's name as shown and its path in ``data``."""
    for folder in sorted({(data / target).parent for _, target, *_ in rows}):
        remove_leftovers(folder)
    manifest = data / MANIFEST if (data / MANIFEST).is_file() else None
    if manifest:
        write_pending(data / PENDING, [manifest_row(*row) for row in rows])
    written: list[tuple[NewImage, Path, str, str, str]] = []
    try:
        with ctrl_c_leaves(lambda: added_so_far(data, len(written), len(rows))):
            for image, target, split, digest, group in rows:
                final = write_new(data / target, functools.partial(_put, image.path, mode, data))
                written.append((image, final.relative_to(data), split, digest, group))
                if on_write:
                    on_write(len(written), len(rows))
    finally:
        if written and manifest:
            append_manifest(manifest, [manifest_row(*row) for row in written])
        (data / PENDING).unlink(missing_ok=True)
    return [(image.shown, target.as_posix()) for image, target, *_ in written]


def added_so_far(data: Path, done: int, total: int) -> str:
    """What an add stopped while writing left: its images written so far are in ``data``, each
    whole and in the manifest (:func:`write_added`); the same add again adds the others, as it skips
    an image ``data`` holds already."""
    return (
        f"{done:,} of {plural(total, 'image')} added to {data}, each whole and in its manifest, "
        "the others not: the same add again adds them (it skips those added)"
    )


def manifest_row(
    image: NewImage, target: Path, split: str, digest: str, group: str
) -> dict[str, str]:
    values = (target.as_posix(), image.name, split, digest, str(image.path), group)
    return dict(zip((*MANIFEST_COLUMNS, MANIFEST_GROUP), values, strict=True))


def _put(source: Path, mode: str, data: Path, tmp: Path) -> None:
    if mode == "copy":
        shutil.copy2(source, tmp)
    else:
        link_file(source, tmp, data)

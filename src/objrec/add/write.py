"""Writing an add's plan: each file under a hidden temporary name, then linked to its name,
never over a file; the manifest gets the rows of the files written and ``split.json`` the add,
even when a later file fails or Ctrl-C stops it, and :data:`objrec.add.pending.PENDING` covers a
kill. :class:`AddProgress` keeps what was written, for the sentence a Ctrl-C says."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from objrec.add.new import NewImage
from objrec.add.pending import remove_pending, write_pending
from objrec.add.plan import Plan
from objrec.file_index import Copied, copy_and_record, copy_as_read
from objrec.leftovers import remove_leftovers
from objrec.manifest import (
    MANIFEST,
    MANIFEST_COLUMNS,
    MANIFEST_GROUP,
    SPLIT_RECORD,
    append_manifest,
)
from objrec.outputs import link_file, sync_written, write_new
from objrec.split.record import record_added
from objrec.store import index_written
from objrec.words import plural


@dataclass
class AddProgress:
    """What an add has written in its data folder so far: what its Ctrl-C says (:meth:`left`),
    at whichever step it comes."""

    data: Path
    """The data folder, as the caller named it."""
    repaired: int = 0
    """The files of an earlier, killed add that this one listed first
    (:func:`objrec.add.pending.finish_killed_add`)."""
    total: int = 0
    """The files it is to write."""
    written: int = 0
    """Those written, each whole."""
    listed: bool = False
    """Whether the manifest has the rows of those written (or the folder has no manifest)."""
    recorded: bool = False
    """Whether ``split.json`` lists the add (or the folder has none)."""

    def left(self) -> str:
        """What the add left, one sentence: what was written and what to run."""
        if not self.written:
            return self._nothing_written()
        data, more = self.data, "the same add again adds the others"
        added = f"{self.written:,} of " if self.left_out else ""
        added += f"{plural(self.total, 'image')} added to {data}"
        if not self.listed:
            return (
                f"{added}, each whole, not yet in its manifest or split.json: the next add into "
                f"{data} lists them" + (f" (and {more})" if self.left_out else "")
            )
        if not self.recorded:
            return (
                f"{added}, each whole and in its manifest; its split.json does not list this add "
                f"yet: the next add into {data} does" + (f", and {more}" if self.left_out else "")
            )
        if self.left_out:
            return (
                f"{added}, each whole and in its manifest, the others not: the same add again "
                "adds them (it skips those added)"
            )
        return (
            f"every image was added to {data} ({plural(self.total, 'image')}, each whole"
            f"{self._records()}): nothing is left to do"
        )

    def listed_killed(self, files: int) -> None:
        """An earlier, killed add's ``files`` are in the manifest now (``repaired``)."""
        self.repaired = files

    @property
    def left_out(self) -> bool:
        """Whether it wrote fewer files than it was to (stopped, or failed)."""
        return self.written < self.total

    def _nothing_written(self) -> str:
        if not self.repaired:
            return f"nothing was written to {self.data}: run it again"
        images, are = plural(self.repaired, "image"), "is" if self.repaired == 1 else "are"
        return (
            f"nothing of it was written to {self.data} (the {images} an earlier add wrote there "
            f"before it was killed {are} in its manifest now): run it again"
        )

    def _records(self) -> str:
        """The records of the data folder that list the add (its manifest, its split.json), as
        words after "each whole"."""
        held = [name for name in (MANIFEST, SPLIT_RECORD) if (self.data / name).is_file()]
        words = " and ".join("manifest" if name == MANIFEST else name for name in held)
        return f" and in its {words}" if held else ""


def write_added(
    data: Path,
    plan: Plan,
    mode: str,
    entry: dict[str, Any],
    progress: AddProgress,
    on_write=None,
    index: Path | None = None,
) -> list[tuple[str, str]]:
    """Each file under a hidden temporary name, then linked to its target, never replacing a file
    (one there the plan did not see gets the next free name); the manifest gets the rows of the
    files written and ``split.json`` the add's ``entry`` (with how many, and whether it was
    stopped), even when a later file fails (or Ctrl-C): files and records always match. A killed
    add's temporary files in the class folders written go first, each folder looked through once
    (``write_new`` does not: a class folder of thousands, once per image). ``progress`` follows.
    ``index``: the feature store folder whose file index hashed the new images, told each file
    written (``store.keep_copies``), so that ``train`` reads none of them for its digest.
    Returns each written file's name as shown and its path in ``data``."""
    rows = plan.rows
    for folder in sorted({(data / target).parent for _, target, *_ in rows}):
        remove_leftovers(folder)
    write_pending(data, [manifest_row(*row) for row in rows], entry)
    written: list[tuple[NewImage, Path, str, str, str]] = []
    copies: list[Copied] = []
    progress.total = len(rows)
    try:
        for image, target, split, digest, group in rows:
            put = functools.partial(
                write_new, data / target, functools.partial(_put, image.path, mode, data, digest)
            )
            final, made = copy_and_record(image.path, put)
            copies += [made] if made else []
            written.append((image, final.relative_to(data), split, digest, group))
            progress.written = len(written)
            if on_write:
                on_write(len(written), len(rows))
    finally:
        sync_written([data / target for _, target, *_ in written], data)  # before they are listed
        _list_written(data, [manifest_row(*row) for row in written], entry, progress)
    if index is not None:
        index_written(index, copies)
    return [(image.shown, target.as_posix()) for image, target, *_ in written]


def _list_written(
    data: Path, rows: list[dict[str, str]], entry: dict[str, Any], progress: AddProgress
) -> None:
    """The manifest ``rows`` of the files written, the add in ``split.json`` (when it wrote any),
    then the note of them gone; ``progress`` told each."""
    if rows and (data / MANIFEST).is_file():
        append_manifest(data / MANIFEST, rows)
    progress.listed = True
    if rows:
        record_added(data, entry | {"files": len(rows), "stopped": progress.left_out})
    progress.recorded = True
    remove_pending(data)


def manifest_row(
    image: NewImage, target: Path, split: str, digest: str, group: str
) -> dict[str, str]:
    values = (target.as_posix(), image.name, split, digest, str(image.path), group)
    return dict(zip((*MANIFEST_COLUMNS, MANIFEST_GROUP), values, strict=True))


def _put(source: Path, mode: str, data: Path, sha256: str, tmp: Path) -> None:
    """``source`` copied to ``tmp`` (``mode`` copy), refused where its bytes are no longer those
    read as ``sha256`` and placed (:func:`copy_as_read`: ``write_new`` removes ``tmp``, the add
    stops before listing it), or linked there from ``data``'s split."""
    if mode == "copy":
        copy_as_read(source, tmp, sha256, "`add_images`")
    else:
        link_file(source, tmp, data)

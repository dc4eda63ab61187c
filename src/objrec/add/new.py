"""What ``add`` is given, checked before anything is written: the split folder (not a run
folder, not swapped with the new images), the new images of a folder of class folders or of one
named class (each file once, from outside the data folder), and their classes, spelt as the data
folder spells them, none named like another but for case or a space at either end."""

from __future__ import annotations

import dataclasses
import logging
import os
import shlex
from dataclasses import dataclass
from pathlib import Path

from objrec.data import (
    alike_why,
    class_dirs,
    class_key,
    class_spelling,
    is_split_folder,
    look_alikes,
    no_class_folders,
    present_splits,
    refuse_run_folder,
    require_split_folder,
)
from objrec.errors import ObjrecError, UsageRefused
from objrec.listing import SYSTEM_FOLDERS, is_image_file, list_images
from objrec.words import some_of

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class NewImage:
    """An image to add: its file, its class, its path inside its class folder (kept in the data
    folder, sub-folders too) and its name as the user knows it (relative to NEW)."""

    path: Path
    name: str
    rel: Path
    shown: str


def empty_class_folders(
    given: list[Path], images: list[NewImage], class_name: str | None
) -> list[str]:
    """The class folders of ``given``'s one folder of classes that hold no image (none when the
    images are all of ``class_name``)."""
    if class_name is not None or not given:
        return []
    held = {Path(image.shown).parts[0] for image in images}  # their class folders' names
    return sorted({d.name for d in class_dirs(given[0])} - held)


def checked_split_folder(data: Path, given: list[Path]) -> Path:
    """``data`` resolved, once it is known to be a split folder and not a run folder (nor the
    new images, given after a split folder: the two swapped)."""
    if not data.exists():
        raise ObjrecError(f"the data folder {data} does not exist")
    if data.is_dir():
        refuse_run_folder(data)
    swapped = next((p for p in given if is_split_folder(p)), None)
    if swapped is not None and not is_split_folder(data):
        raise UsageRefused(
            f"{data} is not a split folder, but {swapped} is: the split folder comes first, "
            f"then the new images (`add_images({str(swapped)!r}, {str(data)!r})`)"
        )
    require_split_folder(data)
    return data.resolve()


def new_images(paths: list[Path], class_name: str | None, data: Path) -> list[NewImage]:
    """The images of ``paths`` and their classes, each file once; refused when there are none."""
    if not paths:
        raise ObjrecError(
            "no new images given: name a folder of class folders, or images, or give `labels`, "
            "a table of photos and their classes"
        )
    for path in paths:
        if not path.exists():
            raise ObjrecError(f"{path} does not exist")
        refuse_overlap(path, data)
    if class_name is None:
        if len(paths) > 1 or not paths[0].is_dir():
            raise UsageRefused(
                f"{paths[0]} is not one folder of class folders: give one, or name the class of "
                "these images with `class_name`"
            )
        images = _of_class_folders(paths[0])
    else:
        check_class_name(class_name)
        images = [image for path in paths for image in _of_one_class(path, class_name)]
    if not images:
        raise ObjrecError(f"{some_of([str(p) for p in paths])} holds no images")
    return list({image.path: image for image in images}.values())


def refuse_overlap(path: Path, data: Path) -> None:
    real, data_real = path.resolve(), data.resolve()
    if real == data_real or real.is_relative_to(data_real):
        raise UsageRefused(
            f"{path} lies inside the data folder {data}: the new images must come from outside it"
        )
    if data_real.is_relative_to(real):
        raise UsageRefused(f"the data folder {data} lies inside {path}: give the new images only")


def refuse_look_alike_classes(new: set[str], data: Path, given: str | None = None) -> None:
    """Refuse a new class whose name differs from another's (of the data folder, or new) only in
    case: one folder on macOS and Windows, so its files would land in the other class's folder
    while the manifest names it apart (names that differ only in how their accents are encoded
    are one class already: :func:`as_data_classes`, as are a new class and the data folder's
    alike but for a space at either end); or two new classes only in a space at either end (a
    Mac's ``Stop signs `` folder beside ``Stop signs``): two classes that read the same.
    ``given``: the parameter that named the new class (``class_name``), named in the refusal,
    a usage error."""
    known = split_classes(data)
    alike = list(look_alikes(sorted(new), known))
    error = ObjrecError if given is None else UsageRefused
    for other, name, _ in (pair for pair in alike if pair[2] == "case"):  # said first
        raise error(
            f"{given or 'the new class'} {name!r} and {_whose(other, known)} {other!r} differ "
            "only in case, "
            f"{alike_why('case')}: give both the same name ({other!r}), or two names"
        )
    for *pair, how in alike:
        spaced, plain = sorted(pair, key=lambda n: n == n.strip())  # the one with a space first
        # the data folder's class, as add takes it (its spaces aside); else the new one's words
        name = next((n for n in (spaced, plain) if n in known), spaced).strip()
        raise ObjrecError(
            f"{_whose(spaced, known)} {spaced!r} and {_whose(plain, known)} {plain!r} differ "
            f"only in {how}, {alike_why(how)}: give both one name ({name!r})"
        )


def split_classes(data: Path) -> list[str]:
    """The classes of the split folder ``data``: its class folders' names, in any split."""
    return sorted({f.name for split in present_splits(data) for f in class_dirs(data / split)})


def _whose(name: str, known: list[str]) -> str:
    return "the data folder's class" if name in known else "the new class"


def refuse_class_folders(paths: list[Path], data: Path, class_name: str) -> None:
    """Refuse a folder given with ``class_name`` whose sub-folders are named like the data
    folder's classes: a folder of class folders, whose images would all get that one class; warn
    of other sub-folders (their images get it too: a folder of dated albums, or of new classes)."""
    known = {class_key(name) for name in split_classes(data)}
    for path in (p for p in paths if p.is_dir()):
        alike = sorted(d.name for d in path.iterdir() if d.is_dir() and class_key(d.name) in known)
        if alike:
            raise ObjrecError(
                f"{path} holds folders named like the data folder's classes ({', '.join(alike)}): "
                "drop `class_name` to add class folders, each to its own class"
            )
        inside = sorted(d.name for d in path.iterdir() if d.is_dir() and d.name[0] != ".")
        if inside:
            log.warning(
                "%s holds sub-folders (%s): their images are added as class %s too",
                path,
                some_of(inside),
                class_name,
            )


def check_class_name(name: str, given: str = "`class_name`") -> None:
    """Refuse a class name that cannot be a visible folder's name on every system objrec runs on:
    one with a space at either end too (a pasted ``"mugs "``), which would make a second class
    that reads as the first in every table, and which Windows drops from a folder's name. ``given``:
    what gave it, as the refusal names it (a labels table's row)."""
    if name.strip() and name != name.strip():
        raise ObjrecError(
            f"{given} {name!r} begins or ends with a space, which makes it another class "
            f"than {name.strip()!r} that reads the same: give {shlex.quote(name.strip())}"
        )
    bad = (
        not name.strip()
        or name.startswith(".")
        or name in SYSTEM_FOLDERS
        or any(c in name for c in "/\\")
        or not name.isprintable()
        or len(os.fsencode(name)) > 255
    )
    if bad:
        raise ObjrecError(
            f"{name!r} is not a valid folder name for {given}: give a name without slashes "
            "or control characters that does not start with a dot"
        )


def as_data_classes(images: list[NewImage], data: Path) -> list[NewImage]:
    """``images``, each of the data folder's class whose name is its class's but for how the
    accents are encoded (a Mac's NFD ``Café`` folder of new photos, a data folder's NFC one: one
    name to a person) or for spaces at either end (``--class mugs`` for the data folder's
    ``mugs ``, split from a Mac's folder, a name ``--class`` refuses), as that folder is spelt,
    its exact name first; of a new class, in NFC."""
    as_spelt = class_spelling(split_classes(data))
    return [dataclasses.replace(image, name=as_spelt(image.name)) for image in images]


def _of_class_folders(given: Path) -> list[NewImage]:
    dirs = class_dirs(given)
    if not dirs and any(is_image_file(p) for p in given.iterdir()):
        name = given.resolve().name  # quoted as the shell takes it: "my camera" is one value
        raise UsageRefused(  # an option missing: a usage error
            f"{given} holds images but no class folders: name their class with `class_name` "
            f"(`class_name` {shlex.quote(name)}, if {name} is their class)"
        )
    if not dirs:
        raise no_class_folders(given)
    folder = given.resolve()
    dirs = [folder / d.name for d in dirs]
    return [
        NewImage(p, d.name, p.relative_to(d), p.relative_to(folder).as_posix())
        for d in dirs
        for p in list_images(d)
    ]


def _of_one_class(path: Path, name: str) -> list[NewImage]:
    if path.is_dir():
        folder = path.resolve()
        found = list_images(folder)
        return [
            NewImage(p, name, p.relative_to(folder), p.relative_to(folder).as_posix())
            for p in found
        ]
    if not is_image_file(path):
        raise ObjrecError(f"{path} is not an image file")
    return [NewImage(Path(os.path.abspath(path)), name, Path(path.name), str(path))]

"""Listing image folders, in path order, and the files left out of them.

Files are recognised by extension (see ``IMAGE_EXTENSIONS``); a file with no extension at all is
accepted when its first bytes are those of a known image format (Caltech-101 ships one such JPEG).
Hidden files and folders (``.git``, ``.ipynb_checkpoints``), the folders archivers and file
servers put beside photos (``__MACOSX``, ``@eaDir``: see ``SYSTEM_FOLDERS``) and the files Windows
puts there (``Thumbs.db``, ``desktop.ini``: ``SYSTEM_FILES``, ``ZONE_MARK``) are never listed.
"""

from __future__ import annotations

import errno
import glob
import logging
import os
import re
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path, PurePath
from typing import Any

from objrec.heif import heif_format
from objrec.images import IMAGE_ERRORS, IMAGE_EXTENSIONS
from objrec.warned import warn_once
from objrec.words import plural, some_of

log = logging.getLogger(__name__)


RAW_EXTENSIONS = frozenset(
    {".cr2", ".cr3", ".crw", ".nef", ".nrw", ".arw", ".srf", ".sr2", ".dng", ".raf", ".orf"}
    | {".rw2", ".rwl", ".pef", ".srw", ".x3f", ".3fr", ".fff", ".iiq", ".mos", ".mrw", ".kdc"}
    | {".dcr", ".erf", ".raw"}
)
"""Camera RAW files, which objrec does not read (Pillow decodes none of them, DNG among them: it
registers no ``.dng``), named apart from other files so that a RAW photo with no JPEG beside it
is not lost among its ignored files (``check``)."""
SIDECAR_EXTENSIONS = frozenset({".xmp", ".thm", ".aae"})
"""Files cameras and photo editors write beside a photo (edit settings, thumbnails): counted by
``check``, never read."""
WEB_ADDRESS = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]+):/+(.+)")
"""A web address (``https://example.com/cat.jpg``), as a ``Path`` leaves it (``https:/...``)."""


def missing_path(path: str | os.PathLike[str]) -> tuple[str, str]:
    """A path that is not there, as the user typed it, and why, in one sentence: a web address
    (objrec reads files here, not pages), or a ``~`` the shell left as it is (quoted, it is no
    home folder) said so, where ``no such file or folder`` left the user guessing; so is a
    wildcard pattern no shell expanded (quoted, or from a script's list)."""
    text = os.fspath(path)
    if (web := WEB_ADDRESS.match(text)) and web[1].lower() != "file" and not Path(web[1]).exists():
        typed = f"{web[1]}://{web[2]}"
        return typed, "a web address: objrec reads files on this computer, so download it first"
    if text.startswith("~") and (home := os.path.expanduser(text)) != text:
        return text, f"no such file or folder (~ is a home folder only unquoted: {home})"
    if glob.has_magic(text):
        n = len(glob.glob(text))
        matches = (
            f"it matches {n} file{'s' if n != 1 else ''} here" if n else "it matches nothing here"
        )
        return text, (
            f"{IMAGE_ERRORS['missing']}: a wildcard pattern that no shell expanded ({matches}): "
            "leave it unquoted, or give the folder"
        )
    return text, IMAGE_ERRORS["missing"]


SYSTEM_FOLDERS = frozenset({"__MACOSX", "@eaDir"})
"""Folders that are never photos nor classes: macOS's zip metadata (``._name.jpg`` files beside
each photo) and a Synology server's thumbnails (real JPEGs, smaller copies of the photos)."""
SYSTEM_FILES = frozenset({"thumbs.db", "ehthumbs.db", "ehthumbs_vista.db", "desktop.ini"})
"""Files Windows puts beside photos, hidden there, by their names in lower case (Windows reads
``Thumbs.db`` and ``thumbs.db`` as one name): Explorer's thumbnail caches and a folder's settings,
as macOS's ``.DS_Store``, which a folder copied from Windows brings along."""
ZONE_MARK = ":Zone.Identifier"
"""How the name of the file into which Windows' "downloaded from the Internet" mark of a photo
turns ends, one beside each photo (``IMG_1.jpg:Zone.Identifier``), when Explorer copies the photos
into WSL: a stream of the photo on Windows, never a file of its own there."""
_MAGIC = (
    b"\xff\xd8\xff",
    b"\x89PNG\r\n\x1a\n",
    b"GIF87a",
    b"GIF89a",
    b"BM",
    b"II*\x00",
    b"MM\x00*",
)
BAD_NAME = "its name is not UTF-8 (as in some old zips): objrec cannot record it; rename it"
"""Why a file whose name does not decode as UTF-8 is left out (see :func:`has_utf8_name`)."""
BAD_FOLDER_NAME = (
    "its name is not UTF-8 (as in some old zips): objrec cannot record its class; rename the folder"
)
"""Why a class folder whose name does not decode as UTF-8 is left out, said once of the folder
(each of its photos was said to need renaming, and the folder to hold no images)."""


def _has_image_magic(path: Path) -> bool:
    try:
        with path.open("rb") as f:
            head = f.read(12)
    except OSError:
        return False
    webp = head[:4] == b"RIFF" and head[8:12] == b"WEBP"
    return head.startswith(_MAGIC) or webp or heif_format(head) is not None


def is_hidden(path: Path) -> bool:
    """True for a name starting with "." or one of the ``SYSTEM_FOLDERS``, the ``SYSTEM_FILES``
    or a ``ZONE_MARK``'s: never listed."""
    name = path.name
    return (
        name.startswith(".")
        or name in SYSTEM_FOLDERS
        or name.lower() in SYSTEM_FILES
        or name.endswith(ZONE_MARK)
    )


SYSTEM_LITTER = (".DS_Store", "._", ".objrec-")
"""The hidden names a system or objrec writes of itself: macOS's ``.DS_Store``, its AppleDouble
``._name`` files, objrec's own temporaries and notes (``.objrec-*``). :func:`is_litter`."""


def is_litter(path: Path) -> bool:
    """True for a hidden name that no person put there (:func:`is_hidden`, of a system's or of
    objrec's own: ``SYSTEM_LITTER``, ``SYSTEM_FOLDERS``, ``SYSTEM_FILES``, a ``ZONE_MARK``'s):
    what a forced split may delete with the earlier split. Any other hidden name (``.notes.txt``,
    a folder ``.edits``) is the user's, kept as a visible one is."""
    name = path.name
    if not name.startswith("."):
        return is_hidden(path)
    return name == SYSTEM_LITTER[0] or name.startswith(SYSTEM_LITTER[1:])


def is_image_file(path: Path) -> bool:
    """True for a visible file with an image extension, or with no extension and image bytes."""
    if is_hidden(path) or not path.is_file():
        return False
    suffix = path.suffix.lower()
    if suffix:
        return suffix in IMAGE_EXTENSIONS
    return _has_image_magic(path)


def utf8_name(path: str | Path) -> str:
    """``path`` as text a UTF-8 file holds: each byte of a name that is not UTF-8 (an old zip's
    Latin-1 ``caf\\xe9``) escaped, as the CLI prints it (:func:`has_utf8_name`)."""
    return str(path).encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def has_utf8_name(path: Path) -> bool:
    """False for a path that is not valid UTF-8 (Python holds its bytes as surrogates): the CSVs,
    the feature store's index and the plots cannot hold it, so it is left out, with a warning."""
    try:
        str(path).encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def path_order(path: str | os.PathLike[str]) -> tuple[str, ...]:
    """The sort key of every listing objrec gives: the path's parts, so that a folder's images
    stay together and its sub-folders follow in order (as strings, ``a-b/x.jpg`` would sort between
    ``a/`` entries, "-" coming before "/"). A path's own parts, not a new path's: a listing
    sorts by it twice, and making a path again took a third of listing a split's 4,637 images."""
    return path.parts if isinstance(path, PurePath) else PurePath(path).parts


def is_link_loop(folder: Path, above: frozenset[str]) -> bool:
    """True when ``folder`` is (a link to) one of the folders ``above``, or to one above those."""
    real = os.path.realpath(folder)
    return any(a == real or a.startswith(real.rstrip(os.sep) + os.sep) for a in above)


def walk_tree(folder: Path, _above: frozenset[str] = frozenset()) -> Iterator[tuple[Path, str]]:
    """``(path, kind)`` for every entry below ``folder``, sorted, depth first.

    Links to folders are followed like folders, as ``split`` always did. ``kind`` is ``file``
    (anything that is not a folder, broken links included), ``hidden`` (a name starting with ".",
    or one of the ``SYSTEM_FOLDERS``; not entered) or ``loop`` (a link to a folder that contains
    it, not entered: following it would never end).
    """
    above = _above | {os.path.realpath(folder)}
    for path in sorted(Path(folder).iterdir(), key=path_order):
        if is_hidden(path):
            yield path, "hidden"
        elif not path.is_dir():
            yield path, "file"
        elif is_link_loop(path, above):
            yield path, "loop"
        else:
            yield from walk_tree(path, above)


def list_images(
    folder: Path,
    bad_names: list[Path] | None = None,
    others: list[Path] | None = None,
    ignored: list[Path] | None = None,
) -> list[Path]:
    """All image files below ``folder`` (recursively, through links to folders), sorted.

    Hidden files and folders are skipped; a link that loops back, a link to an image that is not
    there, and an image whose name is not UTF-8, are skipped with a warning (the last two once
    per :func:`warned_once_per_file` block; the last put in ``bad_names`` instead, when given).
    The other visible files (not images, links to nothing too) are skipped, or put in
    ``others``, when given, for the caller to name; ``ignored``: those of them that are not
    links to a missing image (warned of as without it), for a caller that counts them
    (:func:`ignored_files`).
    """
    found = []
    for path, kind in walk_tree(Path(folder)):
        if kind == "loop":
            log.warning("%s links back to a folder that contains it: not followed", path)
        elif kind == "file" and is_image_file(path):
            if has_utf8_name(path):
                found.append(path)
            elif bad_names is not None:
                bad_names.append(path)
            else:
                warn_once("bad name", path, "%s left out: %s", path, BAD_NAME)
        elif kind == "file" and others is not None:
            others.append(path)
        elif kind == "file" and is_broken_image_link(path):
            warn_once("broken link", path, "%s left out: %s", path, broken_link_reason(path))
        elif kind == "file" and ignored is not None:
            ignored.append(path)
    return sorted(found, key=path_order)


@dataclass(frozen=True)
class IgnoredFiles:
    """The files left out as not images (``split``, ``explore``): those of class folders that are
    not images, and (``split``) those outside any class folder; how many, of which kinds, and
    each file's kind (relative to the folder given; a RAW photo alone first). ``check_folder``
    names each with more words."""

    files: int
    raw_files: int
    raw_without_image: int
    """Of ``raw_files``, those with no image of their name (any case) beside them: photos that
    are left out of training unless converted to JPEG."""
    sidecar_files: int
    """Camera and photo editors' notes on a photo (:data:`SIDECAR_EXTENSIONS`)."""
    example: str
    outside_classes: int = 0
    """Files directly in the folder given, outside any class folder (images too); not the links
    there to folders that are not there (:func:`is_gone_folder`), which ``kinds`` names first."""
    kinds: dict[str, str] = field(default_factory=dict, hash=False)
    """Each file (relative) and its kind, a key of :data:`IGNORED_KINDS`, in the order named."""

    def by_kind(self) -> dict[str, list[str]]:
        """The files (relative) of each kind, the kinds in the order named."""
        groups: dict[str, list[str]] = {}
        for path, kind in self.kinds.items():
            groups.setdefault(kind, []).append(path)
        return groups

    def to_json(self) -> dict[str, Any]:
        """What ``--json`` gives: the counts, and for each kind, in the order named, how many
        ``files``, the first :data:`IGNORED_NAMED` (``examples``) and how many ``more``; a folder
        of thousands of sidecar files (.xmp, Thumbs.db) listed every one."""
        kinds = {
            kind: {
                "files": len(paths),
                "examples": paths[:IGNORED_NAMED],
                "more": max(len(paths) - IGNORED_NAMED, 0),
            }
            for kind, paths in self.by_kind().items()
        }
        return asdict(self) | {"kinds": kinds}

    def sentence(self) -> str:
        """One line: each file ignored and why, grouped by why, :data:`IGNORED_NAMED` of each
        kind named (``butterfly/Thumbs.db (not an image); notes.txt (outside a class folder)``),
        and where to see all when some are only counted."""
        groups = self.by_kind()
        named = [
            f"{some_of(paths, IGNORED_NAMED)} ({IGNORED_KINDS[kind][len(paths) > 1]})"
            for kind, paths in groups.items()
        ]
        more = any(len(paths) > IGNORED_NAMED for paths in groups.values())
        return f"ignored {plural(self.files, 'file')}: {'; '.join(named)}" + (
            "; `check_folder` names each" if more else ""
        )


IGNORED_KINDS = {
    "gone_folder": (
        "a link to a folder that is not there (a drive unplugged, a folder moved or deleted): "
        "its class is left out",
        "links to folders that are not there (a drive unplugged, folders moved or deleted): "
        "their classes are left out",
    ),
    "raw_without_image": (
        "a camera RAW photo with no image of its name beside it: convert it to JPEG to use it",
        "camera RAW photos with no image of their name beside them: convert them to JPEG to use "
        "them",
    ),
    "outside_classes": ("outside a class folder", "outside a class folder"),
    "not_image": ("not an image", "not images"),
    "sidecar": ("a photo editor's or camera's notes on a photo", "notes on photos"),
    "raw_beside_image": (
        "a camera RAW copy of the image beside it",
        "camera RAW copies of the images beside them",
    ),
}
"""Why a file was ignored (:class:`IgnoredFiles`), for one file and for several, in the order
the sentence names them: photos lost first."""
IGNORED_NAMED = 5
"""The ignored files of a kind the sentence names, before "and N more"."""


def ignored_files(
    root: Path, ignored: list[Path], images: list[Path], outside: Sequence[Path] = ()
) -> IgnoredFiles | None:
    """What :class:`IgnoredFiles` says of ``ignored`` (the files below ``root``'s class folders
    that :func:`list_images` did not list) and ``outside`` (the files directly in ``root``),
    ``images`` being those it did list; None when there are none."""
    if not ignored and not outside:
        return None
    beside = {(p.parent, p.stem.casefold()) for p in images}
    raw = [p for p in ignored if p.suffix.lower() in RAW_EXTENSIONS]
    alone = [p for p in raw if (p.parent, p.stem.casefold()) not in beside]
    sidecars = [p for p in ignored if p.suffix.lower() in SIDECAR_EXTENSIONS]
    known, lone = {*raw, *sidecars}, set(alone)
    gone = [p for p in outside if is_gone_folder(p)]
    of_kind = {
        "gone_folder": gone,
        "raw_without_image": alone,
        "outside_classes": [p for p in outside if p not in gone],
        "not_image": [p for p in ignored if p not in known],
        "sidecar": sidecars,
        "raw_beside_image": [p for p in raw if p not in lone],
    }

    def shown(path: Path) -> str:
        return path.relative_to(root).as_posix() if path.is_relative_to(root) else str(path)

    kinds = {shown(p): kind for kind, paths in of_kind.items() for p in paths}
    example = next(iter(kinds))
    files = len(ignored) + len(outside)
    loose = len(outside) - len(gone)
    return IgnoredFiles(files, len(raw), len(alone), len(sidecars), example, loose, kinds)


def is_gone_folder(path: Path) -> bool:
    """Whether ``path``, found directly in a folder of class folders, is a visible link to
    nothing (or in a loop of links): a class folder on a drive unplugged, or moved, most likely,
    its whole class missing; never a file outside a class folder, as it was called."""
    return path.is_symlink() and not path.exists() and not is_hidden(path)


def is_broken_image_link(path: Path) -> bool:
    """A visible link named as an image whose target is not there: an image moved or deleted
    since it was linked (a split made with links reads its source folder's files)."""
    suffix = path.suffix.lower() in IMAGE_EXTENSIONS
    return suffix and not is_hidden(path) and path.is_symlink() and not path.exists()


LINK_LOOP = "a link in a loop of links ({target} leads back to it): it reaches no file"
"""A link that leads, through others, back to itself (``ln -s lp2 lp1; ln -s lp1 lp2``): it was
called a link to a file "not there (moved or deleted since it was linked)", though lp2 is."""


def broken_link_reason(path: Path) -> str:
    """Why a broken link (:func:`is_broken_image_link`, or any other) cannot be read: its target
    gone, or a loop (:data:`LINK_LOOP`)."""
    target = os.readlink(path)
    if is_looped_link(path):
        return LINK_LOOP.format(target=target)
    return IMAGE_ERRORS["broken_link"].format(target=target)


def is_looped_link(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is a link in a loop of links (``stat`` says ELOOP), not one to nothing."""
    try:
        os.stat(path)
    except OSError as exc:
        return exc.errno == errno.ELOOP
    return False

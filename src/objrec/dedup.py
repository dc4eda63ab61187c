"""Near-duplicate images: perceptual hashes, feature neighbours, and the groups they form.

Three signals, each catching what the others miss:

* a perceptual hash (``imagehash.phash``, 256 bits, of the image and of its mirror), which needs
  no model and survives resizing, re-encoding and colour changes; ``split`` uses the hashes
  alone (this one and the crops' below), so a re-saved or mirrored copy never lands on the other
  side of a split. A pHash is not turned with its image, nor trimmed: the image turned a quarter,
  a half and three quarters of a turn (a copy stored sideways, its EXIF orientation lost) and
  the image with its flat border trimmed (a letterbox's bars, a scan's margin) have hashes of
  their own, compared with the other image's whole (``reframed_pairs``);
* cosine similarity of frozen-backbone features (a scikit-learn ``NearestNeighbors`` index), which
  roughly survives crops; ``audit`` combines it with the hashes;
* for crops, which move every pixel of the whole-image hash, the hash of each image's centre
  (``CROP_KEEP``) and of it with a strip cut off one edge (``EDGE_CUTS``) compared with the other
  image's whole hash: a copy cropped by about that much is that part of the original. ``split``
  uses it too; ``audit`` calls a pair near-duplicates by it only where their features already
  agree, and every other pair ``split`` keeps together (``split_pairs``) look-alikes, to check.

The thresholds are chosen on data (``benchmarks/audit.py``, ``benchmarks/README.md``).

Each image's hashes, size and contrast (:class:`ImageFacts`) are kept by content digest in the
cache folder's ``facts.sqlite`` (:func:`cached_facts`), shared by ``split`` (and so ``add``)
and ``audit``, and pruned with the feature store (:func:`prune_facts`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import IO, TYPE_CHECKING, NamedTuple

import numpy as np
from PIL import Image, ImageOps

from objrec.config import check_field_types
from objrec.errors import ObjrecError
from objrec.file_index import USE_REFRESH, read_as_indexed
from objrec.images import (
    COUNTED,
    IMAGE_ERRORS,
    PIXEL_RULES,
    UPRIGHT,
    UnreadableImageError,
    decoder_gone,
    decoder_versions,
    kind_gone_reason,
    open_image,
    pixel_limit,
)
from objrec.processes import each_file

if TYPE_CHECKING:
    import sqlite3

log = logging.getLogger(__name__)

HASH_SIZE = 16
"""pHash side: 16 x 16 = 256 bits. The common 8 x 8 (64 bits) puts different photos of one kind on a
plain background (Caltech-101's side-view motorbikes) within 2-6 bits of each other, as close as
re-saved copies; at 256 bits they stay 34 bits or more apart (``benchmarks/README.md``)."""
HASH_SPLIT = 24
"""Hash distance (bits of 256) at or below which ``split`` keeps two images together."""
CROP_SPLIT = 32
"""``split`` also keeps together two images when one's whole hash is within this many bits of a
crop hash of the other (``crop_distance``): the audit's ``crop_hash`` without its feature gate.
On the 100-class Caltech-101 protocol (6,179 images) the centre crops group 3 pairs beyond the
whole hash, each the same picture (recropped, framed, recoloured), and find 100 of 100 copies with
10% cropped off (``benchmarks/split_crop_hash.py``, ``benchmarks/README.md``). The ``EDGE_CUTS``
crops group 16 more pairs or triples there and join one more image to a group: looked at, 14 of
the 17 are one picture (a caption strip cut off, recropped, recoloured), 3 different photos of
one motorbike or airliner model in one pose. The 95% and 85% centre crops group 14 more pairs
there, all within a class: about half one picture (recropped, framed, the background or the bike
recoloured), the others look-alikes (two anchors, two pianos, yin-yang drawings)."""
NEIGHBOURS = 10
"""Feature neighbours examined per image."""


@dataclass(frozen=True)
class DuplicateRule:
    """When two images are near-duplicates (copies of one picture: either signal strongly, or the
    features and the centre-crop hash), and when they only look alike (both signals moderately).

    Only the first is a possible leak. On the development injection (``benchmarks/audit.py --seed
    1``) all 100 injected copies meet ``duplicate``: the look-alike bounds add none of them, and
    make 50 groups of their own. Of 24 of those drawn at random and looked at, 2 were one picture,
    7 another shot of the same thing and 15 different objects of one kind (another motorbike of
    one model, another dollar bill, another stop-sign drawing): the signals cannot tell these
    apart, so the audit shows them to check, not as leaks (``benchmarks/README.md``)."""

    sim_strict: float = 0.95
    """Cosine similarity of features at or above which two images are near-duplicates. Chosen on a
    development injection (``benchmarks/audit_choices.py --seed 1``, the default three-body
    features): with the crop hash below, 0.95 finds the same 100 of 100 injected pairs as 0.93 and
    flags 45 fewer other pairs (most of them different photos of one class)."""
    sim_loose: float = 0.90
    """Similarity at or above which, with a hash within ``hash_loose``, two images look alike."""
    hash_strict: int = 24
    """Perceptual-hash distance (bits of 256) at or below which they are, whatever the features."""
    hash_loose: int = 64
    """At or below this distance, a similarity of ``sim_loose`` makes two images look alike:
    the look-alikes looked at on Caltech-101 were 32-64 bits apart whether one picture or two
    different motorbikes (the demo's two: 46 bits at 160 px, 42 at full size)."""
    sim_crop: float = 0.85
    """Features at least this similar, and ``crop_hash`` ..."""
    crop_hash: int = 32
    """... a centre-crop hash within this many bits of the other's whole hash: a cropped copy.
    On the development injection the 20 copies with 10% cropped off were 0-28 bits from their
    original this way (and 44-114 bits by the whole-image hash); of the 3,395 other close pairs
    at similarity 0.85 or more, 6 were within 32 bits (5 of them flagged by the rest of the rule
    anyway)."""
    kept_by_split: bool = True
    """A pair ``split`` keeps in one split (``split_pairs``) that the rest of the rule calls
    neither is a look-alike too, so the audit shows every pair ``split`` pairs. ``split`` keeps
    together, by a crop hash alone, copies whose features disagree: Caltech-101's anchor 0008 and
    0017, one drawing red on white and brown on blue (similarity 0.68, 95% crop hash 24 bits), was
    in no audit file. Not near-duplicates (which the plan removes across splits and classes): of
    the 9 such pairs of the 100-class protocol (``/work/splits/s0``), 3 were one picture (those
    anchors, a recropped inline skate, a recoloured motorbike), 6 two photos of one model (two
    grand pianos, motorbikes, watches, nautilus drawings). False: the rule's numbers alone."""

    def __post_init__(self) -> None:
        check_field_types(self)

    def __call__(self, similarity: float, distance: int, crop: int = HASH_SIZE**2) -> bool:
        """Near-duplicates or look-alikes by the numbers (``duplicate_pairs`` adds the pairs
        ``split`` keeps together: ``kept_by_split``)."""
        return self.duplicate(similarity, distance, crop) or self.look_alike(similarity, distance)

    def duplicate(self, similarity: float, distance: int, crop: int = HASH_SIZE**2) -> bool:
        """Copies of one picture: resized, re-encoded, mirrored, turned, letterboxed, recoloured
        or cropped."""
        return (
            similarity >= self.sim_strict
            or distance <= self.hash_strict
            or (similarity >= self.sim_crop and crop <= self.crop_hash)
        )

    def look_alike(self, similarity: float, distance: int) -> bool:
        """Alike by both signals moderately: one picture or two, which only a look tells."""
        return similarity >= self.sim_loose and distance <= self.hash_loose

    @property
    def sim_candidate(self) -> float:
        """The lowest similarity any part of the rule accepts."""
        return min(self.sim_strict, self.sim_loose, self.sim_crop)


CROP_KEEP: tuple[float, ...] = (0.95, 0.9, 0.85, 0.8)
"""Centre crops (share of each side kept) whose hashes ``image_facts`` also takes: a copy with
1.5-10% cut off each side matches one of them. A crop's hash reaches about 2 points of its cut
either side, so with 0.9 and 0.8 alone a copy cut by 2-3% or 6.5-8% a side fell between (of 60
Caltech-101 photos, 16-34 kept with such a copy of themselves at 2-3%, 10-36 at 6.5-8%; 54-60 at
every share from 1% to 10% with these four: ``benchmarks/README.md``, "Centre crops between
the scales"), and a camera trap's recropped burst frame went to another split than its photo."""
EDGE_CUTS = (0.04, 0.08, 0.12)
"""Shares of one side cut off the left, top, right or bottom edge alone, whose hashes
``image_facts`` takes after the centre crops': a copy with a strip of 3-13% trimmed off one edge
(a caption, a watermark, a border) matches one of them; the whole hash and the centre crops
missed every such copy of 5% or more (of 30 Caltech-101 photos). A crop's hash finds cuts within
about 2% of its own, so two cuts are not enough, and a strip cut off two edges at once (a corner
kept) is still missed: the audit's features find those."""
CROP_COUNT = 2 * len(CROP_KEEP) + 4 * len(EDGE_CUTS)
"""How many crop hashes ``image_facts`` takes of an image."""


def mirrored_crop(c: int) -> bool:
    """Whether crop hash ``c`` of :attr:`ImageFacts.crops` is of a mirrored centre crop, which
    ``crop_distance`` compares with the other image's mirrored whole hash only. Against its whole
    hash it measures what its mirrored whole hash against the centre crop does (the pair with one
    image mirrored, each pHash taken after the mirror): on the 100-class Caltech-101 protocol it
    found no pair the other missed, and was 4 of ``crop_pairs``' 40 matrix products
    (``benchmarks/README.md``, "Centre crops between the scales"). Against the mirrored whole it
    stays: there it found 4 pairs the centre crop against the whole missed by 2-4 bits."""
    return c < 2 * len(CROP_KEEP) and c % 2 == 1


DRAFT = 64


@dataclass(frozen=True)
class ImageFacts:
    """What one cheap decode tells: size, perceptual hashes, contrast; ``error`` if unreadable."""

    width: int = 0
    height: int = 0
    phash: int = 0
    phash_mirror: int = 0
    contrast: float = 0.0
    """Largest standard deviation of one colour channel (0-255) of a small copy (:func:`contrast`):
    near 0 for a blank image."""
    crops: tuple[int, ...] = ()
    """pHash of each ``CROP_KEEP`` centre crop, then of its mirror (compared with the other
    image's mirrored hash only: :func:`mirrored_crop`); then of each ``EDGE_CUTS`` cut off the
    left, top, right and bottom edge (not mirrored: each is compared with the other image's
    mirrored hash too)."""
    error: str = ""
    too_large: bool = False
    """Refused as over the pixel limit (``images.pixel_limit``), not as undecodable."""
    turns: tuple[int, ...] = ()
    """pHash of the image turned by each of ``TURNS`` (:func:`turn_hashes`): a copy stored
    sideways or upside down, its EXIF orientation lost, is this image turned."""
    trimmed: int = 0
    """pHash of the image with its flat border trimmed (:func:`trimmed_hash`: a letterbox's or
    pillarbox's bars, a scan's margin); 0 where it has none, its whole hash standing for it."""
    counted: int = 0
    """The pixels the pixel limit counts the image at (``images.counted_size``: a JPEG reduced),
    which a later split compares with its limit; 0 in facts kept before they kept it, whose
    ``width`` by ``height`` stands for it."""


def hash_bits(image: Image.Image) -> int:
    """imagehash's pHash as an int, first bit highest: ``int(str(hash), 16)`` without the string
    (which takes a sixth of the time of each hash). imagehash (and the PyWavelets it brings) is
    imported here, at the first hash, so that train and evaluate run where it is not installed
    (a GPU machine's image with PyTorch alone, ``benchmarks/gpu_check.py``)."""
    import imagehash

    bits = imagehash.phash(image, hash_size=HASH_SIZE).hash
    return int.from_bytes(np.packbits(bits).tobytes(), "big")


MIN_CONTRAST = 4.0
"""Spread (:func:`contrast`) under which an image is nearly blank: one colour all over, as a
camera's black or white failure frame (``check`` and ``audit`` report it)."""


def contrast(image: Image.Image) -> float:
    """:attr:`ImageFacts.contrast` of ``image``: the largest standard deviation (0-255) of one
    channel (R, G, B) of a 32x32 copy. Colour counts: a yellow drawing on beige (Caltech-101
    menorah/image_0036) spreads its grey levels by 3.8 but its blue by 51."""
    rgb = image if image.mode == "RGB" else image.convert("RGB")
    small = np.asarray(rgb.resize((32, 32)), dtype=np.float32)
    return float(small.reshape(-1, 3).std(axis=0).max())


def hash_tells(facts: ImageFacts) -> bool:
    """Whether ``facts``' perceptual hashes tell the image from another: a readable image not
    nearly blank (:data:`MIN_CONTRAST`), as the trimmed hash is taken only of what has contrast
    inside a border. A flat image's pHash is about 0 whatever its colour, so a grey card and a
    black frame in two classes were near-duplicates "across classes", and the plan removed one
    as a copy of the other. Blank images still pair by content (byte-identical files) and, in
    the audit, by their features."""
    return not facts.error and facts.contrast >= MIN_CONTRAST


def image_facts(path: Path, data: bytes | None = None) -> ImageFacts:
    """Measure the image at ``path`` from one read of its bytes (``data``, where the caller has
    read them), decoded at a reduced size (JPEG draft mode); never raises."""
    try:
        data = path.read_bytes() if data is None else data
        image = open_image(data, DRAFT, name=str(path), from_file=True)
    except OSError as exc:  # the file could not be read: Pillow's errors are open_image's
        return ImageFacts(error=f"{path}: {IMAGE_ERRORS['cannot_read'].format(reason=why(exc))}")
    except (UnreadableImageError, Image.DecompressionBombError) as exc:
        large = getattr(exc, "too_large", isinstance(exc, Image.DecompressionBombError))
        return ImageFacts(error=str(exc), too_large=large)
    grey = image.convert("L")
    width, height = image.info[UPRIGHT]
    return ImageFacts(
        width=width,
        height=height,
        phash=hash_bits(grey),
        phash_mirror=hash_bits(ImageOps.mirror(grey)),
        contrast=contrast(image),
        crops=crop_hashes(grey),
        turns=turn_hashes(grey),
        trimmed=trimmed_hash(data, str(path), grey, (width, height)),
        counted=image.info[COUNTED],
    )


def hashed_facts(path: Path, digest: str) -> ImageFacts:
    """:func:`image_facts` of the bytes of ``path`` that hash to ``digest``, the content digest
    its facts are kept under, read once: a file changed since it was hashed (replaced by another
    photo) is unreadable this time, never measured under the digest of other bytes (whose
    near-copies a later split would then part), as the frozen pass skips it
    (``views.read_as_hashed``); unkept, it is measured next time."""
    try:
        data = read_as_indexed(path, digest)
    except OSError as exc:
        return ImageFacts(error=f"{path}: {IMAGE_ERRORS['cannot_read'].format(reason=why(exc))}")
    if data is None:
        return ImageFacts(error=f"{path}: {CHANGED}")
    return image_facts(path, data)


CHANGED = "changed while objrec read it (its image facts are not kept)"
"""Why :func:`hashed_facts` measured no facts of a file."""


def why(exc: OSError) -> str:
    """Why a file could not be read, in a few words (``No such file or directory``)."""
    return exc.strerror or str(exc)


def crop_hashes(grey: Image.Image) -> tuple[int, ...]:
    """pHash of each ``CROP_KEEP`` centre crop of ``grey`` and of its mirror, then of each
    ``EDGE_CUTS`` cut off each edge (:attr:`ImageFacts.crops`)."""
    hashes = []
    w, h = grey.size
    for keep in CROP_KEEP:
        dx, dy = round(w * (1 - keep) / 2), round(h * (1 - keep) / 2)
        crop = grey.crop((dx, dy, w - dx, h - dy))
        hashes += [hash_bits(crop), hash_bits(ImageOps.mirror(crop))]
    for cut in EDGE_CUTS:
        dx, dy = round(w * cut), round(h * cut)
        for box in ((dx, 0, w, h), (0, dy, w, h), (0, 0, w - dx, h), (0, 0, w, h - dy)):
            hashes.append(hash_bits(grey.crop(box)))
    return tuple(hashes)


TURNS = (Image.Transpose.ROTATE_90, Image.Transpose.ROTATE_180, Image.Transpose.ROTATE_270)
"""The quarter turns whose hashes ``image_facts`` takes (:attr:`ImageFacts.turns`)."""


def turn_hashes(grey: Image.Image) -> tuple[int, ...]:
    """pHash of ``grey`` turned by each of ``TURNS``. Taken of the pixels: a pHash's bits are
    not turned with the image (its DCT's coefficients change sign as well as place)."""
    return tuple(hash_bits(grey.transpose(turn)) for turn in TURNS)


TRIM_LEVELS = 16
"""Grey levels (of 255) within which a pixel is of the border's colour: a JPEG's noise in a
black or white bar stays within it, a photo's edge seldom does."""
TRIM_LEAST = 0.02
"""The share of a side a border must take, on two opposite edges together, to be trimmed: less
is left to the centre crops (``CROP_KEEP``), which a thin frame moves by little."""
TRIM_DRAFT = 256
"""The size a JPEG reduced under it is decoded at again to trim its border: at ``DRAFT`` a
300-pixel photo is 75 pixels, and the half-pixel its bars' edge falls on moved the trimmed hash
of a letterboxed copy past ``HASH_SPLIT`` from its photo for 12 of 100 Caltech-101 photos (3 of
100 at this size: those whose own edge is of the bars' colour and was trimmed with them). A
phone's photo is reduced by 8 at most, to 375 pixels or more: not decoded again."""


def trimmed_hash(data: bytes, name: str, grey: Image.Image, size: tuple[int, int]) -> int:
    """:attr:`ImageFacts.trimmed` of the image file ``name`` of bytes ``data``, ``grey``
    (decoded at ``DRAFT``) of its full ``size``: the pHash of what lies inside its flat border,
    0 where it has none or nothing but one colour lies inside (whose hash any other such image
    shares)."""
    box = border_box(grey)
    if box is not None and grey.width < size[0] and min(grey.size) < TRIM_DRAFT:  # reduced
        try:
            grey = open_image(data, TRIM_DRAFT, name=name, from_file=True).convert("L")
        except (UnreadableImageError, Image.DecompressionBombError):
            pass  # not at this size: the reduced copy's border stands
        else:
            box = border_box(grey)
    if box is None:
        return 0
    inside = grey.crop(box)
    return hash_bits(inside) if contrast(inside) >= MIN_CONTRAST else 0


def border_box(grey: Image.Image) -> tuple[int, int, int, int] | None:
    """The box (left, top, right, bottom) inside ``grey``'s flat border: the rows and columns at
    its edges whose pixels are of its corners' colour (their median), all but 2%, within
    ``TRIM_LEVELS``; None when the border takes less than ``TRIM_LEAST`` of both sides."""
    pixels = np.asarray(grey, dtype=np.int16)
    h, w = pixels.shape
    corners = pixels[[0, 0, -1, -1], [0, -1, 0, -1]]
    off = np.abs(pixels - int(np.median(corners))) > TRIM_LEVELS
    rows = np.flatnonzero(off.mean(axis=1) > 0.02)
    cols = np.flatnonzero(off.mean(axis=0) > 0.02)
    if not len(rows) or not len(cols):
        return None  # one colour all over
    left, top, right, bottom = int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1
    if w - (right - left) < TRIM_LEAST * w and h - (bottom - top) < TRIM_LEAST * h:
        return None
    return left, top, right, bottom


def all_facts(
    paths: Sequence[Path],
    on_file: Callable[[], None] | None = None,
    workers: int | None = None,
    digests: Sequence[str] | None = None,
) -> list[ImageFacts]:
    """``image_facts`` of every path, in order, or with ``digests`` (each file's content
    digest) ``hashed_facts``: in worker processes, one per core (``workers`` at most), when
    there are ``processes.PROCESS_MIN`` or more, else here (:func:`objrec.processes.each_file`).
    The warnings an image gives (damaged EXIF) are logged here, once per file
    (:func:`objrec.images.warn_once`), as the caller's own are."""
    if digests is None:
        return each_file(image_facts, paths, on_file, workers=workers, doing=MEASURING)
    digest_of = dict(zip(paths, digests, strict=True))
    return each_file(
        lambda path: hashed_facts(path, digest_of[path]),
        paths,
        on_file,
        workers=workers,
        doing=MEASURING,
    )


MEASURING = "measuring image facts"
"""What :func:`all_facts`' worker processes do, for the warning that one ended abruptly."""


FACTS_KEY = (
    f"phash{HASH_SIZE} crops{CROP_KEEP} edges{EDGE_CUTS} draft{DRAFT} v2 pixels{PIXEL_RULES} "
    f"turns{len(TURNS)} trim{TRIM_LEVELS},{TRIM_LEAST},{TRIM_DRAFT} v3"
)
"""What ``image_facts`` measures: stored facts under another key are measured again."""


def facts_key() -> str:
    """``FACTS_KEY`` and the decoders' versions (:func:`objrec.images.decoder_versions`): facts
    measured on the pixels of another Pillow or libjpeg (whose perceptual hashes may differ) are
    measured again."""
    return f"{FACTS_KEY} {decoder_versions()}"


FACTS_FILE = "facts.sqlite"
"""The facts store's file name in the cache folder (beside ``store/``)."""


FACTS_LOCK = "facts.lock"
"""Beside ``FACTS_FILE``: held shared while the facts store is open (:func:`open_facts`), taken
exclusively by ``objrec cache --clear`` and ``--prune`` (:func:`facts_lock`), as the feature
store's ``lock`` is: neither removes nor rewrites the file under a split or an audit writing it.
Never removed: a process waiting on a removed lock file would hold a lock no one else sees."""


@contextmanager
def _lock_file(path: Path, db_file: Path) -> Iterator[IO[bytes]]:
    """``path`` opened for locking; one that cannot be (a read-only cache folder) is one sentence
    naming the facts store, as SQLite's own refusal to write it would be."""
    try:
        lock = open(path, "a+b")  # noqa: SIM115 (closed below, once the caller's block ends)
    except OSError as exc:
        raise ObjrecError(
            f"the image facts store {db_file} cannot be written ({exc.strerror or exc}: {path}): "
            "check the permissions of the cache folder"
        ) from exc
    with lock:
        yield lock


@contextmanager
def facts_lock(
    db_file: Path, exclusive: bool = False, wait: Callable[[], None] | None = None
) -> Iterator[None]:
    """Hold the facts store's lock (:data:`FACTS_LOCK`) for the block: shared, or ``exclusive``
    (``wait()`` is called first when another process holds it), for a clear or a prune: that
    of a folder holding neither the facts store nor its lock (no one uses it) makes none there."""
    import fcntl

    from objrec.cache_folder import make_cache_folder
    from objrec.locks import lock_exclusively

    folder = Path(db_file).parent
    if exclusive and not (folder / FACTS_LOCK).exists() and not Path(db_file).exists():
        yield
        return
    make_cache_folder(folder)
    with _lock_file(folder / FACTS_LOCK, Path(db_file)) as lock:
        try:
            if exclusive:
                lock_exclusively(lock, wait)
            else:
                fcntl.flock(lock, fcntl.LOCK_SH)
        except OSError as exc:  # a file system without flock (some NFS): unlocked, as before
            log.debug("%s cannot be locked (%s): the facts store is used unlocked", lock.name, exc)
        yield


@contextmanager
def open_facts(
    db_file: Path, exclusive: bool = False, wait: Callable[[], None] | None = None
) -> Iterator[sqlite3.Connection]:
    """The ``facts`` table, and ``facts_used``: when each row was last read or written, for
    ``prune_facts`` (a table of its own, so that the ``facts`` rows keep their layout). Open for
    the block, under :func:`facts_lock` (``exclusive``, ``wait``: its own); its SQLite errors (a
    damaged file, a full disk) become one sentence, those of objrec's own mistakes pass as they
    are."""
    if not exclusive and read_only(Path(db_file)):
        yield from _read_only(Path(db_file))
        return
    with facts_lock(db_file, exclusive, wait):
        yield from _connected(Path(db_file))


def read_only(db_file: Path) -> bool:
    """Whether the facts store ``db_file`` is there but its folder cannot be written (a read-only
    disk): read as it is then, unlocked, and nothing is kept in it."""
    from objrec.cache_folder import can_write

    return db_file.is_file() and not can_write(db_file.parent)


def _read_only(db_file: Path) -> Iterator[sqlite3.Connection]:
    import sqlite3

    from objrec.cache_folder import SQLITE_BUGS, connect_read_only, database_error

    try:
        db = connect_read_only(db_file)
        try:
            yield db
        finally:
            db.close()
    except SQLITE_BUGS:
        raise
    except sqlite3.Error as exc:
        raise database_error(db_file, "the image facts store", db_file.parent, exc) from exc


def has_table(db: sqlite3.Connection, name: str) -> bool:
    """Whether ``db`` holds the table ``name``."""
    query = "SELECT 1 FROM sqlite_master WHERE type='table' AND name=?"
    return db.execute(query, (name,)).fetchone() is not None


def _connected(db_file: Path) -> Iterator[sqlite3.Connection]:
    import sqlite3

    from objrec.cache_folder import SQLITE_BUGS, database_error

    folder = db_file.parent
    try:
        db = sqlite3.connect(db_file, timeout=600, isolation_level=None)
        try:
            db.execute(
                "CREATE TABLE IF NOT EXISTS facts(digest TEXT, key TEXT, facts TEXT, "
                "PRIMARY KEY(digest, key))"
            )
            db.execute(
                "CREATE TABLE IF NOT EXISTS facts_used(digest TEXT, key TEXT, used REAL, "
                "PRIMARY KEY(digest, key))"
            )
            yield db
        finally:
            db.close()
    except SQLITE_BUGS:
        raise
    except sqlite3.Error as exc:
        raise database_error(Path(db_file), "the image facts store", folder, exc) from exc


def cached_facts(
    paths: Sequence[Path],
    digests: Sequence[str],
    db_file: Path,
    on_file: Callable[[], None] | None = None,
    measured: Mapping[str, ImageFacts] | None = None,
    kinds: Mapping[str, str] | None = None,
) -> list[ImageFacts]:
    """``all_facts`` of ``paths``, kept in a small SQLite table keyed by each file's content digest
    (``digests``: ``file_index.hash_file``'s, as the feature store's file index and ``split`` give
    them), so a second audit or split decodes nothing. ``measured``: facts already taken by
    digest (the audit's frozen pass measures each image it decodes): kept, not taken again. An
    unreadable file is not kept: it is tried again next time. An invalid ``OBJREC_MAX_PIXELS``
    is refused first (``images.pixel_limit``), as when an image decodes: a split whose facts were
    all kept went on with it. ``kinds``: each digest's kind of image where the feature store
    keeps it (``store.FeatureStore.image_kinds``), so that no file is opened to tell the HEIC
    photos this Python cannot decode apart (:func:`_decodable`); the others' first bytes are read.
    """
    pixel_limit()
    fresh = {d: f for d, f in (measured or {}).items() if not f.error}
    key = facts_key()
    with open_facts(db_file) as db:  # closed while images decode: a clear may go on meanwhile
        found = _stored_facts(db, [d for d in dict.fromkeys(digests) if d not in fresh], key)
    found = _decodable(found, paths, digests, kinds or {}) | fresh
    todo = [i for i, d in enumerate(digests) if d not in found]
    for _ in range(len(paths) - len(todo) if on_file else 0):
        on_file()  # type: ignore[misc]
    measured_now = all_facts([paths[i] for i in todo], on_file, digests=[digests[i] for i in todo])
    computed = dict(zip(todo, measured_now, strict=True))
    keep_facts(db_file, fresh | {digests[i]: f for i, f in computed.items()}, found)
    return [computed[i] if i in computed else found[d] for i, d in enumerate(digests)]


def keep_facts(db_file: Path, measured: Mapping[str, ImageFacts], read: Iterable[str] = ()) -> None:
    """Keep the facts ``measured`` of each content digest (not those with an error: tried again
    next time) in ``db_file``, and date them and those ``read`` there as used now (at most once
    an hour a row)."""
    import json

    key, now = facts_key(), time.time()
    rows = [(d, key, json.dumps(asdict(f))) for d, f in measured.items() if not f.error]
    with open_facts(db_file) as db:
        db.execute("BEGIN IMMEDIATE")  # one transaction: a commit per row costs an fsync each
        db.executemany("INSERT OR REPLACE INTO facts VALUES (?,?,?)", rows)
        db.executemany(  # last use, written at most once an hour per row
            "INSERT INTO facts_used VALUES (?,?,?) ON CONFLICT DO UPDATE SET used=excluded.used "
            f"WHERE used<excluded.used-{USE_REFRESH}",
            [(d, key, now) for d in {*read, *(r[0] for r in rows)}],
        )
        db.execute("COMMIT")


def digests_kept(db_file: Path, table: str, key: str) -> frozenset[str]:
    """The content digests whose rows ``table`` of the facts store ``db_file`` keeps under
    ``key``: what a first read of new files (``split_source.first_read``) need not measure again (a
    folder moved or renamed holds the photos of another). One digest each, so as many bytes
    as the cache folder's facts, never the folder's files."""
    if not Path(db_file).is_file():
        return frozenset()
    with open_facts(db_file) as db:
        if not has_table(db, table):
            return frozenset()
        query = f"SELECT digest FROM {table} WHERE key=?"  # objrec's own names
        return frozenset(d for (d,) in db.execute(query, (key,)))


def kept_facts(
    paths: Sequence[Path], digests: Sequence[str], db_file: Path
) -> dict[str, ImageFacts]:
    """The facts ``db_file`` keeps of ``digests`` (those of ``paths``, by content) under today's
    :func:`facts_key`, less those of the photos this Python cannot decode now
    (:func:`_decodable`); nothing is measured: what ``check`` reads of the images a split or an
    audit measured."""
    if not Path(db_file).exists():
        return {}
    with open_facts(db_file) as db:
        found = _stored_facts(db, list(dict.fromkeys(digests)), facts_key())
    return _decodable(found, paths, digests, {})


def facts_of(digests: Sequence[str], db_file: Path) -> dict[str, ImageFacts]:
    """The facts ``db_file`` keeps of ``digests`` under today's :func:`facts_key`, measured by
    whoever measured them (a split of a run's images); no file is read, so none is left out as
    undecodable now: for images known by content only (a run's training images, by its record),
    whose hashes are compared, never decoded again."""
    if not Path(db_file).exists():
        return {}
    with open_facts(db_file) as db:
        return _stored_facts(db, list(dict.fromkeys(digests)), facts_key())


def _decodable(
    stored: dict[str, ImageFacts],
    paths: Sequence[Path],
    digests: Sequence[str],
    kinds: Mapping[str, str],
) -> dict[str, ImageFacts]:
    """``stored`` less the facts of the HEIC or HEIF photos this Python cannot decode now
    (:func:`objrec.images.decoder_gone`): kept by content while pillow-heif read them, they
    made ``split`` and ``add`` keep photos ``check`` called unusable once it could not. Measured
    again, they are unreadable, with the reason that says so. A digest's kind in ``kinds`` (the
    feature store's) is taken as it is; the file of one not in it is read for it."""
    gone = {
        d
        for p, d in zip(paths, digests, strict=True)
        if d in stored
        and (kind_gone_reason(kinds[d]) is not None if d in kinds else decoder_gone(p))
    }
    return {d: f for d, f in stored.items() if d not in gone}


@dataclass(frozen=True)
class FactsInfo:
    """What the facts store holds: rows (of any :func:`facts_key`) and bytes on disk."""

    rows: int
    bytes: int


def facts_info(db_file: Path) -> FactsInfo:
    if not db_file.exists():
        return FactsInfo(0, 0)
    with open_facts(db_file) as db:
        (rows,) = db.execute("SELECT COUNT(*) FROM facts").fetchone()
    return FactsInfo(rows, db_file.stat().st_blocks * 512)


@dataclass(frozen=True)
class KeptTable:
    """A table of the facts store whose rows are kept by content digest, as a prune
    (:func:`prune_kept`) forgets them: those measured under another :attr:`key`, not used for
    some days (:attr:`used`), or of a digest the prune does not keep (:attr:`kept`)."""

    name: str
    schema: str
    """Its ``CREATE ... IF NOT EXISTS`` statements: a prune may come before any row."""
    key: Callable[[], str] | None = None
    """What measures a row today (its ``key`` column): a row under another is never read again.
    None: the table has no key."""
    used: str = "seen"
    """SQL: when a row was last read or written (``time.time()``); NULL: used now."""
    kept: str = "digest IN temp.keep"
    """SQL: whether a row's images are all of digests a prune keeps (``temp.keep``: the
    feature store's, ``file_index.DIGEST_CHARS`` hex characters)."""
    then: tuple[str, ...] = ()
    """Statements run after the rows are removed, for what they leave (``:now``: the time)."""


FACTS = KeptTable(
    "facts",
    "",  # made with the connection (:func:`open_facts`)
    facts_key,
    used="(SELECT used FROM facts_used u WHERE u.digest=facts.digest AND u.key=facts.key)",
    then=(  # a row an older objrec wrote, without its use, counts as used now
        "INSERT OR IGNORE INTO facts_used SELECT digest, key, :now FROM facts",
        "DELETE FROM facts_used WHERE (digest, key) NOT IN (SELECT digest, key FROM facts)",
    ),
)
"""The image facts (:func:`cached_facts`), their last use in ``facts_used``."""


def prune_kept(
    db_file: Path,
    tables: Sequence[KeptTable],
    older_than_days: float | None = None,
    keep: set[str] | None = None,
    wait: Callable[[], None] | None = None,
    compact: bool = False,
) -> dict[str, int]:
    """Forget the rows of ``tables`` measured under another key, not used for
    ``older_than_days``, or of no digest in ``keep``, in one transaction, once no split or audit
    has the file open (``wait()`` is called first when one has); ``compact``: then compact the
    file. Returns how many rows of each table (by name). Safe at any time: what is forgotten is
    measured again."""
    removed = dict.fromkeys((t.name for t in tables), 0)
    if not Path(db_file).exists():
        return removed
    with open_facts(db_file, exclusive=True, wait=wait) as db:
        for table in tables:
            db.executescript(table.schema)
        db.execute("BEGIN IMMEDIATE")
        if keep is not None:
            db.execute("CREATE TEMP TABLE keep(digest TEXT PRIMARY KEY)")
            db.executemany("INSERT OR IGNORE INTO temp.keep VALUES (?)", ((d,) for d in keep))
        for table in tables:
            removed[table.name] = _forget_stale(db, table, older_than_days, keep is not None)
        db.execute("COMMIT")
        if compact:
            db.execute("VACUUM")
    return removed


def _forget_stale(db, table: KeptTable, older_than_days: float | None, keep: bool) -> int:
    """Remove ``table``'s rows :func:`prune_kept` forgets (``keep``: by ``temp.keep`` too); how
    many."""
    now = time.time()
    stale: list[str] = []
    args: list[object] = []
    if table.key is not None:
        stale.append("key<>?")
        args.append(table.key())
    if older_than_days is not None:
        stale.append(f"{table.used}<?")
        args.append(now - older_than_days * 86400)
    if keep:
        stale.append(f"NOT ({table.kept})")
    where = " OR ".join(stale) or "0"
    removed = db.execute(f"DELETE FROM {table.name} WHERE {where}", args).rowcount
    for statement in table.then:
        db.execute(statement, {"now": now})
    return removed


def prune_facts(
    db_file: Path,
    older_than_days: float | None = None,
    keep: set[str] | None = None,
    wait: Callable[[], None] | None = None,
    tables: Sequence[KeptTable] = (),
) -> tuple[int, FactsInfo, FactsInfo]:
    """:func:`prune_kept` of the image facts and the other ``tables``, the file compacted after.
    Returns the image facts' rows removed and the store before and after."""
    before = facts_info(db_file)
    removed = prune_kept(db_file, (FACTS, *tables), older_than_days, keep, wait, compact=True)
    return removed[FACTS.name], before, facts_info(db_file)


def _stored_facts(db, digests: list[str], key: str, chunk=500) -> dict[str, ImageFacts]:
    """The facts ``db`` keeps of ``digests`` under ``key``, less those of images over today's
    pixel limit (``images.pixel_limit``), which the key does not hold: kept under a higher
    ``OBJREC_MAX_PIXELS``, they made a split place an image train leaves out as too large.
    Measured again, they are refused in their own words. Counted as the limit counts them
    (:attr:`ImageFacts.counted`): by their whole size, a JPEG under the limit as it is counted
    (reduced) but not whole was measured again by every split."""
    import json

    found, limit = {}, pixel_limit()
    for start in range(0, len(digests), chunk):
        part = digests[start : start + chunk]
        marks = ",".join("?" * len(part))
        query = f"SELECT digest, facts FROM facts WHERE key=? AND digest IN ({marks})"
        for digest, text in db.execute(query, (key, *part)):
            values = json.loads(text)
            tuples = {name: tuple(values[name]) for name in ("crops", "turns")}
            if (values.get("counted") or values["width"] * values["height"]) <= limit:
                found[digest] = ImageFacts(**(values | tuples))
    return found


def _signs(values: Sequence[int]) -> np.ndarray:
    """(N, HASH_SIZE ** 2) float32 of +1/-1, one per bit: the Hamming distance of two hashes is
    ``(bits - a @ b) / 2``, so a matrix product measures a block against all at once."""
    return _unpacked(_packed(values))


def _packed(values: Sequence[int]) -> np.ndarray:
    """(N, HASH_SIZE ** 2 / 8) uint8: each hash's bits, first bit highest, 32 bytes a hash
    where its signs take 1 KiB."""
    nbytes = HASH_SIZE * HASH_SIZE // 8
    raw = np.frombuffer(b"".join(int(v).to_bytes(nbytes, "big") for v in values), np.uint8)
    return raw.reshape(len(values), nbytes)


def _unpacked(packed: np.ndarray) -> np.ndarray:
    """:func:`_signs` of hashes ``_packed`` them."""
    return 1 - 2 * np.unpackbits(packed, axis=1).astype(np.float32)


def _row_indices(n: int, rows: Sequence[int] | np.ndarray | None) -> np.ndarray:
    """The rows to measure against every image: all of them, or ``rows`` (sorted, once each)."""
    return np.arange(n) if rows is None else np.unique(np.asarray(rows, dtype=np.int64))


def hash_pairs(
    facts: Sequence[ImageFacts],
    max_distance: int,
    chunk: int = 256,
    rows: Sequence[int] | np.ndarray | None = None,
    on_rows: Callable[[int], None] | None = None,
) -> np.ndarray:
    """(P, 3) rows ``i, j, distance`` with i < j for every pair within ``max_distance`` bits,
    sorted; with ``rows``, only the pairs holding one of those images (the others' pairs are
    never measured: the same rows as all pairs' that hold one of ``rows``). ``on_rows(n)``: told
    after each block of ``n`` rows measured, for a progress bar.

    The distance is the smaller of hash-to-hash and hash-to-mirrored-hash, so a mirrored copy is
    as close as a resized one. Matrix products in chunks, half the bits first
    (:func:`_at_least`): 6,000 images take well under a second.
    """
    readable = np.array([hash_tells(f) for f in facts])
    h = _signs([f.phash for f in facts])
    m = _signs([f.phash_mirror for f in facts])
    mine = _row_indices(len(facts), rows)
    others = np.ones(len(facts), dtype=bool)
    others[mine] = False  # a pair of two of ``mine`` is kept from its first image's row only
    found = [np.zeros((0, 3), dtype=np.int64)]
    for start in range(0, len(mine), chunk):
        index = mine[start : start + chunk]
        i, j, dist = _hashes_near(h, m, index, max_distance, all_rows=rows is None)
        keep = ((i < j) | others[j]) & readable[i] & readable[j]
        i, j, dist = i[keep], j[keep], dist[keep]
        found.append(np.stack([np.minimum(i, j), np.maximum(i, j), dist], 1))
        if on_rows:
            on_rows(len(index))
    pairs = np.concatenate(found)
    return pairs[np.lexsort((pairs[:, 1], pairs[:, 0]))]


def _hashes_near(
    h: np.ndarray, m: np.ndarray, index: np.ndarray, max_distance: int, all_rows: bool
):
    """Images ``i`` (of ``index``), ``j`` (of all) and their distance, for every pair within
    ``max_distance`` bits, each pair measured from its lower index: that image's hash against the
    other's hash and mirrored hash (not symmetric: a mirror's pHash is not its hash's bits
    mirrored). ``all_rows``: every row is measured, so the pairs to lower indices are never
    needed."""
    bits = h.shape[1]
    least = bits - 2 * max_distance  # a @ b at or above this: within max_distance bits
    at = [_at_least(h[index], h.T, least)]
    r, c, s = _at_least(h[index], m.T, least)
    after = c > index[r]
    at.append((r[after], c[after], s[after]))
    if not all_rows:
        r, c, s = _at_least(m[index], h.T, least)  # the other's hash against our mirror's
        before = c < index[r]
        at.append((r[before], c[before], s[before]))
    r, c, s = (np.concatenate(parts) for parts in zip(*at, strict=True))
    order = np.lexsort((-s, c, r))  # each pair's nearest first
    r, c, s = r[order], c[order], s[order]
    first = np.ones(len(r), dtype=bool)
    first[1:] = (r[1:] != r[:-1]) | (c[1:] != c[:-1])
    return index[r[first]], c[first], ((bits - s[first]) // 2).astype(np.int64)


def crop_pairs(
    facts: Sequence[ImageFacts],
    max_distance: int,
    chunk: int = 512,
    rows: Sequence[int] | np.ndarray | None = None,
    on_rows: Callable[[int], None] | None = None,
) -> np.ndarray:
    """(P, 2) rows ``i, j`` with i < j for every pair whose ``crop_distance`` is at most
    ``max_distance`` (with ``rows``, every such pair holding one of those images): one image's
    crop hashes against the other's whole hash (or its mirror's), as matrix products in blocks.
    Every image against every other: 6,000 images take a few seconds, 60,000 a hundred times
    that (``benchmarks/README.md``), hence ``on_rows(n)``, told after each block of ``n`` rows."""
    usable = np.array([hash_tells(f) and bool(f.crops) for f in facts])
    if len(facts) < 2 or not usable.any():
        return np.zeros((0, 2), dtype=np.int64)
    wholes = [_signs([f.phash for f in facts]).T, _signs([f.phash_mirror for f in facts]).T]
    crops = [
        (*_nth_bits([f.crops for f in facts], usable, c), wholes[mirrored_crop(c) :])
        for c in range(max(len(f.crops) for f in facts))
    ]
    return _probed_pairs(crops, usable, max_distance, chunk, rows, on_rows)


def reframed_pairs(
    facts: Sequence[ImageFacts],
    max_distance: int,
    chunk: int = 512,
    rows: Sequence[int] | np.ndarray | None = None,
    on_rows: Callable[[int], None] | None = None,
) -> np.ndarray:
    """(P, 2) rows ``i, j`` with i < j for every pair whose ``reframed_distance`` is at most
    ``max_distance`` (with ``rows``, every such pair holding one of those images), as
    ``crop_pairs`` finds its own: each turn's hash against the other's whole hash, the trimmed
    hash against the other's whole and trimmed hashes. ``on_rows`` as ``crop_pairs``'."""
    usable = np.array([hash_tells(f) for f in facts])
    if len(facts) < 2 or not usable.any():
        return np.zeros((0, 2), dtype=np.int64)
    whole = _signs([f.phash for f in facts]).T
    trimmed = np.array([u and f.trimmed != 0 for f, u in zip(facts, usable, strict=True)])
    inside = _packed([f.trimmed or f.phash for f in facts])
    turns = [f.turns for f in facts]
    probes = [(*_nth_bits(turns, usable, t), [whole]) for t in range(len(TURNS))]
    probes.append((inside, trimmed, [whole, _unpacked(inside).T]))
    return _probed_pairs(probes, usable, max_distance, chunk, rows, on_rows)


def _probed_pairs(
    probes: list,
    usable: np.ndarray,
    max_distance: int,
    chunk: int,
    rows: Sequence[int] | np.ndarray | None,
    on_rows: Callable[[int], None] | None,
) -> np.ndarray:
    """(P, 2) rows ``i < j`` of the ``usable`` images where a hash of one of ``probes`` (each
    image's bits, which images have it, the hashes of all it is compared with) is within
    ``max_distance`` bits of a hash it is compared with, in blocks of ``chunk`` rows (``rows``:
    those rows alone, each compared both ways), ``on_rows(n)`` told after each block."""
    least = HASH_SIZE * HASH_SIZE - 2 * max_distance  # a @ b at or above this: within reach
    mine = _row_indices(len(usable), rows)
    found = [np.zeros((0, 2), dtype=np.int64)]
    for start in range(0, len(mine), chunk):
        index = mine[start : start + chunk]
        near = _probes_near(probes, index, least, both_ways=rows is not None)
        block_rows, cols = np.nonzero(near)
        i = index[block_rows]
        keep = (i != cols) & usable[i] & usable[cols]
        found.append(np.stack([np.minimum(i, cols), np.maximum(i, cols)], 1)[keep])
        if on_rows:
            on_rows(len(index))
    return np.unique(np.concatenate(found), axis=0)


def _nth_bits(hashes: Sequence[tuple[int, ...]], usable: np.ndarray, n: int):
    """Each image's hash ``n`` of ``hashes`` (its crops, its turns) as :func:`_packed` bits (their
    signs are made a block at a time: 20 crops' signs of every image took 20 KiB an image, 1.2
    GiB at 60,000), and which images have one (usable, and with that many: facts measured with
    fewer crops are compared by the ones they have)."""
    have = np.array([u and len(h) > n for h, u in zip(hashes, usable, strict=True)])
    return _packed([h[n] if k else 0 for h, k in zip(hashes, have, strict=True)]), have


SIGN_ROWS = 4096
"""Crop hashes made signs at once when every image's are measured against a block's wholes."""


def _probes_near(probes, index: np.ndarray, least: float, both_ways: bool) -> np.ndarray:
    """(len(index), N): whether a probe (a crop, a turn) of image ``index[r]`` is near a whole
    of image c (when every row is measured, that covers the other way round too, over the
    blocks); ``both_ways``: or a probe of c near a whole of ``index[r]``. ``probes``: each
    one's bits (:func:`_packed`), which images have it, and the wholes it is compared with."""
    near = np.zeros((len(index), len(probes[0][1])), dtype=bool)
    for bits, have, wholes in probes:
        at = np.flatnonzero(have[index])  # the rows with this crop: all but a few
        block = _unpacked(bits[index[at]])
        for whole in wholes:
            rows, cols, _ = _at_least(block, whole, least)
            near[at[rows], cols] = True
        for start in range(0, len(bits) if both_ways else 0, SIGN_ROWS):
            crop = _unpacked(bits[start : start + SIGN_ROWS])
            for whole in wholes:
                rows, cols, _ = _at_least(crop, whole[:, index], least)
                rows += start
                near[cols[have[rows]], rows[have[rows]]] = True
    return near


def _at_least(a: np.ndarray, b: np.ndarray, least: float):
    """Rows, columns and values where ``a @ b >= least`` (``_signs`` rows against ``_signs``
    columns), exactly, in about half the time: the product over the first half of the bits, then
    the rest only where that half leaves the sum within reach (the second half adds at most its
    number of bits). Two hashes within 32 bits of 256 are within 32 of any 128; random ones,
    about 64 +- 6 of 128 apart, almost never are, so the rest is a few dot products. A limit
    that most pairs pass (a loose one: 72 bits) takes the other half's product whole."""
    half = a.shape[1] // 2
    first = a[:, :half] @ b[:half]
    reach = least - (a.shape[1] - half) - 0.5
    rows, cols = np.divmod(np.flatnonzero(first >= reach), first.shape[1])
    if len(rows) > first.size // 8:
        total = first + a[:, half:] @ b[half:]
        rows, cols = np.nonzero(total >= least - 0.5)
        return rows, cols, total[rows, cols]
    total = first[rows, cols] + np.einsum("ij,ji->i", a[rows, half:], b[half:, cols])
    keep = total >= least - 0.5
    return rows[keep], cols[keep], total[keep]


PAIR_PASSES = 3
"""The passes of ``split_pairs`` over the rows it measures: the whole hashes, the turned and
trimmed ones (``reframed_pairs``), the crops (``crop_pairs``)."""


def split_pairs(
    facts: Sequence[ImageFacts],
    rows: Sequence[int] | np.ndarray | None = None,
    on_row: Callable[[int, int], None] | None = None,
) -> list[tuple[int, int]]:
    """The pairs ``split`` keeps together: whole-image hashes within ``HASH_SPLIT`` bits, as
    they are or one image turned or trimmed (``reframed_distance``), or one image's whole hash
    within ``CROP_SPLIT`` bits of a crop hash of the other. With ``rows``, only the pairs
    holding one of those images (each measured as among all). ``on_row(done, total)``: the rows
    measured so far, for a progress bar (``total``: each row once a pass, ``PAIR_PASSES``;
    minutes with 60,000 images: every pair is measured)."""
    measured = _passes(PAIR_PASSES * len(_row_indices(len(facts), rows)), on_row)
    pairs = {
        (int(i), int(j)) for i, j, _ in hash_pairs(facts, HASH_SPLIT, rows=rows, on_rows=measured)
    }
    pairs |= {
        (int(i), int(j)) for i, j in reframed_pairs(facts, HASH_SPLIT, rows=rows, on_rows=measured)
    }
    for i, j in crop_pairs(facts, CROP_SPLIT, rows=rows, on_rows=measured):
        if crop_distance(facts[i], facts[j]) <= CROP_SPLIT:
            pairs.add((int(i), int(j)))
    return sorted(pairs)


def _passes(total: int, on_row: Callable[[int, int], None] | None) -> Callable[[int], None]:
    """``on_rows(n)`` for each pass in turn (the whole hashes', the turned and trimmed ones',
    the crops'): ``on_row(done, total)``."""
    done = [0]

    def measured(n: int) -> None:
        done[0] += n
        if on_row:
            on_row(done[0], total)

    return measured


def split_paired(a: ImageFacts, b: ImageFacts) -> bool:
    """Whether ``split_pairs`` pairs ``a`` with ``b`` where ``a`` comes first: whole hashes within
    ``HASH_SPLIT`` bits (``a``'s hash against ``b``'s and its mirror's: :func:`hash_distance`,
    which is not symmetric; or either turned or trimmed: :func:`reframed_distance`, which is),
    or a crop hash within ``CROP_SPLIT`` bits of the other's whole; never a nearly blank image
    (:func:`hash_tells`)."""
    if not (hash_tells(a) and hash_tells(b)):
        return False
    if min(hash_distance(a, b), reframed_distance(a, b)) <= HASH_SPLIT:
        return True
    return bool(a.crops) and bool(b.crops) and crop_distance(a, b) <= CROP_SPLIT


def candidate_pairs(
    facts: Sequence[ImageFacts],
    rows: Sequence[int] | np.ndarray | None = None,
    on_row: Callable[[int, int], None] | None = None,
) -> np.ndarray:
    """(P, 2) rows ``i, j`` with i < j of every pair ``split_pairs`` pairs in one order of the two
    images or the other (:func:`split_paired` decides for one order): what ``objrec.near_pairs``
    keeps, measured in one folder's order of the images, decided again in another's. With
    ``rows``, those holding one of those images; ``on_row`` as ``split_pairs``'. As fast as
    ``split_pairs``: the same products, kept either way round."""
    measured = _passes(PAIR_PASSES * len(_row_indices(len(facts), rows)), on_row)
    wholes = _whole_candidates(facts, rows, measured)
    reframed = reframed_pairs(facts, HASH_SPLIT, rows=rows, on_rows=measured)
    crops = crop_pairs(facts, CROP_SPLIT, rows=rows, on_rows=measured)
    near = [crop_distance(facts[i], facts[j]) <= CROP_SPLIT for i, j in crops]
    found = [wholes, reframed, crops[np.array(near, dtype=bool)]]
    return np.unique(np.concatenate(found), axis=0)


def _whole_candidates(
    facts: Sequence[ImageFacts],
    rows: Sequence[int] | np.ndarray | None,
    on_rows: Callable[[int], None],
    chunk: int = 256,
) -> np.ndarray:
    """(P, 2) rows i < j whose whole hashes are within ``HASH_SPLIT`` bits either way round: one's
    hash against the other's hash or mirrored hash. Every row measured: each row's hash against
    every hash and mirror covers both ways; with ``rows``, their mirrors against every hash too."""
    readable = np.array([hash_tells(f) for f in facts])
    h = _signs([f.phash for f in facts])
    m = _signs([f.phash_mirror for f in facts])
    products = [(h, h), (h, m)] + ([(m, h)] if rows is not None else [])
    least = HASH_SIZE * HASH_SIZE - 2 * HASH_SPLIT
    mine = _row_indices(len(facts), rows)
    found = [np.zeros((0, 2), dtype=np.int64)]
    for start in range(0, len(mine), chunk):
        index = mine[start : start + chunk]
        for a, b in products:
            r, c, _ = _at_least(a[index], b.T, least)
            i = index[r]
            keep = (i != c) & readable[i] & readable[c]
            found.append(np.stack([np.minimum(i, c), np.maximum(i, c)], 1)[keep])
        on_rows(len(index))
    return np.concatenate(found)


def linked_pairs(facts: Sequence[ImageFacts], start: Sequence[int]) -> list[tuple[int, int]]:
    """``split_pairs`` among the images linked to ``start`` (directly or through others): all
    the groups of ``start`` need, measuring only those images against the rest, never the pairs
    among the others. The images found near ``start`` are measured in turn, until no new one
    comes: each image of a group then has every pair it is in, so its groups are as all pairs
    make them."""
    seen = np.zeros(len(facts), dtype=bool)
    todo = _row_indices(len(facts), start)
    pairs: set[tuple[int, int]] = set()
    while len(todo):
        seen[todo] = True
        found = split_pairs(facts, rows=todo)
        pairs.update(found)
        ends = np.array(found, dtype=np.int64).ravel()
        todo = np.unique(ends[~seen[ends]])
    return sorted(pairs)


def normalise(features: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(features, axis=1, keepdims=True)
    return (features / np.maximum(norms, 1e-12)).astype(np.float32)


class Neighbours(NamedTuple):
    """Each row's nearest other rows: cosine similarities and indices, (N, k), nearest first."""

    sims: np.ndarray
    idx: np.ndarray


def feature_neighbours(unit: np.ndarray, k: int = NEIGHBOURS) -> Neighbours:
    """Cosine similarities and indices of each row's ``k`` nearest other rows (scikit-learn)."""
    from sklearn.neighbors import NearestNeighbors

    k = min(k, len(unit) - 1)
    if k < 1:
        return Neighbours(np.zeros((len(unit), 0), np.float32), np.zeros((len(unit), 0), np.int64))
    index = NearestNeighbors(n_neighbors=k + 1, metric="euclidean").fit(unit)
    dist, idx = index.kneighbors(unit)
    # Each row's own entry goes, not its first: of identical rows the copy may come first.
    own = idx == np.arange(len(unit))[:, None]
    own[~own.any(1), -1] = True
    others = ~own
    shape = (len(unit), k)
    return Neighbours(1 - dist[others].reshape(shape) ** 2 / 2, idx[others].reshape(shape))


@dataclass(frozen=True)
class Pair:
    i: int
    j: int
    similarity: float
    hash_distance: int
    """Bits between their whole hashes as they are, mirrored, turned or trimmed (the fewest:
    :func:`hash_distance`, :func:`reframed_distance`)."""
    crop_distance: int
    look_alike: bool = False
    """Only alike (``DuplicateRule.look_alike``, or ``kept_by_split``), not a near-duplicate."""
    kept_by_split: bool = False
    """``split_pairs`` pairs them: ``split`` keeps them in one split."""


def pair_key(i: int, j: int) -> tuple[int, int]:
    """Two images' key in a map of pairs (an audit group row's ``_pairs``), lower index first."""
    return min(i, j), max(i, j)


def hash_distance(a: ImageFacts, b: ImageFacts) -> int:
    return min(int(a.phash ^ b.phash).bit_count(), int(a.phash ^ b.phash_mirror).bit_count())


def crop_distance(a: ImageFacts, b: ImageFacts) -> int:
    """Bits between one image's whole hash (or its mirror's) and a centre-crop hash of the other:
    small when one is a centre crop of the other (``HASH_SIZE ** 2`` when there are no crops)."""
    distances = [
        int(whole ^ crop).bit_count()
        for x, y in ((a, b), (b, a))
        for c, crop in enumerate(y.crops)
        for whole in (x.phash, x.phash_mirror)[mirrored_crop(c) :]
    ]
    return min(distances, default=HASH_SIZE * HASH_SIZE)


def reframed_distance(a: ImageFacts, b: ImageFacts) -> int:
    """Bits between one image turned (:attr:`ImageFacts.turns`) and the other's whole hash, or
    one trimmed (:attr:`ImageFacts.trimmed`) and the other whole or trimmed, either way round:
    small when one is the other stored sideways, or letterboxed (``HASH_SIZE ** 2`` when
    neither is measured)."""
    distances = [
        int(probe ^ target).bit_count()
        for x, y in ((a, b), (b, a))
        for probe, targets in _reframed_probes(x, y)
        for target in targets
    ]
    return min(distances, default=HASH_SIZE * HASH_SIZE)


def _reframed_probes(x: ImageFacts, y: ImageFacts) -> list[tuple[int, tuple[int, ...]]]:
    """``x``'s turned and trimmed hashes, each with the hashes of ``y`` it is compared with."""
    probes: list[tuple[int, tuple[int, ...]]] = [(turn, (y.phash,)) for turn in x.turns]
    if x.trimmed:
        probes.append((x.trimmed, (y.phash, y.trimmed or y.phash)))
    return probes


def duplicate_pairs(
    unit: np.ndarray,
    facts: Sequence[ImageFacts],
    rule: DuplicateRule = DuplicateRule(),
    near: Neighbours | None = None,
) -> list[Pair]:
    """Every pair that ``rule`` calls near-duplicates or look-alikes (``Pair.look_alike``), from
    feature neighbours (``near``, else computed) and from hash neighbours: among them every pair
    ``split`` keeps together (``split_pairs``, ``Pair.kept_by_split``), by split's own rule."""
    sims, idx = near if near is not None else feature_neighbours(unit)
    candidates = {
        (min(i, int(j)), max(i, int(j)))
        for i in range(len(unit))
        for j, s in zip(idx[i], sims[i], strict=True)
        if s >= rule.sim_candidate
    }
    kept = set(split_pairs(facts))  # every pair within HASH_SPLIT bits among them
    candidates |= kept
    if rule.hash_strict > HASH_SPLIT:
        candidates |= {(int(i), int(j)) for i, j, _ in hash_pairs(facts, rule.hash_strict)}
    pairs = []
    for i, j in sorted(candidates):
        if facts[i].error or facts[j].error:
            continue
        a, b, split = facts[i], facts[j], (i, j) in kept
        whole, crop = hash_distances(a, b)
        pair = Pair(i, j, float(unit[i] @ unit[j]), whole, crop)
        pair = replace(pair, kept_by_split=split)
        if rule.duplicate(pair.similarity, pair.hash_distance, pair.crop_distance):
            pairs.append(pair)
        elif rule.look_alike(pair.similarity, pair.hash_distance) or (split and rule.kept_by_split):
            pairs.append(replace(pair, look_alike=True))
    return pairs


def hash_distances(a: ImageFacts, b: ImageFacts) -> tuple[int, int]:
    """The bits between ``a`` and ``b``'s whole hashes (as they are, turned or trimmed) and
    between a crop of one and the other's whole: ``HASH_SIZE ** 2`` both where either image is
    nearly blank, its hash telling nothing (:func:`hash_tells`)."""
    if not (hash_tells(a) and hash_tells(b)):
        return HASH_SIZE * HASH_SIZE, HASH_SIZE * HASH_SIZE
    return min(hash_distance(a, b), reframed_distance(a, b)), crop_distance(a, b)


def groups_of(n: int, pairs: Sequence[tuple[int, int]]) -> list[list[int]]:
    """Connected components (of size two or more) of the graph whose edges are ``pairs``."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    if not len(pairs):
        return []
    rows, cols = np.array(pairs, dtype=np.int64).T
    graph = coo_matrix((np.ones(len(rows)), (rows, cols)), shape=(n, n))
    _, component = connected_components(graph, directed=False)
    members: dict[int, list[int]] = {}
    for index, c in enumerate(component):
        members.setdefault(int(c), []).append(index)
    return sorted((m for m in members.values() if len(m) > 1), key=lambda m: m[0])

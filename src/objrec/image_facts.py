"""What one image is measured to be (:class:`ImageFacts`): its size, its contrast and its
perceptual hashes, from one cheap decode (reduced: ``DRAFT``).

The hashes are imagehash's pHash of 256 bits (``HASH_SIZE``): of the image and of its mirror, of
its centre crops (``CROP_KEEP``) and of it with a strip cut off one edge (``EDGE_CUTS``), of it
turned a quarter, a half and three quarters of a turn (``TURNS``), and of it with its flat border
trimmed (:func:`trimmed_hash`). ``objrec.dedup`` compares them to find copies of one picture;
``check`` and ``audit`` read the size and contrast (a tiny or nearly blank image). Measured in
worker processes (:func:`all_facts`), from the bytes that hash to each file's content digest
(:func:`hashed_facts`), and kept by that digest in ``objrec.facts_store`` under
:func:`facts_key`: facts measured another way are measured again.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from objrec.file_index import read_as_indexed
from objrec.images import (
    COUNTED,
    IMAGE_ERRORS,
    PIXEL_RULES,
    UPRIGHT,
    UnreadableImageError,
    decoder_versions,
    open_image,
)
from objrec.processes import each_file

HASH_SIZE = 16
"""pHash side: 16 x 16 = 256 bits. The common 8 x 8 (64 bits) puts different photos of one kind on a
plain background (Caltech-101's side-view motorbikes) within 2-6 bits of each other, as close as
re-saved copies; at 256 bits they stay 34 bits or more apart (``benchmarks/README.md``)."""


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
CENTRE_CROPS = 2 * len(CROP_KEEP)
"""How many of an image's crop hashes (:attr:`ImageFacts.crops`) are of its centre crops and
their mirrors, which come first: ``dedup.crop_distance`` compares them with another image's
trimmed hash too."""
CROP_COUNT = CENTRE_CROPS + 4 * len(EDGE_CUTS)
"""How many crop hashes ``image_facts`` takes of an image."""


def mirrored_crop(c: int) -> bool:
    """Whether crop hash ``c`` of :attr:`ImageFacts.crops` is of a mirrored centre crop, which
    ``dedup.crop_distance`` compares with the other image's mirrored whole hash only. Against its
    whole hash it measures what its mirrored whole hash against the centre crop does (the pair
    with one image mirrored, each pHash taken after the mirror): on the 100-class Caltech-101
    protocol it found no pair the other missed, and was 4 of ``dedup.crop_pairs``' 40 matrix
    products
    (``benchmarks/README.md``, "Centre crops between the scales"). Against the mirrored whole it
    stays: there it found 4 pairs the centre crop against the whole missed by 2-4 bits."""
    return c < CENTRE_CROPS and c % 2 == 1


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


def unreadable_facts(path: Path, exc: OSError) -> ImageFacts:
    """The facts of a file the operating system would not read (EIO on a bad sector, EACCES, a
    cloud placeholder): an unreadable image, worded as :func:`image_facts` words one, so that a
    split or an add leaves it out and names it, as ``check`` promises, rather than stop."""
    return ImageFacts(error=f"{path}: {IMAGE_ERRORS['cannot_read'].format(reason=why(exc))}")


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
"""The size a JPEG reduced under it is decoded at again to trim its border: at ``DRAFT`` a 300-pixel
photo is 75 pixels, and the half-pixel its bars' edge falls on moved the trimmed hash of a
letterboxed copy past ``dedup.HASH_SPLIT`` from its photo for 12 of 100 Caltech-101 photos (3 of 100
at this size: those whose own edge is of the bars' colour and was trimmed with them). A phone's
photo is reduced by 8 at most, to 375 pixels or more: not decoded again."""


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

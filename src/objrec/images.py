"""Opening images robustly, shared by every stage: mode, EXIF orientation, bad files, huge files.

Listing image folders is ``listing``'s job, a file's warnings once per command ``warned``'s, and
pillow-heif's opener ``heif``'s.
"""

from __future__ import annotations

import io
import os
import re
import struct
import warnings
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import BinaryIO

import numpy as np
from PIL import Image, ImageOps, JpegImagePlugin, UnidentifiedImageError

from objrec.errors import ObjrecError
from objrec.heif import (
    heif_decodes,
    heif_format,
    heif_kind,
    heif_plugin_version,
    register_heif_plugin,
)
from objrec.warned import warn_once
from objrec.words import plural, quoted

IMAGE_EXTENSIONS = frozenset(
    {".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm"}
    | {".pgm", ".heic", ".heif", ".avif"}
)
"""HEIC (an iPhone's photos) and AVIF are listed whether or not this Pillow decodes them (AVIF
in recent Pillows, HEIC only with pillow-heif installed: :func:`register_heif_plugin`), so that a
photo objrec cannot read is named with the reason, never silently left out."""
MAX_PIXELS = 89_478_485
"""The most pixels objrec decodes from one file: PIL's own decompression-bomb threshold (about
9,500 x 9,500, 0.36 GB as Pillow holds RGB, in 4 bytes a pixel). Larger images are refused before
their pixels are decoded, counted as training decodes them: a JPEG read at a reduced scale
(``draft_size``) counts at the scale the default backbone's training reads it at
(:data:`LIMIT_SIDE`), so a 108-megapixel phone photo (12,000 x 9,000) counts 1/8 of its sides,
1,500 x 1,125 pixels. PIL itself refuses any image over twice this many pixels from its header,
before a scale can be chosen: objrec opens a file's baseline JPEG that large all the same, and
decodes it reduced (:func:`open_file`)."""
LIMIT_SIDE = 274
"""The side a JPEG decoded reduced counts at against the pixel limit (:func:`counted_size`),
whatever scale a command decodes it at: the scale the default backbone's training decodes it at
(``transforms.draft_size`` of its data config: 274 pixels a side, the other framing of its
240-pixel input). ``check`` and ``split`` decode a JPEG at 64 pixels a side to look at it, train
at its backbone's size: counting the pixels each decoded, ``check`` would pass images ``train``
then refuses. Counted alike, every command refuses the same files. A
backbone of larger inputs decodes a JPEG at up to twice this side (4 times the pixels counted)."""
MAX_PIXELS_VARIABLE = "OBJREC_MAX_PIXELS"
"""The environment variable that sets another limit than :data:`MAX_PIXELS` for the images of a
folder (an inspection camera's 150-megapixel TIFF), or a lower one (:func:`pixel_limit`); ``serve``
takes it for its uploads too, read when it starts."""
TOO_LARGE_HINT = f"downscale it, or raise the limit with {MAX_PIXELS_VARIABLE} (docs/folders.md)"
"""What to do about a file over the limit, said after why it is refused."""
IMAGE_ERRORS = {
    "cannot_read": "cannot read image ({reason})",
    "not_image": "not a recognised image format",
    "empty": "empty file, 0 bytes",
    "decompression_bomb": "{pixels} pixels is over the limit of {limit:,} pixels",
    "over_limit": "{width}x{height} pixels is over the limit of {limit:,} pixels",
    "too_large_hint": TOO_LARGE_HINT,
    "missing": "no such file or folder",
    "broken_link": "a link to {target}, which is not there (moved or deleted since it was linked)",
    "not_image_file": "not an image file objrec reads ({suffix})",
    "no_images": "no image files in this folder",
    "heif_unreadable": "{a} {kind} image Pillow cannot read (damaged or unsupported)",
    "avif_no_decoder": "an AVIF image, which Pillow cannot decode here: convert it to JPEG or PNG",
    "heif_no_decoder": "a {kind} image, which needs pillow-heif to be read: `pip install "
    "pillow-heif`, or convert it to JPEG or PNG",
    "truncated": "the file is truncated, cut short as an unfinished copy or download leaves it",
    "webp_cut": "a WebP file cut short or damaged, as an unfinished copy or download leaves it",
}
"""objrec's words for an input it cannot read, in one place: ``predict``'s errors (``{...}`` filled
in with ``str.format``), and those of the script ``export`` writes, which it writes in
(``export.exporter.script_text``), so that the script says what ``predict`` says of the same
file."""


TRUNCATED = re.compile(r"image file is truncated\b|truncated file read$", re.IGNORECASE)
"""Pillow's words for a file that ends before its image does, said in objrec's instead
(``IMAGE_ERRORS["truncated"]``): "image file is truncated (11 bytes not processed)" counts the
bytes it had left to decode, not those missing, and made a JPEG lacking 40% of its bytes sound
a small matter; "Truncated File Read" (a header cut short, a JPEG's, PNG's or BMP's) named no
cause. The script export writes holds a copy (``export.script.TRUNCATED``)."""
WEBP_CUT = "could not create decoder object"
"""Pillow's words for a WebP file cut short (any cut: its pixels, its header), said in objrec's
instead (``IMAGE_ERRORS["webp_cut"]``) of a file with a WebP head (:func:`is_webp`), as a cut
JPEG, PNG or GIF is said to be truncated. The script export writes holds a copy
(``export.script.WEBP_CUT``)."""


def is_webp(head: bytes | None) -> bool:
    """Whether ``head``, a file's first 12 bytes, is a WebP file's (RIFF, then WEBP)."""
    return head is not None and head[:4] == b"RIFF" and head[8:12] == b"WEBP"


PILLOW_PIXELS = re.compile(r"\((\d+) pixels\)")
"""The pixel count in Pillow's ``DecompressionBombError`` ("Image size (2500000000 pixels)
exceeds limit of 178956970 pixels, could be decompression bomb DOS attack.")."""


def bomb_reason(exc: Exception, limit: int) -> str:
    """objrec's words for an image Pillow's own guard refused from its header (over twice
    ``Image.MAX_IMAGE_PIXELS``): its pixels, which Pillow's message counts, over ``limit``, as
    :func:`_check_size` says it of a smaller image. Pillow's sentence put its own limit beside
    objrec's, and "could be decompression bomb DOS attack" to whoever sent a large scan."""
    found = PILLOW_PIXELS.search(str(exc))
    guard = 2 * (Image.MAX_IMAGE_PIXELS or limit)
    pixels = f"{int(found[1]):,}" if found else f"more than {guard:,}"
    return IMAGE_ERRORS["decompression_bomb"].format(pixels=pixels, limit=limit)


def pixel_limit() -> int:
    """The most pixels objrec decodes from one file: :data:`MAX_PIXELS`, or the environment's
    :data:`MAX_PIXELS_VARIABLE` when set. A higher limit raises Pillow's decompression-bomb
    guard with it (``Image.MAX_IMAGE_PIXELS``, which refuses twice its value from a file's
    header), unless a caller disabled or raised it already."""
    text = os.environ.get(MAX_PIXELS_VARIABLE, "").strip()
    if not text:
        return MAX_PIXELS
    try:
        limit = int(text.replace(",", ""))
    except ValueError:
        limit = 0
    if limit < 1:
        raise ObjrecError(
            f"{MAX_PIXELS_VARIABLE}={text} is not a number of pixels: set it to a whole number "
            f"such as 200000000, or unset it for the default, {MAX_PIXELS:,}"
        )
    pillows = Image.MAX_IMAGE_PIXELS
    if pillows is not None and pillows < limit:
        Image.MAX_IMAGE_PIXELS = limit
    return limit


_QUIET_PILLOW = (
    ("", Image.DecompressionBombWarning, ""),
    (
        r"(possibly )?corrupt exif data|truncated file read|tag data larger than file|tag offset",
        UserWarning,
        r"PIL\.TiffImagePlugin",
    ),
)
"""Pillow's warnings that objrec gives better itself: ``_check_size`` refuses what PIL would only
warn about, so its warning says nothing more; damaged EXIF data is named with its file, once
(``_warn_damaged_exif``), where Pillow's warnings name none. They are ignored process-wide
(:func:`quiet_pillow`): a ``catch_warnings`` around each open changes a process-wide filter, and on
the threads that decode images it turned the warning into an exception in another thread."""


def quiet_pillow() -> None:
    """Ignore :data:`_QUIET_PILLOW`'s warnings, unless already ignored: called at import and at
    every open, since a ``catch_warnings`` block (pytest's around each test, a caller's) drops
    filters added within it when it ends. A check of the list, not a new filter each time: adding
    one resets every module's record of warnings already shown."""

    def text(pattern) -> str:  # a compiled pattern, a string (Python's own filters) or None
        return getattr(pattern, "pattern", pattern) or ""

    present = {(f[0], text(f[1]), f[2], text(f[3])) for f in warnings.filters}
    for message, category, module in _QUIET_PILLOW:
        if ("ignore", message, category, module) not in present:
            warnings.filterwarnings("ignore", message, category, module)


quiet_pillow()
JPEG_FORMATS = ("JPEG", "MPO")
"""PIL's names for a JPEG: MPO is one with more pictures after the first (a gain map, a depth
map: many phones' photos), which PIL decodes, and reduces in draft mode, as any JPEG."""
PIXEL_RULES = 3
"""The version of the pixels objrec makes of a file (``open_image`` and a view's first resize), part
of the feature store's keys and of the image facts' (``store.space_id``, ``image_facts.FACTS_KEY``):
rows computed from pixels that a later objrec makes differently are never read again, but computed
anew. Change it whenever an image objrec read before comes out with other pixels. 2: 32-bit TIFFs
scaled by their own range, MPO JPEGs decoded reduced as any JPEG, strips over 20:1 cut to their
centre before the resize (rows stored before these changes were reused for such images). 3: the
transparent colour of an RGB or grey PNG (its tRNS chunk) over white, as a palette's was. An image
it comes to read that it refused before is ``store.DECODE_RULES``'s business."""


_TIFF_TYPE_SIZES = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8}
"""Bytes per value of each TIFF field type (BYTE, ASCII, SHORT, LONG, RATIONAL, ...), as in EXIF."""


class UnreadableImageError(ObjrecError):
    """An image file that cannot be decoded, or is too large to decode safely (``too_large``)."""

    def __init__(self, name: str, reason: str, too_large: bool = False):
        super().__init__(f"{name}: {reason}")
        self.name, self.reason, self.too_large = name, reason, too_large

    def __reduce__(self):
        """Pickled as made (a worker process's decode sends it back: ``processes.each_file``);
        ``Exception``'s own pickling made it again from its message alone, and failed."""
        return type(self), (self.name, self.reason, self.too_large)


def decoder_gone(path: Path) -> bool:
    """Whether ``path`` is a HEIC or HEIF photo this Python cannot decode (pillow-heif not
    installed, or installed but unusable): what was kept by its content where pillow-heif read it
    (its image facts, its feature rows) must not make it usable here, where ``check`` and
    ``predict`` refuse it. Reads the file's first bytes; pillow-heif is imported only for such a
    file."""
    return decoder_gone_reason(path) is not None


def decoder_gone_reason(path: Path) -> str | None:
    """Why :func:`open_image` refuses ``path`` (its ``reason``) when :func:`decoder_gone`, else
    None: what a reader of kept features says of such a photo, as computing them would. Where
    HEIC decodes (:func:`heif_decodes`) nothing can be gone, and the file is not read: a check
    after a split opened every image for its first 12 bytes (a file open each on a network
    share)."""
    if heif_decodes():
        return None
    return kind_gone_reason(heif_kind(_head(path) or b""))


def kind_gone_reason(kind: str) -> str | None:
    """:func:`decoder_gone_reason` of a file of ``kind`` (:func:`heif_kind`), read already."""
    if kind not in ("HEIC", "HEIF") or "HEIF" in image_formats() or register_heif_plugin():
        return None
    return IMAGE_ERRORS["cannot_read"].format(reason=_heif_reason(kind))


def decoder_missing(error: str) -> str | None:
    """HEIC or HEIF when ``error`` (an unreadable file's) says its kind needs pillow-heif, which is
    not installed: a photo to have read, not a damaged file."""
    for kind in ("HEIC", "HEIF"):
        if IMAGE_ERRORS["heif_no_decoder"].format(kind=kind) in error:
            return kind
    return None


PAGED_EXTENSIONS = frozenset({".tif", ".tiff", ".gif", ".webp"})
"""Extensions of the formats that hold several pages or frames in one file (a TIFF scan's pages,
an animated GIF or WebP): only the first is read (:func:`open_image`), and :func:`frame_count`
tells how many there are. Not a PNG (an animated one is rare among photos, and its header
opened again on every ``check`` of a folder of PNGs, which a second check otherwise never
reads), nor a JPEG (an MPO's further pictures, a gain or depth map, are no photos of their
own)."""


def frame_count(path: Path) -> int:
    """How many pages or frames ``path`` holds, of which every command reads only the first: a
    museum's multi-page TIFF is often several objects or views in one scan, the others never
    trained on nor answered, which ``check`` names. Read from the file's headers, no pixels
    decoded; 1 for a file of another extension (:data:`PAGED_EXTENSIONS`), or one whose frames
    cannot be counted (its decode says what is wrong)."""
    if path.suffix.lower() not in PAGED_EXTENSIONS:
        return 1
    return frames_in(path)


def frames_in(source: Path | bytes) -> int:
    """How many pages or frames the image file ``source`` (a path, or its bytes: an upload)
    holds, from its headers (an animated PNG's too); 1 where they cannot be counted."""
    try:
        opened = Image.open(io.BytesIO(source) if isinstance(source, bytes) else source)
        with warnings.catch_warnings(), opened as img:
            warnings.simplefilter("ignore")
            return int(getattr(img, "n_frames", 1))
    except (OSError, ValueError, SyntaxError, EOFError, Image.DecompressionBombError):
        return 1


def first_pages_only(paths: Sequence[Path], used: str, shown: Callable[[Path], str] = str) -> str:
    """One sentence of those of ``paths`` that hold several pages or frames (:func:`frame_count`),
    their count and one named (``shown(path)``, as the command names its files), of which
    ``used`` ("answered", "copied and trained on") only the first; "" where none does: a TIFF
    scan's other pages, an animation's other frames, are read by no command, which ``check``
    notes and the commands that read such a file say once a run (words64)."""
    paged = [(path, n) for path in paths if (n := frame_count(path)) > 1]
    if not paged:
        return ""
    path, n = paged[0]
    pages = "pages" if path.suffix.lower() in (".tif", ".tiff") else "frames"
    named = f"{quoted(shown(path))}, {n} {pages}" + (", ..." if len(paged) > 1 else "")
    return (
        f"{plural(len(paged), 'image')} of several pages or frames ({named}): only the first "
        f"page or frame of each is {used}"
    )


def open_image(
    source: str | Path | bytes,
    draft_size: int | None = None,
    name: str | None = None,
    max_pixels: int | None = None,
    from_file: bool = False,
) -> Image.Image:
    """Open an image file (or the bytes of one) as an upright RGB image, its ``info`` holding
    :data:`COUNTED`, :data:`DAMAGED_EXIF` and :data:`UPRIGHT`.

    Args:
        source: the image file, or its bytes (e.g. an upload).
        draft_size: when given, JPEGs (MPO ones too) decode at the smallest power-of-two reduction
            keeping both sides at least this large: several times faster for big photos.
        name: what to call ``source`` in error messages (default: its path, or "upload").
        max_pixels: serve's limit: refuse before decoding an image needing more memory than an RGB
            image of this many pixels at the size it decodes (:func:`bytes_to_decode`: a 32-bit
            grey or transparent one, over twice that), besides every command's rule, always
            applied: :func:`pixel_limit` pixels of any kind counted at :func:`counted_size`, or
            ``max_pixels`` where higher (objrec's own photo, serve's first), Pillow's guard too.
        from_file: ``source`` is the bytes of the file ``name``, read by a caller that keys
            something by them (the feature store): decoded exactly as that file would be (a large
            baseline JPEG reduced, a damaged EXIF warned about once per file), not as an upload.

    Raises:
        UnreadableImageError: the file is missing, empty, truncated, not an image, or over
            ``MAX_PIXELS`` pixels."""
    label = name or ("upload" if isinstance(source, bytes) else str(source))
    quiet_pillow()
    shared = pixel_limit()  # before Pillow opens it: it may raise Pillow's guard
    limit = max_pixels or shared
    hint = "" if max_pixels else f": {IMAGE_ERRORS['too_large_hint']}"  # serve's: its own words
    stream = io.BytesIO(source) if isinstance(source, bytes) else Path(source)
    try:
        with open_file(stream, from_file) as img:
            whole = img.size  # before any reduction
            counted = _checked_size(label, img, draft_size, max(shared, limit), hint, max_pixels)
            img.load()
            rgb = _upright_rgb(img, whole, label, label if from_file else source)
            rgb.info[COUNTED] = counted[0] * counted[1]
            return rgb
    except Image.DecompressionBombError as exc:
        reason = bomb_reason(exc, limit) + hint
        raise UnreadableImageError(label, reason, too_large=True) from exc
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        reason = IMAGE_ERRORS["cannot_read"].format(reason=_reason(exc, _head(source)))
        raise UnreadableImageError(label, reason) from exc


def _checked_size(
    label: str,
    img: Image.Image,
    draft_size: int | None,
    limit: int,
    hint: str,
    max_pixels: int | None,
) -> tuple[int, int]:
    """Refuse ``img`` (opened, not decoded), given ``max_pixels`` (serve's), of more than the
    memory that many RGB pixels take at the size it decodes at (a backbone of larger inputs
    decodes a JPEG larger), or of more than ``limit`` pixels counted as every command counts
    them (:func:`counted_size`); else have it decode at ``draft_size`` (:func:`reduce_jpeg`) and
    return the size counted."""
    counted = counted_size(img, draft_size)
    reduce_jpeg(img, draft_size)
    if max_pixels:  # first: the server's own limit, which its 413 names
        _check_size(label, img, max_pixels, as_rgb=True)
    _check_size(label, img, limit, hint, size=counted)
    return counted


def _upright_rgb(
    img: Image.Image, whole: tuple[int, int], label: str, source: str | Path | bytes
) -> Image.Image:
    """``img`` (decoded) turned upright by its EXIF orientation and made RGB, its size before any
    reduction (``whole``) upright and why its EXIF data is damaged (warned about, once per file:
    ``source``) in its ``info``."""
    exif = img.info.get("exif") or b""  # as read: turning the image rewrites it
    upright = upright_size(img, whole)  # before exif_transpose drops the orientation
    ImageOps.exif_transpose(img, in_place=True)  # a copy held the pixels twice
    damage = _warn_damaged_exif(exif, label, source)
    rgb = _to_rgb(img, img.format)
    rgb.info |= {DAMAGED_EXIF: damage or "", UPRIGHT: upright}
    return rgb


def upright_size(img: Image.Image, size: tuple[int, int]) -> tuple[int, int]:
    """``size`` (``img``'s, opened, before any reduction) upright: its sides swapped where its
    EXIF orientation turns it a quarter turn, as ``ImageOps.exif_transpose`` reads it."""
    turned = img.getexif().get(ORIENTATION, 1) in QUARTER_TURNS
    return (size[1], size[0]) if turned else size


def reduce_jpeg(img: Image.Image, draft_size: int | None) -> None:
    """Have ``img`` (opened, not decoded) decode at the smallest power-of-two reduction that keeps
    both sides at least ``draft_size`` when it is a JPEG (an MPO one too); its ``size`` is then
    what it decodes into, the pixels the limit counts."""
    if draft_size and img.format in JPEG_FORMATS:
        img.draft("RGB", (draft_size, draft_size))


COUNTED = "objrec_counted"
"""The key of the image :func:`open_image` returns' ``info`` that holds the pixels the limit
counted it at (:func:`counted_size`): what the feature store keeps with its row."""
DAMAGED_EXIF = "objrec_damaged_exif"
"""... that holds why its EXIF data is damaged (:func:`exif_damage`), "" where it is not: what
``check`` keeps, to warn again without decoding it (:func:`warn_damaged_exif`)."""
UPRIGHT = "objrec_upright"
"""... that holds the image's whole size (width, height), upright as it is decoded (its EXIF
orientation applied), whatever it was decoded reduced to: what :func:`image_size` reads of the
file's header, without a second read of the file (``image_facts.image_facts``)."""
ORIENTATION = 0x0112
"""The EXIF tag of an image's orientation."""
QUARTER_TURNS = (5, 6, 7, 8)
"""The orientations that turn an image a quarter turn, one way or the other: its sides swap."""


def counted_size(img: Image.Image, draft_size: int | None) -> tuple[int, int]:
    """The size the pixel limit counts ``img`` (opened, not decoded) at, as a file: a JPEG to be
    decoded reduced (``draft_size``) at the reduction libjpeg's draft mode picks for
    :data:`LIMIT_SIDE` (1/2, 1/4 or 1/8, as ``JpegImageFile.draft`` picks it), whatever
    ``draft_size``; any other image, or one decoded whole, at its size."""
    width, height = img.size
    if not draft_size or img.format not in JPEG_FORMATS or len(getattr(img, "tile", ())) != 1:
        return width, height
    fits = min(width // LIMIT_SIDE, height // LIMIT_SIDE)
    scale = next(s for s in (8, 4, 2, 1) if fits >= s or s == 1)
    return -(-width // scale), -(-height // scale)


def counted_pixels(path: Path) -> int | None:
    """The pixels the limit counts the image at ``path`` at (:func:`counted_size`, as decoded
    reduced for a model), read from the file's header; None when it cannot be opened now. For the
    feature store's rows kept before it kept them (``features.within_pixel_limit``)."""
    quiet_pillow()
    pixel_limit()  # Pillow's guard raised with objrec's limit, as open_image raises it
    try:
        with open_file(Path(path)) as img:
            width, height = counted_size(img, LIMIT_SIDE)
            return width * height
    except Image.DecompressionBombError as exc:  # over twice Pillow's guard: its count
        found = PILLOW_PIXELS.search(str(exc))
        return int(found[1]) if found else None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        return None


def over_limit_reason(path: Path, pixels: int, limit: int) -> str:
    """Why the image at ``path``, counted at ``pixels``, is refused under ``limit``, in the words
    :func:`open_image` refuses it in: its counted size, from its header (one read: only images
    refused unopened, by the feature store's count, are); its count where the header says another
    (the file changed since) or cannot be read."""
    quiet_pillow()
    width = height = 0
    try:
        with open_file(Path(path)) as img:
            width, height = counted_size(img, LIMIT_SIDE)
    except (Image.DecompressionBombError, UnidentifiedImageError, OSError, SyntaxError, ValueError):
        pass  # its count said instead
    if width * height == pixels:
        reason = IMAGE_ERRORS["over_limit"].format(width=width, height=height, limit=limit)
    else:
        reason = IMAGE_ERRORS["decompression_bomb"].format(pixels=f"{pixels:,}", limit=limit)
    return f"{reason}: {TOO_LARGE_HINT}"


def unidentified_reason(source: Path | bytes) -> str | None:
    """Why the file at ``source`` (or its bytes) is no image, from its header alone, in
    :func:`open_image`'s words (an empty file, not a recognised image format, a HEIC with no
    decoder here); None when Pillow identifies it, or when opening it fails otherwise (its decode
    then says why). Nothing decoded: predict's check of an input before the model loads."""
    quiet_pillow()
    pixel_limit()  # Pillow's guard raised with objrec's limit, as open_image raises it
    try:
        with open_file(io.BytesIO(source) if isinstance(source, bytes) else Path(source)):
            return None
    except UnidentifiedImageError as exc:
        return IMAGE_ERRORS["cannot_read"].format(reason=_reason(exc, _head(source)))
    except (Image.DecompressionBombError, OSError, SyntaxError, ValueError):
        return None


def open_file(source: Path | io.BytesIO, from_file: bool = False) -> Image.Image:
    """``Image.open``, except that a file's baseline JPEG over Pillow's decompression-bomb limit
    (twice ``Image.MAX_IMAGE_PIXELS``, from its header) is opened too: objrec decodes it at a
    reduced scale (``draft``) and refuses what it would decode over its own limit
    (:func:`_check_size`), so it is the decoded size that counts, as for smaller JPEGs. Not
    reopened: an upload (``io.BytesIO`` unless ``from_file``, the bytes of a file: strangers' bytes
    keep Pillow's check), a JPEG of several
    scans (progressive, or a sequential one whose first scan holds only some of its components:
    libjpeg then holds every coefficient of the whole image, whatever the scale), or any other
    format (decoded whole). Opened only as one of :func:`image_formats`."""
    try:
        return _open_heif_too(source)
    except Image.DecompressionBombError:
        head = source.getvalue()[:3] if isinstance(source, io.BytesIO) else _head(source)
        if not (from_file or isinstance(source, Path)) or (head or b"")[:3] != b"\xff\xd8\xff":
            raise
        if isinstance(source, io.BytesIO):
            source.seek(0)
        img = JpegImagePlugin.JpegImageFile(source)  # its first picture, as for an MPO
        if img.info.get("progressive") or _first_scan_components(source) != img.layers:
            img.close()
            raise
        return img


def _open_heif_too(source: Path | io.BytesIO) -> Image.Image:
    """``Image.open`` as one of :func:`image_formats`; a HEIC or HEIF file it cannot identify is
    opened again once pillow-heif's opener is registered (:func:`register_heif_plugin`), so that
    installing pillow-heif is all a user does, and no other file pays for it."""
    try:
        return Image.open(source, formats=image_formats())
    except UnidentifiedImageError:
        head = source.getvalue()[:12] if isinstance(source, io.BytesIO) else _head(source)
        if heif_format(head or b"") not in ("HEIC", "HEIF") or not register_heif_plugin():
            raise
    if isinstance(source, io.BytesIO):
        source.seek(0)
    return Image.open(source, formats=image_formats())


def decoder_versions(heif: bool = True) -> str:
    """The versions of what decodes a file into pixels: Pillow (its resampling too), the JPEG
    library it was built with (libjpeg-turbo's own version where it is that), libwebp and libavif
    where it has them, pillow-heif (unless not ``heif``). An upgrade of one may change a photo's
    pixels a little (libjpeg-turbo's IDCT, its colour conversion, libwebp's upsampling of the
    colour planes). zlib is left out: it inflates a PNG's bytes exactly, whatever its version.
    Read from the loaded modules, in well under a millisecond once they are imported."""
    import PIL
    from PIL import features

    jpeg = features.version("libjpeg_turbo") or features.version("jpg")
    libraries = [("libwebp", features.version("webp")), ("libavif", features.version("avif"))]
    if heif:
        libraries.append(("pillow-heif", heif_plugin_version()))
    named = "".join(f" {name} {version}" for name, version in libraries if version)
    return f"Pillow {PIL.__version__} libjpeg {jpeg}{named}"


def image_formats() -> tuple[str, ...]:
    """The formats objrec decodes a file or an upload as: those of :data:`IMAGE_EXTENSIONS` as
    Pillow registers them (a HEIC plugin's too), MPO JPEGs among them (Pillow's JPEG reader opens
    those). Not every format Pillow knows: its EPS reader hands the bytes to Ghostscript, a
    PostScript interpreter, which a server must never run on what a stranger sent, nor objrec on
    a ``.jpg`` or extensionless file of a folder that is PostScript (where a failing Ghostscript
    also stopped the whole command)."""
    registered = Image.registered_extensions()
    known = {registered[ext] for ext in IMAGE_EXTENSIONS if ext in registered}
    return tuple(sorted(known & set(Image.OPEN)))


def _first_scan_components(source: Path | io.BytesIO) -> int | None:
    """:func:`first_scan_components` of a file, or of an upload's bytes (a copy of them: the
    upload's own position is Pillow's)."""
    with (
        io.BytesIO(source.getvalue()) if isinstance(source, io.BytesIO) else open(source, "rb") as f
    ):
        return first_scan_components(f)


def first_scan_components(f: BinaryIO) -> int | None:
    """How many components a JPEG's first scan holds (its SOS header), read from the open file
    ``f`` past its SOI; None if none is found. model_infer.py's copy is this code
    (tests/test_export.py)."""
    f.seek(2)  # past SOI
    while byte := f.read(1):
        if byte != b"\xff":
            continue
        marker = f.read(1)
        while marker == b"\xff":  # fill bytes
            marker = f.read(1)
        if not marker or marker in b"\x00\x01\xd0\xd1\xd2\xd3\xd4\xd5\xd6\xd7\xd8":
            continue  # no length follows (a stuffed byte, RSTn, SOI)
        head = f.read(2)
        if marker == b"\xda" or len(head) < 2:
            count = f.read(1)
            return count[0] if marker == b"\xda" and count else None
        f.seek(int.from_bytes(head, "big") - 2, os.SEEK_CUR)
    return None


def image_size(path: Path) -> tuple[int, int]:
    """(width, height) from the file header, without decoding the pixels; EXIF rotation applied."""
    quiet_pillow()
    limit = pixel_limit()  # Pillow's guard raised with objrec's limit
    try:
        with open_file(Path(path)) as img:
            width, height = img.size
            orientation = img.getexif().get(ORIENTATION, 1)
            _warn_damaged_exif(img.info.get("exif") or b"", str(path), path)
    except Image.DecompressionBombError as exc:  # a traceback in `explore`
        reason = bomb_reason(exc, limit)
        raise UnreadableImageError(
            str(path), f"{reason}: {TOO_LARGE_HINT}", too_large=True
        ) from exc
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        reason = _reason(exc, _head(path))  # a HEIC or an empty file said so, as open_image does
        raise UnreadableImageError(
            str(path), IMAGE_ERRORS["cannot_read"].format(reason=reason)
        ) from exc
    return (height, width) if orientation in QUARTER_TURNS else (width, height)


def exif_damage(exif: bytes) -> str | None:
    """Why the EXIF block ``exif`` (as in a JPEG's, PNG's or WebP's ``info["exif"]``) is damaged,
    or None when its first directory, which holds the orientation, is whole (or there is none).

    The checks behind Pillow's own warnings ("Corrupt EXIF data", "Truncated File Read", ...),
    which name no file: a directory or a value that the block ends before. Pillow reads the tags
    before the damage, so the orientation may or may not have survived.
    """
    data = re.sub(b"^(Exif\x00\x00){1,2}", b"", exif)
    order = {b"II": "<", b"MM": ">"}.get(data[:2])
    if order is None or len(data) < 8:  # Pillow reads no tags from such a block, silently
        return None
    (start,) = struct.unpack_from(order + "L", data, 4)
    if start + 2 > len(data):
        return "cut short before its first directory"
    (count,) = struct.unpack_from(order + "H", data, start)
    if start + 2 + 12 * count + 4 > len(data):
        return "cut short inside its first directory"
    for i in range(count):
        _, kind, n, offset = struct.unpack_from(order + "HHLL", data, start + 2 + 12 * i)
        size = n * _TIFF_TYPE_SIZES.get(kind, 0)
        if size > 4 and offset + size > len(data):
            return "a value lies past its end"
    return None


def _warn_damaged_exif(exif: bytes, label: str, source: str | Path | bytes) -> str | None:
    """Warn, once per file (:func:`warn_once`), when the EXIF data read for an image's
    orientation, ``exif``, is damaged (:func:`exif_damage`), naming the file as Pillow's own
    warning does not; returns the damage."""
    damage = exif_damage(exif)
    if damage:
        warn_damaged_exif(label, damage, None if isinstance(source, bytes) else source)
    return damage


def warn_damaged_exif(label: str, damage: str, path: str | Path | None = None) -> None:
    """The warning of an image, ``label``, whose EXIF data is damaged (``damage``:
    :func:`exif_damage`), once per file (``path``; None: an upload): given as its decode gives
    it, and by ``check`` of an image it knows without decoding it again."""
    message = "%s: damaged EXIF data (%s): its orientation may be lost, the image turned"
    warn_once("exif", path, message, label, damage)


def _check_size(
    label: str,
    img: Image.Image,
    limit: int,
    hint: str = "",
    as_rgb=False,
    size: tuple[int, int] | None = None,
) -> None:
    """Refuse ``img`` (opened, not decoded) of more than ``limit`` pixels, counted at ``size``
    (default: its size); ``as_rgb``: of more than its kind's share of the memory ``limit`` RGB
    pixels take (:func:`bytes_to_decode`)."""
    width, height = size or img.size
    if width * height > limit:
        reason = IMAGE_ERRORS["over_limit"].format(width=width, height=height, limit=limit) + hint
        raise UnreadableImageError(label, reason, too_large=True)
    if as_rgb and width * height * (cost := bytes_to_decode(img)) > limit * RGB_BYTES:
        fewer = limit * RGB_BYTES // cost
        reason = OVER_MEMORY.format(width=width, height=height, fewer=fewer, cost=cost, limit=limit)
        raise UnreadableImageError(label, reason + hint, too_large=True)


RGB_BYTES = 4
"""Bytes Pillow holds an RGB pixel in: what a limit of pixels bounds the memory of."""
OVER_MEMORY = (
    "{width}x{height} pixels is over the limit of {fewer:,} pixels for an image of its kind, "
    "which takes {cost} bytes a pixel to decode (the limit of {limit:,} pixels is of RGB ones, "
    "which take 4)"
)
DECODE_BYTES = {"RGB": 4, "1": 5, "L": 5, "P": 5, "I": 9, "F": 9, "RGBA": 9}
DECODE_BYTES |= {"LA": 13, "PA": 13, "La": 17, "RGBa": 17}
"""Bytes a pixel of each of Pillow's modes takes at the peak of :func:`_to_rgb`, its own buffer
included: an RGB image is used as decoded; grey or a palette (1 byte) is converted to RGB; 32-bit
grey (4 bytes) is scaled into 8-bit grey (1), then RGB; RGBA is pasted over a white RGB through
its alpha channel (1); LA and PA are made RGBA first, premultiplied alpha straight before that."""


def bytes_to_decode(img: Image.Image) -> int:
    """Bytes a pixel of ``img`` (opened, not decoded) takes to open as RGB (:data:`DECODE_BYTES`):
    a transparent colour is made RGBA first (13; 15 for a 16-bit image's), 16-bit grey takes 7
    (its shifted copies), other modes (CMYK, YCbCr) 8, a copy converted from Pillow's buffer."""
    keyed = img.mode in KEYED_MODES and img.info.get("transparency") is not None
    if img.mode.startswith("I;16"):
        return 15 if keyed else 7
    return 13 if keyed else DECODE_BYTES.get(img.mode, 8)


KEYED_MODES = ("1", "L", "P", "RGB", "I", "I;16", "I;16B", "I;16L")
"""Modes whose transparency may be one colour (``info["transparency"]``): a palette entry, or
the colour of a PNG's tRNS chunk in an RGB or grey (8- or 16-bit) PNG."""


PREMULTIPLIED = {"La": "LA", "RGBa": "RGBA"}
"""Modes of premultiplied alpha (a TIFF's associated alpha: grey opens as La), and the mode of
straight alpha each converts to."""


def _to_rgb(img: Image.Image, file_format: str | None = None) -> Image.Image:
    """``img`` as RGB: transparency over white, deep one-channel images as :func:`_deep_to_grey`
    says (``file_format``: Pillow's name for the file's format)."""
    keyed = img.mode in KEYED_MODES and img.info.get("transparency") is not None
    if img.mode == "RGB" and not keyed:
        return img
    if img.mode in PREMULTIPLIED:  # Pillow converts them to their straight-alpha mode only
        img = img.convert(PREMULTIPLIED[img.mode])
    if img.mode in ("RGBA", "LA", "PA") or keyed:
        return _over_white(img, file_format)
    if _is_deep(img):
        img = _deep_to_grey(img, file_format)
    return img.convert("RGB")


def _is_deep(img: Image.Image) -> bool:
    return img.mode.startswith("I;16") or img.mode in ("I", "F")


def _over_white(img: Image.Image, file_format: str | None) -> Image.Image:
    """``img`` over a white background: through its alpha channel, or its transparent colour."""
    if _is_deep(img):  # Pillow's RGBA of a deep image clips its values; the key is one value
        rgba = _deep_to_grey(img, file_format).convert("RGBA")
        opaque = np.asarray(img) != img.info["transparency"]
        rgba.putalpha(Image.fromarray(opaque.astype(np.uint8) * 255))
    else:  # an RGBA image as it is: convert() copied it whole
        rgba = img if img.mode == "RGBA" else img.convert("RGBA")
    background = Image.new("RGB", rgba.size, (255, 255, 255))
    background.paste(rgba, mask=rgba.getchannel("A"))
    return background


def _deep_to_grey(img: Image.Image, file_format: str | None) -> Image.Image:
    """8-bit grey from a one-channel image deeper than 8 bits (Pillow's modes I;16, I and F).

    16-bit images (PNG, TIFF; and PGM, which Pillow reads as I scaled to 0..65535) keep their
    type's range: 0 is black, 65535 white. A float image whose values all lie within 0..1 keeps
    that range, 0 black and 1 white, as photo editors store 32-bit float. Any other image of 32-bit
    integers or floats (TIFF) holds no white point (counts, physical units): it is scaled by its
    own range, its darkest pixel black and its brightest white, as ImageJ and Fiji show such
    images; a flat one is black, and so are pixels that are not numbers.
    """
    if img.mode.startswith("I;16") or (img.mode == "I" and file_format == "PPM"):
        top = np.asarray(img) >> 8  # whole numbers: a float64 copy took 8 bytes a pixel, 4 times
        return Image.fromarray(np.clip(top, 0, 255, out=top).astype(np.uint8))
    low, high = _finite_range(img)
    grey = np.empty((img.height, img.width), np.uint8)
    for first, block in _row_blocks(img):  # the whole image in float64 took 1.4 GB for 0.6 MB
        grey[first : first + len(block)] = _scaled(block, img.mode == "F", low, high)
    return Image.fromarray(grey)


DEEP_BLOCK_PIXELS = 1 << 22
"""Pixels of a 32-bit image scaled to 8 bits at once (:func:`_deep_to_grey`): 32 MB of float64."""


def _row_blocks(img: Image.Image) -> Iterator[tuple[int, np.ndarray]]:
    """The rows of the one-channel image ``img``, a block of about :data:`DEEP_BLOCK_PIXELS` at
    a time, in float64 (exact for 32-bit integers and floats), each with its first row's index."""
    rows = max(1, DEEP_BLOCK_PIXELS // max(1, img.width))
    for top in range(0, img.height, rows):
        box = (0, top, img.width, min(top + rows, img.height))
        yield top, np.array(img.crop(box), dtype=np.float64)


def _finite_range(img: Image.Image) -> tuple[float, float]:
    """The lowest and highest of the values of ``img`` that are numbers (0, 0 when none is)."""
    low, high = np.inf, -np.inf
    for _, block in _row_blocks(img):
        finite = np.isfinite(block)
        low = min(low, block.min(where=finite, initial=np.inf))
        high = max(high, block.max(where=finite, initial=-np.inf))
    return (low, high) if low <= high else (0.0, 0.0)


def _scaled(block: np.ndarray, floats: bool, low: float, high: float) -> np.ndarray:
    """The float64 ``block`` as 8-bit grey, scaled in place as :func:`_deep_to_grey` says for an
    image whose values lie within ``low``..``high`` (``floats``: mode F)."""
    if floats and low >= 0 and high <= 1:
        block *= 255
    elif high > low:
        block -= low
        block *= 255 / (high - low)
    else:
        block[:] = 0
    np.nan_to_num(block, copy=False, nan=0.0, posinf=255.0, neginf=0.0)
    return np.clip(block, 0, 255, out=block).astype(np.uint8)


def file_head(path: Path) -> bytes | None:
    """The first 12 bytes of the file at ``path``, None when it cannot be read."""
    return _head(path)


def _head(source: str | Path | bytes) -> bytes | None:
    """The first 12 bytes of the file (or upload), None when it cannot be read."""
    if isinstance(source, bytes):
        return source[:12]
    try:  # os.read, not open(): 0.031 s for 6,179 files where open()'s buffered file took 0.054
        fd = os.open(source, os.O_RDONLY)
    except OSError:
        return None
    try:
        return os.read(fd, 12)
    except OSError:  # a folder opens, then cannot be read
        return None
    finally:
        os.close(fd)


def _heif_reason(kind: str) -> str:
    """Why a HEIC, HEIF or AVIF file was not decoded: no decoder for it in this Pillow (HEIC needs
    pillow-heif, AVIF a recent Pillow), or, with one, a file it cannot read."""
    Image.init()
    if ("AVIF" if kind == "AVIF" else "HEIF") in Image.ID:  # pillow-heif registers HEIF
        return IMAGE_ERRORS["heif_unreadable"].format(a="an" if kind == "AVIF" else "a", kind=kind)
    return IMAGE_ERRORS["avif_no_decoder" if kind == "AVIF" else "heif_no_decoder"].format(
        kind=kind
    )


def _reason(exc: BaseException, head: bytes | None = None) -> str:
    """Why PIL could not decode a file whose first bytes are ``head``, in a few words."""
    if head == b"":
        return IMAGE_ERRORS["empty"]
    if isinstance(exc, UnidentifiedImageError):
        kind = heif_format(head or b"")
        if kind:
            return _heif_reason(kind)
        return IMAGE_ERRORS["not_image"]
    text = str(exc).strip()
    if TRUNCATED.match(text):
        return IMAGE_ERRORS["truncated"]
    if text == WEBP_CUT and is_webp(head):
        return IMAGE_ERRORS["webp_cut"]
    return text or type(exc).__name__

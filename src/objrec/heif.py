"""HEIC, HEIF and AVIF files told by their first bytes, and pillow-heif's opener registered with
Pillow when such a file is met (never at import), with its version."""

from __future__ import annotations

import functools
import logging
import threading

from PIL import Image

log = logging.getLogger(__name__)


_HEIF_BRANDS = {
    b"heic": "HEIC",
    b"heix": "HEIC",
    b"heim": "HEIC",
    b"heis": "HEIC",
    b"hevc": "HEIC",
    b"hevx": "HEIC",
    b"mif1": "HEIF",
    b"msf1": "HEIF",
    b"avif": "AVIF",
    b"avis": "AVIF",
}
"""The ``ftyp`` brands of HEIF files (``....ftypheic``), by the name people know them by."""


def heif_format(head: bytes) -> str | None:
    """HEIC, HEIF or AVIF when ``head`` (a file's first 12 bytes) starts such a file."""
    return _HEIF_BRANDS.get(head[8:12]) if head[4:8] == b"ftyp" else None


def heif_decodes() -> bool:
    """Whether this Python decodes HEIC and HEIF: pillow-heif's opener registered, or installed
    and registered now (its import, about 0.04 s, once a process)."""
    return "HEIF" in Image.ID or (heif_plugin_version() is not None and register_heif_plugin())


def heif_kind(head: bytes) -> str:
    """HEIC, HEIF or AVIF when ``head`` (a file's first bytes) starts such a file, else "": what
    the feature store keeps of each image's content (``store.FeatureStore.image_kinds``), so
    that its readers need not read the file's first bytes again (:func:`kind_gone_reason`)."""
    return heif_format(head[:12]) or ""


_heif_lock = threading.Lock()
_heif_registered: list[bool] = []


def register_heif_plugin() -> bool:
    """Register pillow-heif's opener with Pillow, once per process, when pillow-heif is installed
    (``pip install pillow-heif``, or objrec's ``heic`` extra); whether it is registered. Called
    on the first HEIC or HEIF file met, never at import: pillow-heif takes a tenth of a second to
    import, which no command without such files should pay."""
    with _heif_lock:
        if not _heif_registered:
            _heif_registered.append(_register_heif())
        return _heif_registered[0]


@functools.cache
def heif_plugin_version() -> str | None:
    """The version of pillow-heif installed, None when there is none: part of the tag the reason
    an image could not be decoded is remembered with (``store.decode_tag``), so that the HEIC
    photos refused before it was installed are decoded once it is."""
    from importlib import metadata

    try:
        return metadata.version("pillow-heif")
    except metadata.PackageNotFoundError:
        return None


def _register_heif() -> bool:
    try:
        from pillow_heif import register_heif_opener
    except ImportError:
        return False
    except Exception as exc:  # installed, but its library cannot load (a broken wheel)
        log.warning("pillow-heif is installed but cannot be used (%s): HEIC is not read", exc)
        return False
    register_heif_opener()
    return True

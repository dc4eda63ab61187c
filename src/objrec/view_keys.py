"""What keys a view's rows in the store, and what guards them: the augmentation's definition
remembered under a digest of the files it is made from (read without importing torchvision), and
the pixel makers (decoders, torchvision) that rows are computed under only when they are the
ones named."""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import os
import sys
from pathlib import Path

import torch

from objrec.config import DataConfig
from objrec.errors import ObjrecError
from objrec.images import decoder_versions
from objrec.store import FeatureStore
from objrec.transforms import torchvision_version
from objrec.views import ViewSpec, augment_fingerprint

MEMO_MARGIN_S = 2.0
"""How long before this process's start the files :func:`definition_key` reads must have last
changed (their inode's ctime) for the memo to be used: a second of ``/proc/stat``'s boot time
truncated, and room for a small correction of the clock."""


def remembered_fingerprint(data: DataConfig, augment: str, store: FeatureStore) -> str:
    """:func:`augment_fingerprint`, kept in ``store`` under :func:`definition_key`: a retrain
    that finds every augmented view in the store never imports torchvision to name the view
    (1.0 s here, of which the ``torch._dynamo`` it brings, 0.9 s, is imported by ``torch.optim``
    anyway: a warm retrain of the 100-class protocol took 1.0 s less, with the distinct-row count
    of ``kmeans_bank.class_centroids``). Without a key (see there) it is computed, as always."""
    key = definition_key(data, augment)
    if key is None:
        return augment_fingerprint(data, augment)
    known = store.recall(key)
    if known is None:
        known = augment_fingerprint(data, augment)
        if definition_key(data, augment) == key:  # no file changed while it was computed
            store.remember(key, known)
    return known


def definition_key(data: DataConfig, augment: str) -> str | None:
    """A digest of everything :func:`augment_fingerprint` is made from, read without importing
    torchvision: ``augment``, ``data``, the files (name, size, times, inode) of the objrec and
    torchvision packages (folders included, ``__pycache__`` left out), torch's and Python's
    versions. None, and no memo, where this process may have loaded other files than those:
    when any changed since it started (``MEMO_MARGIN_S``), when its start cannot be told (no
    ``/proc``), or a package is not a folder of files (a zip). Every file changed since reads as
    another key (its ctime moves with any write, rename or replacement), so a remembered value is
    one that this process would compute itself."""
    started = process_start()
    try:
        objrec, torchvision = package_stats("objrec"), package_stats("torchvision")
    except OSError:  # a file removed while it was listed: being installed or removed now
        return None
    stats = objrec + torchvision
    if started is None or not objrec or not torchvision:
        return None
    if max(stat.st_ctime_ns for _, stat in stats) >= (started - MEMO_MARGIN_S) * 1e9:
        return None
    files = [(name, s.st_size, s.st_mtime_ns, s.st_ctime_ns, s.st_ino) for name, s in stats]
    made_of = [augment, repr(data), torch.__version__, sys.version, files]
    return "augment:" + hashlib.sha256(repr(made_of).encode()).hexdigest()


def package_stats(name: str) -> list[tuple[str, os.stat_result]]:
    """``os.stat`` of every folder and file of the installed package ``name`` (without importing
    it; ``__pycache__`` left out); empty when it is not a folder of files."""
    spec = importlib.util.find_spec(name)
    folders = list(spec.submodule_search_locations or []) if spec else []
    stats = []
    for folder in folders:
        for root, dirs, names in os.walk(folder):
            dirs[:] = sorted(d for d in dirs if d != "__pycache__")
            paths = [root, *(os.path.join(root, n) for n in sorted(names))]
            stats += [(path, os.stat(path)) for path in paths]
    return stats


@functools.cache
def process_start() -> float | None:
    """When this process started, in seconds since the epoch (from Linux's ``/proc``: at most a
    second early, never late); None where that cannot be read."""
    try:
        after_name = Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()
        boot = next(
            float(line.split()[1])
            for line in Path("/proc/stat").read_text().splitlines()
            if line.startswith("btime ")
        )
        return boot + int(after_name[19]) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, StopIteration):
        return None


def pixel_makers() -> str:
    """What turns a file's bytes into the pixels of a view, beside objrec's own rules
    (``images.PIXEL_RULES``): the decoders' versions (``images.decoder_versions``) and
    torchvision's (``transforms.torchvision_version``), part of the store's key
    (``store.space_id``), so that an upgrade of Pillow, libjpeg-turbo, libwebp or torchvision,
    which may decode or resize an image into other pixels, computes its features again instead of
    serving the old ones. A few milliseconds, once a table, without importing torchvision.
    pillow-heif's version is left out: installing it, to read the HEIC photos refused before
    (``store.decode_tag``), would compute every other photo again too."""
    return f"{decoder_versions(heif=False)} torchvision {torchvision_version()}"


def require_same_pixel_makers(decoders: str, computing: bool) -> None:
    """Refuse to compute (when ``computing``) rows under a space named by ``decoders``
    (:func:`pixel_makers`, read before torchvision was imported: from its installed metadata) when
    the torchvision imported to compute them is another: replaced on disk since."""
    if computing:
        import torchvision  # noqa: F401  (computing imports it anyway: the one that resizes)

        if pixel_makers() != decoders:
            raise ObjrecError(
                "torchvision changed on disk while this command ran (the one it would resize "
                "with is not the one it looked up features for): run the command again"
            )


def view_key(spec: ViewSpec, store: FeatureStore) -> str:
    """``spec.key``, an augmented view's definition remembered in ``store``
    (:func:`remembered_fingerprint`)."""
    if spec.view == 0:
        return spec.key
    definition = remembered_fingerprint(spec.data, spec.augment, store)
    return f"aug:{spec.augment}@{definition}:{spec.view}"


def require_same_definition(spec: ViewSpec, key: str, decoders: str, computing: bool) -> None:
    """Refuse to compute (when ``computing``) ``spec``'s augmented rows under ``key``
    (:func:`view_key`) when the augmentation this process makes them with (torchvision imported
    now) is not the one ``key`` names: torchvision or objrec was replaced on disk since the key
    was read; any rows, when the decoders are not those of the space's key
    (:func:`require_same_pixel_makers`)."""
    require_same_pixel_makers(decoders, computing)
    if computing and spec.view and spec.key != key:
        raise ObjrecError(
            "torchvision or objrec changed on disk while this command ran (the augmentation it "
            "would compute with is not the one it looked up): run the command again"
        )

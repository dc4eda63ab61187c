"""The audited folder: its images (an :class:`Inventory` of a class folder or of a split
folder's three splits), their frozen features (the same cache entries ``train`` and ``evaluate``
use) and their image facts (size, contrast, perceptual hashes), taken in the frozen pass as each
image is decoded, so that a cold audit reads each file once."""

from __future__ import annotations

import logging
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from objrec import bursts, facts_store, image_facts
from objrec.audit.settings import audit_data_config
from objrec.backbones import build_body, get_backbone
from objrec.bodies import Body, fingerprint_module
from objrec.cache import open_cache
from objrec.config import DataConfig, precision_words
from objrec.data import Sample, class_dirs, is_split_folder, present_splits, scan_class_folder
from objrec.errors import ObjrecError
from objrec.features import cached_features, file_digests
from objrec.frozen import FrozenBody, PassSettings, Probe
from objrec.grouping import facts_and_time, keep_measured
from objrec.precision import auto_precision
from objrec.progress import SILENT, Reporter
from objrec.quantize import quantize_body
from objrec.views import ViewSpec

if TYPE_CHECKING:
    from objrec.audit.settings import AuditConfig
    from objrec.meta import RunMeta

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Item:
    """One image of the audited folder: where it is, how to show it, its class and split."""

    path: Path
    shown: str
    label: int
    split: str | None


@dataclass
class Inventory:
    root: Path
    classes: tuple[str, ...]
    items: list[Item]
    is_split: bool
    digests: list[str] = field(default_factory=list)
    """Each item's content digest, once :func:`inventory_facts` has read them (empty before): which
    copies of a near-duplicate group are the same file, byte for byte."""

    def rel(self, item: Item) -> str:
        return item.path.relative_to(self.root).as_posix()


def inventory(data: Path) -> Inventory:
    """Every image of a class folder, or of all three splits of a split folder."""
    data = Path(data)
    if not data.is_dir():
        raise ObjrecError(f"{data} is not a folder")
    split = is_split_folder(data)
    if split:
        classes, items = _split_items(data)
    else:
        folder = scan_class_folder(data, skip_empty=True)
        classes, items = folder.classes, [_item(data, s, None) for s in folder.samples]
    if not items:
        raise ObjrecError(f"{data} holds no images")
    return Inventory(data, classes, items, split)


def _split_items(data: Path) -> tuple[tuple[str, ...], list[Item]]:
    """The classes of a split folder (those holding images in some split) and its images; an
    empty class folder is named in a warning and left out, as ``split`` leaves it out."""
    splits = [s for s in present_splits(data) if class_dirs(data / s)]
    folders = {split: scan_class_folder(data / split, skip_empty=True) for split in splits}
    names = sorted({name for folder in folders.values() for name in folder.classes})
    label = {name: i for i, name in enumerate(names)}
    items = [
        _item(data, Sample(s.path, label[folder.classes[s.label]]), split)
        for split, folder in folders.items()
        for s in folder.samples
    ]
    return tuple(names), items


def _item(root: Path, sample: Sample, split: str | None) -> Item:
    return Item(sample.path, str(root / sample.path.relative_to(root)), sample.label, split)


def split_samples(inv: Inventory) -> dict[str | None, list[Sample]]:
    """Samples per split in folder order: the same lists (so cache keys) that train uses."""
    groups: dict[str | None, list[Sample]] = {}
    for item in inv.items:
        groups.setdefault(item.split, []).append(Sample(item.path, item.label))
    return groups


def frozen_body(
    config: AuditConfig, run: Path | None, reporter: Reporter = SILENT
) -> tuple[FrozenBody, DataConfig]:
    """The run's body (the pretrained one its head first trained on, :func:`untuned_body`) and
    preprocessing, its features read from (and written to) the store in the dtype the run stored
    them in; else ``config.backbone``'s pretrained body, in
    ``config.feature_dtype``: its int8 graph, once found whole, remembered in the store as
    ``train`` remembers it (``quantize.usable``), not opened again to be checked at each audit."""
    if run is not None:
        from objrec.checkpoint import load_model

        model, meta = load_model(run)
        cache = open_cache(config.cache_dir or meta.cache_dir, meta.feature_dtype)
        untuned = untuned_body(model.body, meta)
        return FrozenBody(untuned, meta.data.input_size, cache, name=meta.backbone), meta.data
    spec = get_backbone(config.backbone)
    data = audit_data_config(spec)
    body: Body = build_body(spec, pretrained=True)
    cache = open_cache(config.cache_dir, config.feature_dtype)
    precision, why = config.precision, "asked for"
    if precision == "auto":
        precision, why = auto_precision(spec, torch.device("cpu"))
    log.info("the pretrained network runs in %s (%s)", precision_words(precision), why)
    if precision == "int8":
        body = quantize_body(
            body, data, cache.root, reporter=reporter, store=cache.store, name=config.backbone
        )
    return FrozenBody(body, data.input_size, cache, name=config.backbone), data


def untuned_body(body: Body, meta: RunMeta) -> Body:
    """The body a run's head first trained on: ``body``, the run's own, unless the run kept a
    fine-tuning; then the pretrained body it started from. A tuned body's top blocks learnt the
    training split's labels, wrong ones included, so in its features a mislabelled photo can lie
    among its given class, and the audit's out-of-fold heads and neighbours would vouch for it.
    An int8 run kept none (a kept fine-tuning makes the run float). Where the pretrained body
    cannot be had (its weights file is not where the run says, a registry body offline), the
    run's own, with a warning saying so."""
    config = meta.train_config
    if config is None or not config.finetune_blocks or config.precision == "int8":
        return body
    weights = Path(config.weights) if config.weights else None
    try:
        pretrained: Body = build_body(get_backbone(meta.backbone), pretrained=True, weights=weights)
    except (ObjrecError, OSError) as error:
        log.warning(
            "the run may have kept a fine-tuning, whose body learnt its training labels (wrong "
            "ones too), and its pretrained body cannot be had (%s): the audit reads the images "
            "with the run's own body, which may vouch for a wrong label",
            error,
        )
        return body
    if fingerprint_module(pretrained) == meta.body_fingerprint:
        return body  # its fine-tuning was not kept
    log.info(
        "the run kept a fine-tuning, whose body learnt its training labels (wrong ones too): the "
        "audit reads the images with the pretrained body its head first trained on"
    )
    return pretrained


def audit_features(
    inv: Inventory,
    config: AuditConfig,
    run: Path | None,
    reporter: Reporter,
    measured: dict[str, image_facts.ImageFacts] | None = None,
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Features (N, F) in inventory order, the readable mask and the unreadable files' messages.

    Only the centre view. Each image the frozen pass decodes is also measured there, from the
    bytes it decoded (:func:`facts_and_time`: its image facts, into ``measured`` by content
    digest, and its camera time, kept in the cache folder's image facts store as ``split``
    keeps it), so a cold audit makes no second pass over the files for its image facts, nor a
    third for its bursts' EXIF (``audit.copies.burst_pairs`` reads the times kept)."""
    body, data = frozen_body(config, run, reporter)
    times: dict[str, bursts.CameraTime | None] = {}
    probe = None
    if measured is not None:
        probe = Probe(facts_and_time, keep_measured(measured, times))
    parts, ok, errors = [], [], []
    for split, samples in split_samples(inv).items():
        name = f"{split or inv.root.name} features"
        settings = PassSettings(num_workers=config.num_workers, reporter=reporter, description=name)
        result = cached_features(body, samples, ViewSpec(data), settings, probe=probe)
        parts.append(result.features.numpy())
        ok.append(result.ok.numpy())
        errors += result.errors
    bursts.keep_times(open_cache(config.cache_dir).facts_file, times)
    return np.concatenate(parts), np.concatenate(ok), errors


def inventory_facts(
    inv: Inventory, config: AuditConfig, on_file, measured=None, skipped: Collection[str] = ()
) -> list[image_facts.ImageFacts]:
    """Every image's size, hashes and contrast, kept beside the feature store by content digest
    (``facts.sqlite`` in the cache folder): a second audit of the same images decodes none, and
    those the frozen pass ``measured`` are not decoded again. The digests are kept in
    ``inv.digests``, for the plan to tell a byte-identical copy from a near-duplicate.

    A file that cannot be read now (removed since the frozen pass read it, by a user tidying the
    folder: the audit stopped on its OSError) is skipped as the frozen pass skips one, in its
    words (``features.file_digests``): its digest "", its facts unreadable (an outlier, as a
    file that fails to decode), a warning unless the frozen pass's ``skipped`` said it."""
    cache = open_cache(config.cache_dir)
    digests, unhashed, _ = file_digests(
        cache.store, [Sample(it.path, it.label) for it in inv.items]
    )
    inv.digests = digests
    readable = [i for i, digest in enumerate(digests) if digest]
    paths, known = [inv.items[i].path for i in readable], [digests[i] for i in readable]
    kinds = cache.store.image_kinds(paths, known)  # HEIC told apart without opening a file
    found = facts_store.cached_facts(paths, known, cache.facts_file, on_file, measured, kinds)
    facts = dict(zip(readable, found, strict=True))
    for i, reason in unhashed.items():
        facts[i] = image_facts.ImageFacts(error=f"{inv.items[i].path}: {reason}")
        if facts[i].error not in skipped:
            log.warning("skipped %s", facts[i].error)
        if on_file is not None:
            on_file()
    return [facts[i] for i in range(len(digests))]

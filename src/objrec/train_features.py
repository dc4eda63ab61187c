"""The run's frozen pass, ``train.prepare``'s work before the head trains: its data folder's
train and valid images listed (:func:`listed_split`), its body (:func:`run_body`, int8 too), the
features of every training view and of the validation images (:func:`run_features`), with
``--finetune-blocks`` fine-tuning's cut first (:func:`cut_features`, :func:`from_the_cut`), and
their counts in words (:func:`table_counts`, :func:`frozen_pass_counts`)."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import torch
from torch import nn

from objrec.backbones import BackboneSpec, build_body, network_words
from objrec.batches import ViewStack
from objrec.bodies import Body, fingerprint_module
from objrec.cache import FeatureCache, open_cache
from objrec.class_record import with_test_split
from objrec.config import DataConfig, TrainConfig
from objrec.data import ClassFolder, class_of_folder, scan_class_folder
from objrec.devices import loader_settings
from objrec.distributed import SINGLE, Told, World
from objrec.errors import ObjrecError
from objrec.features import (
    Derive,
    FeatureTable,
    digested_for_each_view,
    feature_tables,
    report_unreadable,
    require_every_class,
    require_readable,
)
from objrec.finetune import FromTheCut, body_to_tune, split_body
from objrec.frozen import FrozenBody, PassSettings
from objrec.int8_body import QuantizedBody
from objrec.locks import holders, locked
from objrec.meta import RunMeta
from objrec.progress import Reporter
from objrec.provenance import SplitState, split_state
from objrec.quantize import quantize_body
from objrec.run_record import FrozenPassCounts
from objrec.views import ViewSpec
from objrec.words import plural, some_of

log = logging.getLogger(__name__)


def listed_split(
    data_dir: Path, reporter: Reporter, world: World = SINGLE
) -> tuple[ClassFolder, ClassFolder, SplitState]:
    """The train and valid images of ``data_dir`` and its :class:`SplitState`, read under a shared
    lock of the folder: an ``add`` (or a ``split``) writing there, which holds it, is waited for,
    and one started later changes neither the images listed nor what the run records of its split
    (it recorded the manifest as the ``add`` left it, though it trained on the images before).
    Under ``torchrun`` rank 0 alone lists and shares its listing: the digests it hashes for all
    (``features.file_digests``) go with the images by position, and a photo moved or removed
    between two ranks' listings was trained under another class's label, or stopped a rank."""

    def wait() -> None:
        who = holders(data_dir, many=False)
        reporter.note(f"waiting for {who} to finish writing in {data_dir}")

    doing = f"rank 0 listing the images of {data_dir}"
    if not world.main:
        return cast(tuple[ClassFolder, ClassFolder, SplitState], world.share(None, doing))
    with locked(data_dir, wait, shared=True):
        train_set = scan_class_folder(data_dir / "train")
        valid_set = scan_class_folder(data_dir / "valid", train_set.classes)
        listing = train_set, valid_set, split_state(data_dir)
    return world.share(listing, doing)


def run_body(
    spec: BackboneSpec,
    data: DataConfig,
    config: TrainConfig,
    told: Told,
    resumed: RunMeta | None = None,
) -> tuple[Body, float]:
    """The run's frozen body, from ``config.weights`` or the registry's, quantized when
    ``config`` says int8 (``told``: where that is said, the ranks), and the seconds quantizing
    took. A ``resumed`` int8 run's float body is compared with the one it was quantized from
    first: quantizing again (a minute for the default body) only to refuse it blamed objrec."""
    weights = Path(config.weights) if config.weights else None
    body: Body = build_body(spec, pretrained=True, weights=weights)
    if config.precision != "int8":
        return body, 0.0
    started = time.perf_counter()
    recorded = resumed.float_fingerprint if resumed else None
    if recorded is not None and fingerprint_module(body) != recorded:
        raise ObjrecError(changed_weights(config))
    return int8_body(body, data, config, *told), time.perf_counter() - started


def changed_weights(config: TrainConfig) -> str:
    """The backbone's weights (the file ``config.weights``, when given) differ from those the
    resumed run started with."""
    weights = f"weights file {config.weights}" if config.weights else "backbone's weights"
    return f"the {weights} changed since this run started: start it over with `force=True`"


def changed_body(config: TrainConfig, resumed: RunMeta | None = None) -> str:
    """Why a resumed run's body differs from the one it trained on, and what to do: an int8 body
    whose float body is the one ``resumed`` records (:func:`run_body` compared it) was quantized
    otherwise; of a run with a weights file that records none, either may have changed."""
    if config.precision != "int8":
        return changed_weights(config)
    cannot = "so its features cannot be made again: start the run over with `force=True`"
    if config.weights and not (resumed and resumed.float_fingerprint):
        return (
            f"this run's int8 body differs from the one it trained on: the weights file "
            f"{config.weights} changed since the run started, or an earlier objrec (or "
            f"onnxruntime) quantized it, {cannot}"
        )
    return f"this run's int8 body was quantized by an earlier objrec (or onnxruntime), {cannot}"


def int8_body(
    body: Body, data: DataConfig, config: TrainConfig, reporter: Reporter, world: World
) -> QuantizedBody:
    """The body quantized to int8, calibrated on the fixed built-in sample (so it does not change
    when the training images do); under torchrun rank 0 quantizes and the others read its graph
    from the cache once it is there. Rank 0 keeps the body it made or found: looking it up again
    opened the cached graph a second time to check it (a warm retrain's 0.2 to 0.3 s). A graph
    found whole is remembered in the store (``quantize.usable``)."""
    cache = open_cache(config.cache_dir)
    root, engine, store = cache.root, config.int8_engine, cache.store
    doing = "rank 0 quantizing the body to int8"
    if not world.main:
        world.barrier(doing)  # once rank 0 has made the graph
        return quantize_body(body, data, root, engine=engine, store=store)
    made = quantize_body(
        body, data, root, reporter=reporter, engine=engine, store=store, name=body_name(config)
    )
    world.barrier(doing)
    return made


def body_name(config: TrainConfig) -> str:
    """The run's body as a warning names it: its backbone, and the weights file it was given."""
    if config.weights:
        return f"{config.backbone} with the weights file {config.weights}"
    return config.backbone


def frozen_body(
    body: Body, data: DataConfig, config: TrainConfig, world: World, resumed: RunMeta | None
) -> FrozenBody:
    """``body``'s frozen pass, through the feature store of ``config``'s cache folder; refused
    when ``resumed`` (a resumed run's metadata) trained on another body."""
    cache = open_cache(config.cache_dir, config.feature_dtype)
    frozen = FrozenBody(body, data.input_size, cache, name=config.backbone, device=world.device)
    recorded = resumed.body_fingerprint if resumed else None
    if recorded is not None and frozen.fingerprint != recorded:
        raise ObjrecError(changed_body(config, resumed))
    return frozen


BELOW = "features below the fine-tuned blocks"
"""What fine-tuning's passes over the frozen blocks compute, in their progress: "train (cut)
features" named a cut no line explained."""


@dataclass(frozen=True)
class CutPass:
    """Fine-tuning's pass below its blocks (:func:`cut_features`): the stem as run, the
    pretrained blocks above the cut and the stored activations at the cut of the training views
    and, last, of the validation images."""

    stem: FrozenBody
    top: nn.Module
    tables: list[FeatureTable]
    seconds: float
    """How long the pass took (``finetune.FinetuneRecord.below_seconds``)."""
    blocks: int
    """How many blocks above the cut (``finetune_blocks``)."""

    def stacks(self, world: World) -> tuple[ViewStack, ViewStack]:
        """The training views' and the validation images' stacks, held as the body's are."""
        return stack_views(self.tables[:-1], world), stack_views(self.tables[-1:], world)


def cut_features(
    body: Body,
    sets: tuple[ClassFolder, ClassFolder],
    data: DataConfig,
    config: TrainConfig,
    told: Told,
) -> CutPass | None:
    """With ``finetune_blocks``, the stored activations at the cut of the fp32 ``body`` (an int8
    body's own fp32 one): the training views and the validation images (``sets``), in float32
    (float16 storage was measured for the pooled features only). Run before the body's own
    pass, which makes its features from them where it can (:func:`from_the_cut`)."""
    if not config.finetune_blocks:
        return None
    began = time.perf_counter()
    stem, top = split_body(body_to_tune(body), config.finetune_blocks, data.input_size)
    cache = open_cache(config.cache_dir, "float32")
    name = f"{config.backbone} cut {config.finetune_blocks}"
    frozen = FrozenBody(stem, data.input_size, cache, name=name, device=told.world.device)
    train_sets, valid = run_features(frozen, sets, data, config, told, what=BELOW)
    seconds = time.perf_counter() - began
    return CutPass(frozen, top, [*train_sets, valid], seconds, config.finetune_blocks)


def from_the_cut(cut: CutPass | None, body: Body, frozen: FrozenBody) -> Derive | None:
    """How the pretrained body's pass makes the features it lacks from fine-tuning's ``cut``
    (``finetune.FromTheCut``), so that each view goes through the frozen blocks once; None
    without fine-tuning, and where ``frozen`` (``body``'s) is not computed in float32 on the CPU:
    an int8 body's features, or a GPU's in its precision, are not the fp32 top's. Told by the
    device, not by ``frozen.numerics``, which on a GPU chooses the precision once: asked here,
    before the body's pass, it chose on random pixels, not on the photos. Rows made from a cut
    more than :data:`EXACT_CUT` blocks down are kept apart from the body's own
    (``FrozenBody.derived``)."""
    if cut is None or isinstance(body, QuantizedBody) or frozen.device.type != "cpu":
        return None
    if cut.blocks > EXACT_CUT:
        frozen.derived = f"from the cut {cut.blocks} blocks down"
    return FromTheCut(cut.tables[0].space.id, cut.top, cut.stem)


EXACT_CUT = 1
"""The most blocks above the cut whose rows made from it are the body's own bit for bit, kept
with them (``finetune.FromTheCut``: measured on Lite0 and the three-body default): two or three
blocks up they are within 1.2e-6, float16 rows one unit in the last place apart in about 0.2% of
their values, and a plain run that read them from the store trained a model 2e-5 from the one it
trains on an empty store (review64a M2). Such rows are kept in a space of their own, which only
fine-tuning runs with as many blocks read: a plain run after one computes its own rows."""


def run_features(
    frozen: FrozenBody,
    folders: tuple[ClassFolder, ClassFolder],
    data: DataConfig,
    config: TrainConfig,
    told: Told,
    what: str = "features",
    derive: Derive | None = None,
) -> tuple[list[FeatureTable], FeatureTable]:
    """The tables of ``folders``' (train, valid) images through ``frozen``: every view of each
    training image (0, the centre crop, then ``config.augmented_views`` augmented ones) and the
    centre view of each validation image (``told``: where progress is said, the ranks), their
    passes called ``train`` and ``valid`` ``what`` in their progress; ``derive``:
    ``features.feature_table``'s."""
    (train_set, valid_set), (reporter, world) = folders, told
    views = list(range(config.augmented_views + 1))
    named = (f"train {what}", f"valid {what}")
    train_sets = frozen_features(
        frozen, train_set, data, config, views, reporter, named[0], world, derive
    )
    (valid,) = frozen_features(
        frozen, valid_set, data, config, [0], reporter, named[1], world, derive
    )
    return train_sets, valid


def frozen_features(
    body: FrozenBody,
    folder: ClassFolder,
    data: DataConfig,
    config: TrainConfig,
    views: list[int],
    reporter: Reporter,
    name: str,
    world: World = SINGLE,
    derive: Derive | None = None,
) -> list[FeatureTable]:
    """The feature store's tables of ``folder`` for each view number (0 = centre crop), each
    image the store lacks in some view decoded once for all of them (``features.feature_tables``),
    each view called ``name`` in its progress (``train features``) and its line; ``derive``:
    ``features.feature_table``'s."""
    workers = loader_settings(body.device, config.num_workers, world.local_size).num_workers
    specs, settings = [], []
    for view in views:
        specs.append(ViewSpec(data, config.augment if view else "none", view))
        label = f"{name}" + (f" (augmented view {view})" if view else "")
        settings.append(
            PassSettings(
                num_workers=workers, reporter=reporter, description=label, counted_after=True
            )
        )
    digested = list(digested_for_each_view(body.cache.store, folder.samples, len(views), world))
    tables = feature_tables(
        body, folder.samples, specs, settings, world=world, digested=digested, derive=derive
    )
    for table, told in zip(tables, settings, strict=True):
        reporter.note(f"{told.description}: {table_counts(table, world, config.backbone)}")
    return tables


def table_counts(table: FeatureTable, world: World, backbone: str = "") -> str:
    """A table's images in words (``145 images, 144 run through the 3 pretrained networks, 0
    from the feature store, 1 unreadable``, :func:`backbones.network_words`): a file that could
    not be decoded counts as unreadable alone, neither run through the body nor read from the
    store, a copy of another image the store lacked as a copy (``FeatureTable.copies``), and an
    image whose features were made from fine-tuning's cut as such (``FeatureTable.derived``:
    ``30 images, 0 run through ..., 30 from the fine-tuning's cut, 0 from the feature store``).
    Every count with its thousands separator, so that no line says one number two ways
    (``3,095 images, ... 3095 from the feature store``)."""
    computed, unreadable = world.sum(table.computed), len(table) - int(table.ok.sum())
    stored = len(table) - computed - table.derived - unreadable - table.copies
    parts = [f"{computed:,} run through {network_words(backbone)}{shared_words(computed, world)}"]
    if table.derived:
        parts.append(f"{table.derived:,} {FROM_THE_CUT}")
    parts.append(f"{stored:,} from the feature store")
    if table.copies == 1:
        parts.append("1 a copy of another image")
    elif table.copies:
        parts.append(f"{table.copies:,} copies of other images")
    if unreadable:
        parts.append(f"{unreadable:,} unreadable")
    return f"{plural(len(table), 'image')}, " + ", ".join(parts)


def shared_words(computed: int, world: World) -> str:
    """How torchrun's processes shared the images run through the networks (each rank runs its
    share): its lines read word for word as one process's, and nothing said the work was
    split. "" in one process, or for none computed."""
    if world.size < 2 or not computed:
        return ""
    return f" by {world.size} processes (torchrun), about {computed / world.size:,.0f} each"


FROM_THE_CUT = "from the fine-tuning's cut"
"""How train's lines and its summary say the features the pretrained body's pass made from
fine-tuning's activations at the cut, through the blocks above it (``finetune.FromTheCut``),
rather than by running the body again."""


def require_readable_splits(
    data_dir: Path, train_sets: list[FeatureTable], valid: FeatureTable, classes: Sequence[str]
) -> None:
    """One warning for the files that could not be read; refused when no image of a split, or
    of a class of the training split, can be."""
    report_unreadable([*train_sets, valid])
    require_readable(train_sets[0], data_dir / "train")
    require_every_class(train_sets[0], data_dir / "train", classes)
    require_readable(valid, data_dir / "valid")
    warn_no_valid_image(valid, data_dir / "valid", classes)


def warn_no_valid_image(valid: FeatureTable, folder: Path, classes: Sequence[str]) -> list[str]:
    """One warning naming the classes with no readable image in ``folder`` (a split leaves a class
    of under 3 images out of a split): trained all the same, but their validation loss and
    accuracy cannot be measured. Returns their names."""
    readable = torch.bincount(valid.labels[valid.ok], minlength=len(classes)).tolist()
    missing = [name for name, n in zip(classes, readable, strict=True) if n == 0]
    if missing:
        log.warning(
            "%s no validation image in %s: %s; trained all the same, but %s validation loss and "
            "accuracy cannot be measured",
            plural(len(missing), "class has", "classes have"),
            folder,
            some_of(missing),
            "its" if len(missing) == 1 else "their",
        )
    return missing


def stack_views(tables: list[FeatureTable], world: World) -> ViewStack:
    """The tables' stack, held in memory within ``batches.HELD_BYTES`` shared among this
    machine's ranks (each torchrun rank holds its own copy)."""
    return ViewStack(tables).hold(share=world.local_size)


def frozen_pass_counts(
    tables: list[FeatureTable], world: World, cut: CutPass | None = None
) -> FrozenPassCounts:
    """Image views pushed through the frozen body (all ranks), read from the store, made from
    fine-tuning's ``cut`` (``FeatureTable.derived``) and computed by ``cut``'s pass (its views,
    counted apart); files that could not be read, each once whatever its views (as the warning
    counts them: ``features.report_unreadable``); files
    hashed (all ranks) and the seconds rank 0 spent looking up or computing content digests,
    ``cut``'s pass's too: it runs first, so it hashes the files the body's pass then finds."""
    computed, copies = world.sum(sum(t.computed for t in tables)), sum(t.copies for t in tables)
    unreadable_views = sum(len(t) - int(t.ok.sum()) for t in tables)
    derived = sum(t.derived for t in tables)
    below = cut.tables if cut else []
    hashing = [t.hashing for t in [*tables, *below]]
    return FrozenPassCounts(
        computed=computed,
        from_store=sum(len(t) for t in tables) - computed - derived - copies - unreadable_views,
        copies=copies,
        derived=derived,
        cut_computed=world.sum(sum(t.computed for t in below)),
        n_unreadable=len({message for t in tables for message in t.errors}),
        hashed=world.sum(sum(h.hashed for h in hashing)),
        digest_seconds=round(sum(h.seconds for h in hashing), 3),
    )


def hashed(table: FeatureTable) -> list[str]:
    """The content digests of ``table``'s images, less the files that could not be hashed
    (removed since they were listed: never seen)."""
    return [digest for digest in table.digests if digest]


def run_classes(
    data_dir: Path,
    tables: tuple[FeatureTable, FeatureTable],
    listing: ClassFolder,
    cache: FeatureCache,
    reporter: Reporter,
    world: World,
) -> list[tuple[str, str, str]] | None:
    """:func:`record_classes`, by rank 0 alone under torchrun, which writes the run: the other
    ranks wait for its hashing of the test split here, in :meth:`World.barrier`, not in DDP's
    first broadcast, a collective on their GPU under NCCL."""
    record = record_classes(data_dir, tables, listing, cache, reporter) if world.main else None
    world.barrier("rank 0 hashing the test split")
    return record


def record_classes(
    data_dir: Path,
    tables: tuple[FeatureTable, FeatureTable],
    listing: ClassFolder,
    cache: FeatureCache,
    reporter: Reporter,
) -> list[tuple[str, str, str]]:
    """The run's record of its data folder's classes (``class_record``): the train and valid
    images in ``tables`` (labelled as ``listing``'s classes) as listed and hashed, the test
    split's hashed now (by rank 0 alone under torchrun, which writes the run)."""
    listed = [
        (split, class_of_folder(listing.classes[int(label)]), digest)
        for split, table in zip(("train", "valid"), tables, strict=True)
        for label, digest in zip(table.labels.tolist(), table.digests, strict=True)
        if digest
    ]
    return with_test_split(listed, Path(data_dir), cache.store, reporter)

"""The frozen body's features, computed once per image view and kept in the feature store.

With the body frozen, its output for a given image and view never changes, so ``train`` pushes
each image through it once (plus ``aug_views`` augmented views of each training image) instead of
once per epoch, and keeps the result in the per-image feature store (``objrec.store``), keyed by
the image's content, the body, the data config and the view, never by path or label: a renamed,
moved or relabelled image costs nothing the next time, an added one costs its own pass. Augmented
views are seeded by (content, view), so a moved image keeps its augmented features too.

Readers get a :class:`FeatureTable` (rows in the store, labels, readable mask) and read batches
from it, so memory stays bounded by the batch, not the data set (a training stack small enough is
held in memory once, ``batches.ViewStack.hold``); ``cached_features`` loads a whole table for small
uses. The cache folder is ``objrec.cache``; the frozen body and its pass ``objrec.frozen``; a view
and its keys ``objrec.views`` and ``objrec.view_keys``; batches over the views ``objrec.batches``.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable, Iterator, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import torch

from objrec.config import DataConfig
from objrec.data import Sample
from objrec.distributed import SINGLE, World
from objrec.errors import ObjrecError
from objrec.file_index import INDEX_FILE, HashStats
from objrec.frozen import FeatureSet, FrozenBody, PassSettings, Probe, get_ready, views_pass
from objrec.images import counted_pixels, kind_gone_reason, over_limit_reason, pixel_limit
from objrec.store import FLOAT32, FeatureStore, Generation, Lookup, Space, space_id, uncounted
from objrec.view_keys import pixel_makers, require_same_definition, view_key
from objrec.views import PassingFailure, ViewSpec, cannot_read, read_as_hashed, view_seed
from objrec.words import NAMED, joined, plural, some_of

log = logging.getLogger(__name__)


@dataclass
class FeatureTable:
    """One view of a list of images in the feature store: where each image's row is, its label,
    whether it could be decoded, and why not. Read rows with ``read``; ``load`` reads them all."""

    space: Space
    rows: np.ndarray
    labels: torch.Tensor
    ok: torch.Tensor
    errors: list[str] = field(default_factory=list)
    computed: int = 0
    """Images this process decoded and pushed through the frozen body to complete the table (a
    file that could not be decoded is not counted: its row is in ``errors``)."""
    hashing: HashStats = field(default_factory=HashStats)
    generation: Generation | None = None
    """The array file its rows were looked up in (``store.Lookup.generation``)."""
    digests: list[str] = field(default_factory=list)
    """Each image's content digest (the store's key), in the images' order."""
    failed: int = 0
    """Files this process tried to decode to complete the table and could not (in ``errors``)."""
    copies: int = 0
    """Images whose bytes an earlier image of the list has, the store lacking them: computed once,
    with that image, so neither run through the body again nor found in the store."""
    derived: int = 0
    """Images whose rows this process made otherwise than through the body (``feature_table``'s
    ``derive``: train's fine-tuning's cut through the pretrained blocks above it), the store
    lacking them."""

    def __len__(self) -> int:
        return len(self.rows)

    @property
    def dim(self) -> int:
        return self.space.dim

    def read(self, index, as_stored: bool = False) -> torch.Tensor:
        """Features (len(index), dim) of the images at positions ``index`` (all readable), in
        float32 or (``as_stored``) in the store's dtype."""
        rows = self.rows[np.asarray(index, dtype=np.int64)]
        if (rows < 0).any():
            raise ValueError("read() of an image that could not be decoded")
        stored = torch.from_numpy(self.space.read(rows, self.generation, as_stored=True))
        return stored if as_stored else stored.float()  # exact, and vectorised (NumPy's is not)

    def load(self) -> FeatureSet:
        """Every row in memory, zeros where an image could not be decoded."""
        features = torch.zeros(len(self), self.dim)
        where = torch.nonzero(self.ok).flatten()
        for chunk in where.split(4096):
            features[chunk] = self.read(chunk.numpy())
        return FeatureSet(features, self.labels, self.ok, self.errors)


def cached_features(
    body: FrozenBody,
    samples: Sequence[Sample],
    spec: ViewSpec,
    settings: PassSettings = PassSettings(),
    *,
    world: World = SINGLE,
    probe: Probe | None = None,
) -> FeatureSet:
    """The features of ``samples`` in ``spec``'s view, all in memory (see ``feature_table``)."""
    return feature_table(body, samples, spec, settings, world=world, probe=probe).load()


def feature_table(
    body: FrozenBody,
    samples: Sequence[Sample],
    spec: ViewSpec,
    settings: PassSettings = PassSettings(),
    *,
    world: World = SINGLE,
    probe: Probe | None = None,
    digested: Digested | None = None,
    derive: Derive | None = None,
) -> FeatureTable:
    """The store's table of ``samples`` in ``spec``'s view: :func:`feature_tables` of one view."""
    (table,) = feature_tables(
        body,
        samples,
        [spec],
        [settings],
        world=world,
        probe=probe,
        digested=None if digested is None else [digested],
        derive=derive,
    )
    return table


def feature_tables(
    body: FrozenBody,
    samples: Sequence[Sample],
    specs: Sequence[ViewSpec],
    settings: Sequence[PassSettings],
    *,
    world: World = SINGLE,
    probe: Probe | None = None,
    digested: Sequence[Digested] | None = None,
    derive: Derive | None = None,
) -> list[FeatureTable]:
    """The store's table of ``samples`` in each of ``specs``' views (of one data config), each
    pass's progress and log line as its ``settings`` say; the images the store lacks are computed
    first, in one pass that reads and decodes each image once for every view it lacks (a cold
    ``train`` decoded each training image once per view) and measures it by ``probe``, those that
    cannot be read skipped. Under ``torchrun`` rank 0 hashes the files for all
    (:func:`file_digests`), and each rank computes its share of the missing ones, writing it to
    the store itself (the ranks must share the cache folder, one machine or a shared disk:
    :func:`require_one_store`). ``digested``: each view's :func:`file_digests` of ``samples``
    (:func:`digested_for_each_view`, which it calls without); ``derive``: fills rows the store
    lacks before the body is run for the rest (:func:`derived_rows`)."""
    if len({spec.data for spec in specs}) > 1:
        raise ValueError("feature_tables makes the views of one data config")
    store = body.cache.store
    each = digested or list(digested_for_each_view(store, samples, len(specs), world))
    plans = [
        plan_table(body, samples, spec, told, world, derive)
        for spec, told in zip(specs, each, strict=True)
    ]
    by_digest = {d: s for s, d in zip(samples, plans[0].digested[0], strict=True) if d}
    passing = one_pass(settings, plans)
    todo = [d for d in by_digest if any(d in plan.todo for plan in plans)]
    get_ready(body, passing, len(todo))  # torchvision imported beside it, for what follows
    decoders = pixel_makers()
    for plan in plans:
        require_same_definition(plan.spec, plan.key, decoders, computing=bool(plan.todo))
    with plans[0].space.syncing_seldom():  # and indexed on its end, before the others look up
        filled = fill(body, plans, [(d, by_digest[d]) for d in todo], passing, probe)
    return [
        finished_table(plan, samples, done, told.description, world)
        for plan, done, told in zip(plans, filled, settings, strict=True)
    ]


@dataclass
class TablePlan:
    """One view's table before its pass (:func:`plan_table`): where its rows go, and what this
    process computes of it."""

    spec: ViewSpec
    digested: Digested
    space: Space
    key: str
    """The view's key in the store (``view_keys.view_key``)."""
    found: Lookup
    """What the store held of it."""
    missing: set[str]
    """The digests the store lacked (on every rank)."""
    todo: dict[str, None]
    """The digests this process runs through the body, in the images' order."""
    derived: set[str]
    """Those ``derive`` made (``filled_otherwise``)."""


def plan_table(
    body: FrozenBody,
    samples: Sequence[Sample],
    spec: ViewSpec,
    digested: Digested,
    world: World,
    derive: Derive | None,
) -> TablePlan:
    """What the store holds of ``samples`` in ``spec``'s view, the rows it lacks that need no
    pass filled (:func:`filled_otherwise`), and this rank's share of the rest (:func:`my_share`)."""
    store, digests = body.cache.store, digested[0]
    numerics, decoders = agreed_numerics(body, samples, spec.data, world), pixel_makers()
    sid = body_space(body, spec.data, numerics, decoders)
    space = store.space(sid, body.n_features, body.cache.dtype, space_label(body, spec, numerics))
    key = view_key(spec, store)
    require_one_space(Keyed(sid, key, decoders, numerics, body.keyed, package_versions()), world)
    found = store.lookup(sid, key, digests)
    count_reused(store, digests, found)
    hits = located(digests, found)
    unique = [d for d in dict.fromkeys(digests) if d]  # "": a file that could not be hashed
    wider = space_id(body.keyed, asdict(spec.data), "float32", numerics, decoders)
    mine, derived = filled_otherwise((space, key), wider, my_share(unique, hits, world), derive)
    missing = {d for d in unique if d not in hits}
    todo = dict.fromkeys(mine)
    return TablePlan(spec, digested, space, key, found, missing, todo, derived)


def one_pass(settings: Sequence[PassSettings], plans: Sequence[TablePlan]) -> PassSettings:
    """How the pass over every view that computes runs: as the one view's, or, for several, as
    the first view's, named with the views (``train features (2 views)``: the progress counts
    image views)."""
    computing = [told for told, plan in zip(settings, plans, strict=True) if plan.todo]
    if len(computing) < 2:
        return (computing or list(settings))[0]
    return replace(settings[0], description=f"{settings[0].description} ({len(computing)} views)")


def finished_table(
    plan: TablePlan,
    samples: Sequence[Sample],
    filled: Filled,
    description: str,
    world: World,
) -> FeatureTable:
    """The table of ``plan``'s view once every rank has computed its share (``filled``: this
    process's), logged as ``description``."""
    store, (digests, unhashed, hashing) = plan.space.store, plan.digested
    computed, failed, passing = filled
    doing = "every rank computing its share of the features the store lacked"
    passing = {d: why for ranks in world.gather(passing, doing) for d, why in ranks.items()}
    found = store.lookup(plan.space.id, plan.key, digests) if plan.missing else plan.found
    found = account_for_missing(found, samples, digests, passing, unhashed)
    table = make_table(
        plan.space, samples, found, digests, hashing, computed, failed, plan.missing, plan.derived
    )
    log.info("%s: %s, %s", description, computed_words(table), hashing)
    return table


def computed_words(table: FeatureTable) -> str:
    """How a table's images got their features, for the log: ``363 images, 362 computed, 1 a
    copy of another image (the same bytes, computed once)``, as train's lines count copies
    (``train_features.table_counts``), where "363 images, 362 computed" left the other one
    unexplained (newcomer55's 13)."""
    words = f"{plural(len(table), 'image')}, {table.computed:,} computed"
    if table.copies:
        copies = "a copy of another image" if table.copies == 1 else "copies of other images"
        words += f", {table.copies:,} {copies} (the same bytes, computed once)"
    return words


def filled_otherwise(
    into: tuple[Space, str], wider: str, digests: list[str], derive: Derive | None
) -> tuple[list[str], set[str]]:
    """Of ``digests``, the rows of ``into``'s space and view that need no pass of the body, filled:
    a float16 space's rounded from its float32 space (``wider``: :func:`narrow_rows`), then those
    ``derive`` makes. Returns the digests left to compute and those ``derive`` filled."""
    space, view = into
    if space.dtype != np.float32:  # rounding the float32 rows is what computing would store
        digests = narrow_rows(space.store, wider, space, view, digests)
    if derive is None or not digests:
        return digests, set()
    left = derive(space, view, digests)
    return left, set(digests) - set(left)


def my_share(unique: list[str], hits: set[str], world: World) -> list[str]:
    """This rank's share of the digests (``unique``) the store lacks (not in ``hits``). Shares
    follow the position among all images, not among the missing ones: the ranks look up at
    different moments, and a faster rank's writes must not shift a slower rank's share."""
    return [d for d in unique[world.rank :: world.size] if d not in hits]


def firsts_among(digests: Sequence[str], chosen: AbstractSet[str], ok: torch.Tensor) -> int:
    """The readable images of ``digests`` that are the first of their content among ``chosen``
    (a later one is a copy: :func:`copies_computed_once`)."""
    seen: set[str] = set()
    for digest, readable in zip(digests, ok.tolist(), strict=True):
        if readable and digest in chosen:
            seen.add(digest)
    return len(seen)


def copies_computed_once(
    digests: Sequence[str], missing: AbstractSet[str], ok: torch.Tensor
) -> int:
    """The readable images whose content (``digests``) an earlier one of the list has, among
    those the store lacked (``missing``): one computation served both, so a cold run's copy of a
    photo is not said to come from the store."""
    seen: set[str] = set()
    copies = 0
    for digest, readable in zip(digests, ok.tolist(), strict=True):
        if readable and digest in missing:
            copies += digest in seen
            seen.add(digest)
    return copies


Digested = tuple[list[str], dict[int, str], HashStats]
"""What :func:`file_digests` found of a list of samples: each one's content digest, why those
that could not be hashed could not be (by position), how hashing went."""


def digested_for_each_view(
    store: FeatureStore, samples: Sequence[Sample], views: int, world: World = SINGLE
) -> Iterator[Digested]:
    """:func:`file_digests` of ``samples`` once, for the tables of their ``views`` views (train's
    centre and augmented views, evaluate's TTA views): each view looked up every file in the
    store's file index again (a ``stat`` and a row each, and the row written back), 0.05 s of
    CPU for the 100-class protocol's 3,095 training images, and a file replaced meanwhile had
    one digest in one view and another in the next. The first view's table counts the hashing,
    the others none."""
    digests, unhashed, hashing = file_digests(store, samples, world)
    for view in range(views):
        yield digests, unhashed, hashing if view == 0 else HashStats(hashing.files, 0, 0.0)


def file_digests(
    store: FeatureStore, samples: Sequence[Sample], world: World = SINGLE
) -> tuple[list[str], dict[int, str], HashStats]:
    """Each sample's content digest ("" for a file that cannot be read now), why each of those
    cannot be (by position: skipped as a file gone before decoding is, never remembered), and
    how hashing went. Under ``torchrun`` rank 0 alone hashes and shares what it found: ranks
    hashing at their own moments disagreed about a photo replaced meanwhile, and trained on
    different images (each read every new file too). The others count nothing hashed."""
    started = time.perf_counter()
    require_one_store(store, world)
    digests: list[str] = []
    unhashed: dict[int, str] = {}
    if world.main:
        digests, failures, hashing = store.readable_digests([s.path for s in samples])
        unhashed = {i: cannot_read(exc) for i, exc in failures.items()}
    doing = f"rank 0 hashing {plural(len(samples), 'image file')}"
    digests, unhashed = world.share((digests, unhashed), doing)
    require_one_data(samples, digests, world)
    if not world.main:
        hashing = HashStats(len(samples), 0, time.perf_counter() - started)
    return digests, unhashed, hashing


def require_one_data(samples: Sequence[Sample], digests: Sequence[str], world: World) -> None:
    """Refuse torchrun ranks that do not see the images rank 0 listed and hashed (``digests``)
    as rank 0 does: on a machine where the data folder is missing, elsewhere or another copy,
    a rank found its whole share of the frozen pass unreadable, and the run trained on the other
    ranks' shares, warning of unreadable files that a check on rank 0's machine does not find.
    Each other rank reads a few of them (the first and last readable, and the one at its rank's
    position, where its share starts) as the frozen pass reads them (:func:`read_as_hashed`),
    and every rank refuses on what they gathered, as :func:`require_one_store` does for the
    cache folder."""
    if not world.distributed:
        return
    readable = [i for i, digest in enumerate(digests) if digest]
    probed = [] if world.main or not readable else [0, len(readable) - 1, world.rank]
    failed = ""
    for k in sorted({readable[min(n, len(readable) - 1)] for n in probed}):
        read = read_as_hashed(samples[k].path, digests[k])
        failed = failed or (read if isinstance(read, PassingFailure) else "")
    seen = world.gather(failed, "every rank reading a few of the images rank 0 listed")
    lacking = [(rank, why) for rank, why in enumerate(seen) if why]
    if lacking:
        rank, why = lacking[0]
        raise ObjrecError(
            f"torchrun rank {rank} does not see the images rank 0 listed as rank 0 does ({why}): "
            "every machine must see the data folder at the same path, with the same files"
        )


def require_one_store(store: FeatureStore, world: World) -> None:
    """Refuse torchrun ranks that do not share ``store``: each would compute its share into its
    own store and find the others' shares missing. Rank 0 leaves a mark in its store that every
    rank must find in its own."""
    if not world.distributed:
        return
    mark = f"torchrun:{secrets.token_hex(16)}" if world.main else ""
    if world.main:
        store.remember(mark, "every rank must find this")
    mark = world.share(mark, "rank 0 marking the feature store")
    found = store.recall(mark) is not None
    seen = world.gather((found, str(store.root)), "every rank looking for rank 0's mark")
    if world.main:
        store.forget(mark)
    lacking = [(rank, root) for rank, (marked, root) in enumerate(seen) if not marked]
    if lacking:
        rank, root = lacking[0]
        raise ObjrecError(
            f"the torchrun ranks do not share one cache folder (rank {rank} uses the feature "
            f"store {root}, which lacks the mark rank 0 left in {seen[0][1]}): point "
            "OBJREC_CACHE or `cache_dir` at one folder on a disk every rank reads"
        )


@dataclass(frozen=True)
class Keyed:
    """What keys one rank's share of a view in the store (its space and view key), and what they
    are made from that may differ between machines, for :func:`require_one_space` to name."""

    space: str
    view: str
    decoders: str
    """``view_keys.pixel_makers``: the decoders' and torchvision's versions."""
    numerics: str
    """``FrozenBody.numerics``: an int8 body's engine version and CPU instructions."""
    body: str
    """``FrozenBody.keyed``: the body's weights and code."""
    packages: str
    """:func:`package_versions`, said where ``body`` differs."""

    def differences(self, other: Keyed) -> list[str]:
        """What differs in ``other`` (another rank's), in words, rank 0's (this) after it."""
        said = []
        if other.decoders != self.decoders:
            said.append(f"what decodes the pixels ({other.decoders}; rank 0: {self.decoders})")
        if other.numerics != self.numerics:
            said.append(f"how the body computes ({other.numerics}; rank 0: {self.numerics})")
        if other.body != self.body:
            said.append(f"the body's code ({other.packages}; rank 0: {self.packages})")
        if other.view != self.view:
            said.append("the view's definition (the augmentation's source files)")
        return said or ["objrec's feature store (its version)"]


def package_versions() -> str:
    """objrec's version and those of the packages whose code a body runs (``bodies.VERSIONED``),
    those imported: what a torchrun rank's body is keyed by beside its weights."""
    import sys

    from objrec import __version__
    from objrec.bodies import VERSIONED

    versions = {name: getattr(sys.modules.get(name), "__version__", None) for name in VERSIONED}
    named = [f"{name} {version}" for name, version in versions.items() if version]
    return ", ".join([f"objrec {__version__}", *named])


def require_one_space(mine: Keyed, world: World) -> None:
    """Refuse torchrun ranks that would key their shares of a view apart (``mine``: this rank's
    keys), naming what differs: each rank writes its share under its own keys (its packages'
    versions, its CPU's), and rank 0's lookup then finds another rank's share missing, said as
    an index "removed or replaced meanwhile by something other than objrec" (review60a L2).
    Rank 0's numerics are taken by every rank where they may (:func:`agreed_numerics`); the
    rest is each machine's installation."""
    if not world.distributed:
        return
    seen = world.gather(mine, "every rank keying its share of the features")
    first = seen[0]
    apart = [r for r, k in enumerate(seen) if (k.space, k.view) != (first.space, first.view)]
    if apart:
        rank = apart[0]
        raise ObjrecError(
            f"torchrun rank {rank} would keep its features apart from rank 0's, which would not "
            f"find them: it differs in {joined(first.differences(seen[rank]))}; give every "
            "machine of the job the same objrec, PyTorch, torchvision, timm, Pillow and int8 "
            "engine, and CPUs of the same 8-bit instructions"
        )


def agreed_numerics(
    body: FrozenBody, samples: Sequence[Sample], data: DataConfig, world: World
) -> str:
    """``body.numerics``, chosen by rank 0 under torchrun and taken by the others: ranks choosing
    a GPU precision each on its own probe could key different spaces of the store."""
    numerics = body.numerics(samples, data) if world.main else ""
    numerics = world.share(numerics, "rank 0 choosing the precision of the pretrained network")
    return numerics if world.main else body.numerics(chosen=numerics)


def space_label(body: FrozenBody, spec: ViewSpec, numerics: str) -> str:
    """How ``objrec cache`` names the store's space of ``body``'s features: the body, its input
    size, the first 8 hex digits of its fingerprint (a run's ``body_fingerprint`` starts with
    them) and its normalisation, which tell apart two spaces of one network given other weights
    or another mean and std, and, where it is not float32 on the CPU, how it computes them."""
    data = spec.data
    label = (
        f"{body.name} @ {data.input_size}px, weights {body.fingerprint[:8]}, "
        f"mean {numbers(data.mean)} std {numbers(data.std)}"
    )
    return label if numerics == FLOAT32 else f"{label}, {numerics}"


def numbers(values: Sequence[float]) -> str:
    """A mean's or a std's values as ``--mean`` takes them: ``0.485 0.456 0.406``."""
    return " ".join(f"{v:g}" for v in values)


def body_space(body: FrozenBody, data: DataConfig, numerics: str, decoders: str) -> str:
    """The store's space of ``body``'s features (``store.space_id``): its fingerprint and code
    (``FrozenBody.keyed``), the data config, the cache's dtype, how it computes them
    (``FrozenBody.numerics``) and what makes the pixels (:func:`pixel_makers`)."""
    return space_id(body.keyed, asdict(data), body.cache.dtype, numerics, decoders)


def stored_tables(
    body: FrozenBody, samples: Sequence[Sample], specs: Sequence[ViewSpec]
) -> list[FeatureTable] | None:
    """The store's table of ``samples`` in each of ``specs``' views as far as it holds them
    already, keyed as :func:`feature_table` keys them (one space, one view key each), computing
    and writing no features, and hashing no file: only the files its file index knows unchanged
    are looked up (``FeatureStore.known_digests``); an image it lacks has row -1 and is not
    ``ok``. For a caller that computes what is missing its own way and keeps it to itself
    (``predict``). None, with no store made, when the cache folder has no store, its file index
    none of the files, or its store no row of this body at all."""
    if not (body.cache.root / "store" / INDEX_FILE).is_file() or not samples:
        return None
    store, started = body.cache.store, time.perf_counter()
    digests = [d or "" for d in store.known_digests([s.path for s in samples])]  # "": none
    hashing = HashStats(len(samples), 0, time.perf_counter() - started)
    if not any(digests):
        return None  # before the body's fingerprint is computed
    numerics, decoders = body.numerics(samples, specs[0].data), pixel_makers()
    sid = body_space(body, specs[0].data, numerics, decoders)
    dim = store.space_dim(sid)
    if dim is None:
        return None
    space = store.space(sid, dim, body.cache.dtype)
    tables = []
    for spec in specs:
        found = store.lookup(sid, view_key(spec, store), digests)
        tables.append(make_table(space, samples, found, digests, hashing))
    return tables


def decodable_now(
    found: Lookup, samples: Sequence[Sample], digests: Sequence[str], store: FeatureStore
) -> Lookup:
    """``found`` less the rows of the HEIC or HEIF photos this Python cannot decode now
    (``images.decoder_gone``: pillow-heif uninstalled, or installed but unusable), each with the
    reason computing them gives (``images.kind_gone_reason``): the store's key leaves
    pillow-heif out (:func:`pixel_makers`), so their rows, kept from when it read them, would
    have train, evaluate and predict use photos ``check`` calls unusable. The rows stay in the
    store for when pillow-heif works again. The store says each image's kind
    (:meth:`FeatureStore.image_kinds`: kept as its file was hashed, or read once from an image
    hashed before the store kept kinds); a file that cannot be read now keeps its rows. Whether
    HEIC is decodable is asked only of a HEIC or HEIF photo's kind (``kind_gone_reason``), never
    first: asking loads every Pillow plugin (``image_formats``: 0.04 to 0.13 s of a warm
    retrain, which decodes no image), and the kinds are read all the same until a HEIC photo
    registers pillow-heif's opener."""
    held = np.flatnonzero(found.rows >= 0).tolist()
    if not held:
        return found
    kinds = store.image_kinds([samples[i].path for i in held], [digests[i] for i in held])
    refused = {
        i: why for i in held if (kind := kinds.get(digests[i])) and (why := kind_gone_reason(kind))
    }
    if not refused:
        return found
    rows = found.rows.copy()
    rows[list(refused)] = -1
    return replace(found, rows=rows, errors=found.errors | refused)


def within_pixel_limit(
    found: Lookup, samples: Sequence[Sample], digests: Sequence[str], space: Space
) -> Lookup:
    """``found`` less the rows of images that count more pixels than today's limit
    (``images.pixel_limit``: ``OBJREC_MAX_PIXELS``), each with the reason, in the words a run on
    an empty cache refuses them in (``images.over_limit_reason``): the store keys a row by the
    image's content, not the limit it was decoded under, so a row kept under a higher limit made
    train, evaluate and predict use an image that split, check and a run on an empty cache refuse
    as too large (a safety limit: such an image is never trained on). The store keeps the pixels
    the limit counts with each row (``FeatureStore.add_entries``); a row kept before it did has
    its file's header read once (``images.counted_pixels``), its count kept, or, where the header
    cannot be read, :func:`store.uncounted`, so that it is not read again each run under the same
    decoders and limit (a row is only ever made of an image that decoded); none where the file
    has changed since it was hashed (``FeatureStore.unchanged``: the header may be another
    photo's), counted as unread this run. The rows stay in the store for a higher limit."""
    pixels = found.pixels if found.pixels is not None else np.zeros(len(found.rows), np.int64)
    held = found.rows >= 0
    mark = uncounted()
    unknown = np.flatnonzero(held & (pixels <= 0) & (pixels != mark)).tolist()
    if unknown:
        paths = {digests[i]: samples[i].path for i in unknown}
        log.info(  # about 0.1 ms a header, once: a minute for a store of a million images
            "reading the size of %s stored before objrec kept it, once",
            plural(len(paths), "image"),
        )
        read = {d: counted_pixels(path) or mark for d, path in paths.items()}
        unchanged = space.store.unchanged(paths)
        read = {d: n if d in unchanged else mark for d, n in read.items()}
        space.store.keep_pixels(space.id, {d: n for d, n in read.items() if d in unchanged})
        pixels = pixels.copy()
        pixels[unknown] = [read[digests[i]] for i in unknown]
    limit = pixel_limit()
    over = np.flatnonzero(held & (pixels > limit)).tolist()
    if not over:
        return found
    rows = found.rows.copy()
    rows[over] = -1
    refused = {i: over_limit_reason(samples[i].path, int(pixels[i]), limit) for i in over}
    return replace(found, rows=rows, errors=found.errors | refused)


def count_reused(store: FeatureStore, digests: Sequence[str], found: Lookup) -> None:
    """Add the digests ``found`` located with features to ``store.rows_reused`` (what Ctrl-C's
    sentence counts as kept)."""
    store.rows_reused += len({d for d, row in zip(digests, found.rows, strict=True) if row >= 0})


def located(digests: Sequence[str], found: Lookup) -> set[str]:
    """Every digest ``found`` located: with features, or with why the image cannot be decoded."""
    return {d for d, hit in zip(digests, found.found, strict=True) if hit}


def account_for_missing(
    found: Lookup,
    samples: Sequence[Sample],
    digests: Sequence[str],
    passing: dict[str, str],
    unhashed: dict[int, str] | None = None,
) -> Lookup:
    """``found`` with a reason, for this run only, for each image still without features after
    the frozen pass: why its file could not be hashed (``unhashed``, by position) or the process
    computing it could not read it (``passing``, by digest, gathered from every torchrun rank).
    Anything else is an ObjrecError: the store's index lost rows written a moment ago, so
    someone changed it by hand."""
    errors, unhashed = dict(found.errors), unhashed or {}
    for i in np.flatnonzero(~found.found).tolist():
        reason = unhashed.get(i) or passing.get(digests[i])
        if reason is None:
            raise ObjrecError(
                f"the feature store has no features for {samples[i].path} though they were "
                "stored a moment ago: its index was removed or replaced meanwhile by something "
                "other than objrec; run the command again"
            )
        errors[i] = reason
    return replace(found, errors=errors)


NARROWED_CHUNK = 4096
"""Rows read from the float32 space and written rounded at once by :func:`narrow_rows`."""


def narrow_rows(
    store: FeatureStore, wider: str, space: Space, view: str, digests: list[str]
) -> list[str]:
    """Copy the rows of ``digests`` that the float32 space ``wider`` holds into ``space`` (of a
    narrower dtype), rounded as computing them would have been; returns the digests left
    (:func:`derived_rows` through no top, where the two spaces' rows have one width)."""
    if store.space_dim(wider) != space.dim:
        return digests
    return derived_rows(store, wider, None, space, view, digests, chunk=NARROWED_CHUNK)


Derive = Callable[[Space, str, list[str]], list[str]]
"""Fills a space's rows of one view (the view's key) for some digests otherwise than through the
body, as ``feature_table`` would have stored them; returns the digests left (:func:`derived_rows`).
"""

DERIVED_CHUNK = 256
"""Rows read from the source space and run through the top at once by :func:`derived_rows`:
10 MiB of Lite0's activations one block below its end."""


def derived_rows(
    store: FeatureStore,
    source: str,
    top: Callable[[torch.Tensor], torch.Tensor] | None,
    space: Space,
    view: str,
    digests: list[str],
    chunk: int = DERIVED_CHUNK,
) -> list[str]:
    """Fill ``space`` with the rows of ``digests`` that the float32 space ``source`` holds, each
    through ``top`` (None: as they are, :func:`narrow_rows`), ``chunk`` rows at a time, rounded
    to ``space``'s dtype as computing them would have been; returns the digests left. ``train``
    makes a fine-tuned body's features so (``source``: the activations at the cut, ``top``: the
    pretrained blocks above it, in ONNX Runtime as the body's whole graph runs: the same bits),
    where a second frozen pass pushed every view through the frozen blocks again. The images
    ``source`` knows cannot be decoded are remembered as such here too; those it lacks (never
    tried, or not read this time) are left for the body's pass to try. One loop for both uses, so
    that what one learns (the generation check, say) the other has."""
    dim = store.space_dim(source)
    if not digests or dim is None:
        return digests
    found = store.lookup(source, view, digests)
    rows = store.space(source, dim, "float32")
    have = np.flatnonzero(found.rows >= 0)
    with space.syncing_seldom():
        for part in np.array_split(have, max(1, -(-len(have) // chunk))):
            if len(part):
                read = rows.read(found.rows[part], found.generation)
                made = read if top is None else top(torch.from_numpy(read)).numpy()
                pixels = None if found.pixels is None else found.pixels[part]
                space.write(view, [digests[i] for i in part], made, pixels)
    if found.errors:
        space.write_errors(view, [digests[i] for i in found.errors], list(found.errors.values()))
    return [d for d, hit in zip(digests, found.found, strict=True) if not hit]


Filled = tuple[int, int, dict[str, str]]
"""What :func:`fill` did for one view: the images decoded and computed, those that could not be
decoded (tried, never pushed through the body), and digest -> reason of those that could not be
read this time (:class:`PassingFailure`)."""


def fill(
    body: FrozenBody,
    plans: Sequence[TablePlan],
    todo: list[tuple[str, Sample]],
    settings: PassSettings,
    probe: Probe | None = None,
) -> list[Filled]:
    """Push ``todo`` ((digest, sample) pairs) through the body in each view of ``plans`` that
    lacks it (``TablePlan.todo``), each image decoded once for all of them
    (``frozen.views_pass``); every batch goes to the store under its view's key, and ``probe``'s
    measurements of an image (once) to ``probe.keep``. Returns each view's :data:`Filled`. A file
    that could not be read this time is never remembered, and hashed again next time."""
    if not todo:
        return [(0, 0, {}) for _ in plans]
    digests = [d for d, _ in todo]
    samples = [s for _, s in todo]
    wanted = [[k for k, plan in enumerate(plans) if d in plan.todo] for d in digests]
    seeds = [[view_seed(d, plan.spec.view) for d in digests] for plan in plans]
    batches = views_pass(
        body,
        samples,
        [plan.spec for plan in plans],
        settings,
        wanted=wanted,
        seeds=seeds,
        measure=probe.measure if probe else None,
        digests=digests,
    )
    failed, passing = [0] * len(plans), [dict[str, str]() for _ in plans]
    measured: set[str] = set()
    for batch in batches:
        plan, decoded = plans[batch.slot], [digests[i] for i in batch.indices]
        failed[batch.slot] += len(batch.failures)
        if batch.features is not None:
            plan.space.write(plan.key, decoded, batch.features, batch.pixels)
        if probe is not None and len(batch.measured):
            keep = [i for i, d in enumerate(decoded) if d not in measured]
            probe.keep([decoded[i] for i in keep], [batch.measured[i] for i in keep])
            measured.update(decoded)
        passing[batch.slot] |= write_failures(plan, batch.failures, digests, samples)
    gone = set().union(*passing)
    plans[0].space.store.forget_files([todo[i][1].path for i, d in enumerate(digests) if d in gone])
    return [(len(plan.todo) - failed[k], failed[k], passing[k]) for k, plan in enumerate(plans)]


def write_failures(
    plan: TablePlan,
    failures: list[tuple[int, str]],
    digests: Sequence[str],
    samples: Sequence[Sample],
) -> dict[str, str]:
    """Remember in ``plan``'s view why each of ``failures`` ((position, message) of the images
    that could not be decoded) cannot be, but for those that could not be read this time
    (:class:`PassingFailure`), returned as digest -> reason."""
    reasons = {i: m.removeprefix(f"{samples[i].path}: ") for i, m in failures}
    kept = [i for i, m in failures if not isinstance(m, PassingFailure)]
    plan.space.write_errors(plan.key, [digests[i] for i in kept], [reasons[i] for i in kept])
    return {digests[i]: reasons[i] for i, m in failures if isinstance(m, PassingFailure)}


def make_table(
    space: Space,
    samples: Sequence[Sample],
    found: Lookup,
    digests: list[str],
    hashing: HashStats,
    computed: int = 0,
    failed: int = 0,
    missing: AbstractSet[str] = frozenset(),
    derived: AbstractSet[str] = frozenset(),
) -> FeatureTable:
    """The table of ``samples`` that ``found`` located, less the HEIC photos that cannot be
    decoded now (:func:`decodable_now`) and the images over today's pixel limit
    (:func:`within_pixel_limit`: after, so that the header of no photo this Python cannot read
    is read for its count); ``computed``: the images this process pushed through the body for
    it, ``failed``: those it tried and could not decode; ``missing``: the digests the store
    lacked (their copies counted: :func:`copies_computed_once`), ``derived``: those made from
    other rows (:func:`firsts_among`)."""
    found = decodable_now(found, samples, digests, space.store)
    found = within_pixel_limit(found, samples, digests, space)
    ok = torch.from_numpy(found.rows >= 0)
    return FeatureTable(
        space=space,
        rows=found.rows,
        labels=torch.tensor([s.label for s in samples], dtype=torch.long),
        ok=ok,
        errors=[f"{samples[i].path}: {reason}" for i, reason in sorted(found.errors.items())],
        computed=computed,
        hashing=hashing,
        generation=found.generation,
        digests=digests,
        failed=failed,
        copies=copies_computed_once(digests, missing, ok),
        derived=firsts_among(digests, derived, ok),
    )


def report_unreadable(tables: Sequence[FeatureTable | FeatureSet]) -> list[str]:
    """One warning for the files that could not be read (each once, not once per view), naming
    the first ten; those beyond it are logged in full, each once (at info). Returns their
    messages (``path: reason``)."""
    messages = list(dict.fromkeys(m for table in tables for m in table.errors))
    for message in messages[NAMED:]:  # the first NAMED are in the warning already
        log.info("skipped %s", message)
    if messages:
        skipped = plural(len(messages), "unreadable file")
        log.warning(
            "skipped %s (`check_folder` lists them): %s", skipped, some_of(messages, quote=False)
        )
    return messages


def require_readable(table: FeatureTable | FeatureSet, folder: Path) -> None:
    """Refuse ``folder`` in one sentence when none of its images (``table``'s) can be read: there
    is nothing to fit, calibrate, measure or rank."""
    if len(table.ok) and not table.ok.any():
        raise ObjrecError(
            f"no image of {folder} can be read: {some_of(list(table.errors), quote=False)}"
        )


def require_every_class(table: FeatureTable, folder: Path, classes: Sequence[str]) -> None:
    """Refuse a class none of whose images in ``folder`` can be read: the model could not learn
    it (as a class folder without images is refused: ``data.scan_class_folder``)."""
    readable = torch.bincount(table.labels[table.ok], minlength=len(classes)).tolist()
    missing = [name for name, n in zip(classes, readable, strict=True) if n == 0]
    if missing:
        others = f" (and {plural(len(missing) - 1, 'other class', 'other classes')})"
        raise ObjrecError(
            f"no image of {folder / missing[0]}{others if len(missing) > 1 else ''} can be read: "
            f"the model could not learn it; `check_folder({str(folder)!r})` lists the unreadable "
            "files"
        )

"""The frozen body's features, computed once per image view and cached on disk.

With the body frozen, its output for a given image and transform never changes, so ``train``
pushes each image through it once (plus ``aug_views`` augmented views of each training image)
instead of once per epoch. Each cache entry is a folder named by a key that covers everything that
changes the features: the body's weights, the data config and augmentation, the view, and every
file's path, size and modification time. Entries are written to a temporary folder and renamed into
place, so an interrupted write is never read as valid. Features are streamed into a memory-mapped
``.npy`` file, so memory stays bounded for large data sets.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from objrec.config import DataConfig
from objrec.data import ImageDataset, Sample, make_loader, prefetch
from objrec.distributed import SINGLE, World
from objrec.progress import SILENT, Reporter
from objrec.quantize import QuantizedBody
from objrec.runtime import Runner, make_runner
from objrec.transforms import build_transforms, build_tta_transform, draft_size

log = logging.getLogger(__name__)

CACHE_VERSION = 1
FROZEN_BATCH = 16
"""Images per frozen-pass batch. ONNX Runtime keeps buffers for the largest batch it has run: with
the three-body default at 240 px, batch 64 peaked at 3.6 GiB (19.6 and 21.3 images/s in two runs),
batch 16 at 1.4 GiB (27.5 and 33.7 images/s) (``benchmarks/frozen_batch.py``)."""
AUGMENT_SEED = (
    1_000_003  # views are seeded by (view, index) alone: another training seed reuses them
)


def default_cache_dir() -> Path:
    env = os.environ.get("OBJREC_CACHE")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "objrec"


def fingerprint_module(module: nn.Module) -> str:
    """SHA-256 of a module's architecture (its repr) and state: changes whenever either does."""
    digest = hashlib.sha256(repr(module).encode())
    for name, tensor in module.state_dict().items():
        t = tensor.detach().cpu().contiguous()
        digest.update(f"{name}:{tuple(t.shape)}:{t.dtype}".encode())
        digest.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return digest.hexdigest()


def fingerprint_files(samples: Sequence[Sample]) -> str:
    """SHA-256 over every file's absolute path, label, size and modification time."""
    digest = hashlib.sha256()
    for s in samples:
        st = s.path.stat()
        digest.update(f"{s.path.resolve()}|{s.label}|{st.st_size}|{st.st_mtime_ns}\n".encode())
    return digest.hexdigest()


class FrozenBody:
    """A frozen body, its fingerprint, and a fast runner built only when features are computed."""

    def __init__(
        self, body: nn.Module, input_size: int, cache: FeatureCache, backend: str = "auto"
    ):
        self.body = body.eval()
        self.n_features: int = body.n_features
        self.input_size = input_size
        self.fingerprint = fingerprint_module(body)
        self.cache = cache
        self.backend = backend
        self.backend_used: str | None = None
        self._runner: Runner | None = None

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if self._runner is None and isinstance(self.body, QuantizedBody):
            self._runner, self.backend_used = self.body, "onnxruntime int8"
        if self._runner is None:
            onnx_path = self.cache.onnx_path(self.fingerprint, self.input_size)
            self._runner, self.backend_used = make_runner(
                self.body, self.input_size, self.backend, onnx_path
            )
            log.info("frozen pass runs on %s", self.backend_used)
        return self._runner(x)


@dataclass(frozen=True)
class ViewSpec:
    """One view of a set of images: the centre crop (``view=0``) or augmented view ``view``."""

    data: DataConfig
    augment: str = "none"
    view: int = 0
    tta: str = "centre"
    """For ``view=0``: which deterministic test-time view (see ``transforms.TTA_VIEWS``)."""

    def transform(self):
        if self.view == 0 and self.tta != "centre":
            return build_tta_transform(self.data, self.tta)
        return build_transforms(self.data, train=self.view > 0, augment=self.augment)


@dataclass
class FeatureSet:
    """Features (N, F), labels (N,), which rows came from readable files, and why others did not."""

    features: torch.Tensor
    labels: torch.Tensor
    ok: torch.Tensor
    errors: list[str] = field(default_factory=list)

    def readable(self) -> FeatureSet:
        return FeatureSet(
            self.features[self.ok], self.labels[self.ok], self.ok[self.ok], self.errors
        )


class SeededViewDataset(ImageDataset):
    """Augmented views seeded by (view, image): the same view of the same image is reproducible.

    ``seeds`` numbers the images (default: their position); a shard passes the full set's numbers.
    """

    def __init__(self, samples, transform, view: int, draft: int | None, seeds=None):
        super().__init__(samples, transform, draft)
        self.view = view
        self.seeds = list(seeds) if seeds is not None else list(range(len(samples)))

    def __getitem__(self, index: int):
        if self.view == 0:
            return super().__getitem__(index)
        with torch.random.fork_rng(devices=[]):  # leave the caller's random stream untouched
            torch.manual_seed(AUGMENT_SEED * self.view + self.seeds[index])
            return super().__getitem__(index)


def cache_key(body_fp: str, files_fp: str, spec: ViewSpec) -> str:
    payload = {
        "version": CACHE_VERSION,
        "body": body_fp,
        "files": files_fp,
        "data": asdict(spec.data),
        "augment": spec.augment if spec.view > 0 else "none",
        "view": spec.view,
        **({"tta": spec.tta} if spec.view == 0 and spec.tta != "centre" else {}),
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:32]


class FeatureCache:
    """A folder of cache entries, one sub-folder per key."""

    def __init__(self, root: Path | None):
        self.root = Path(root) if root else None

    def onnx_path(self, fingerprint: str, input_size: int) -> Path | None:
        if self.root is None:
            return None
        return self.root / "onnx" / f"{fingerprint[:32]}-{input_size}.onnx"

    def load(self, key: str, n: int) -> FeatureSet | None:
        if self.root is None:
            return None
        entry = self.root / key
        try:
            meta = json.loads((entry / "meta.json").read_text())
            # copy-on-write map: pages are read from disk when used, never all at once
            features = np.load(entry / "features.npy", mmap_mode="c", allow_pickle=False)
            labels = np.load(entry / "labels.npy", allow_pickle=False)
            ok = np.load(entry / "ok.npy", allow_pickle=False)
            errors = json.loads((entry / "errors.json").read_text())
        except (OSError, ValueError):
            return None
        if (
            meta.get("key") != key
            or features.shape[0] != n
            or labels.shape != (n,)
            or ok.shape != (n,)
        ):
            log.warning("ignoring malformed feature cache entry %s", entry)
            return None
        return FeatureSet(
            torch.from_numpy(features),
            torch.from_numpy(labels),
            torch.from_numpy(ok),
            errors,
        )

    def new_entry(self, key: str) -> Path:
        assert self.root is not None
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = self.root / f".tmp-{key}-{uuid.uuid4().hex[:8]}"
        tmp.mkdir()
        return tmp

    def commit(self, tmp: Path, key: str) -> None:
        """Publish a fully written entry with one atomic rename."""
        final = self.root / key
        if final.exists():  # another process finished first; ours is identical
            shutil.rmtree(tmp, ignore_errors=True)
            return
        os.replace(tmp, final)

    def clear(self) -> int:
        """Remove every entry; returns how many were removed."""
        if self.root is None or not self.root.is_dir():
            return 0
        entries = list(self.root.iterdir())
        for p in entries:
            shutil.rmtree(p) if p.is_dir() else p.unlink()
        return len(entries)


@torch.inference_mode()
def compute_features(
    body: FrozenBody,
    samples: Sequence[Sample],
    spec: ViewSpec,
    batch_size: int = FROZEN_BATCH,
    num_workers: int = 0,
    out: Path | None = None,
    reporter: Reporter = SILENT,
    description: str = "features",
    seeds: Sequence[int] | None = None,
) -> FeatureSet:
    """Run the frozen body once over ``samples`` in ``spec``'s view.

    When ``out`` is a folder, the features are streamed into ``out/features.npy`` (memory-mapped)
    and the labels, readable-mask and ``meta.json`` written beside it.
    """
    n, dim = len(samples), body.n_features
    dataset = SeededViewDataset(samples, spec.transform(), spec.view, draft_size(spec.data), seeds)
    loader = make_loader(dataset, batch_size=batch_size, num_workers=num_workers)
    if out is not None:
        features = np.lib.format.open_memmap(
            out / "features.npy", mode="w+", dtype=np.float32, shape=(n, dim)
        )
    else:
        features = np.zeros((n, dim), dtype=np.float32)
    ok = np.zeros(n, dtype=bool)
    errors: list[str] = []
    with reporter.task(description, n) as advance:
        batches = prefetch(loader) if num_workers == 0 else loader
        for start, batch in zip(range(0, n, batch_size), batches, strict=True):
            if len(batch.indices):
                features[batch.indices.numpy()] = body(batch.images).float().numpy()
                ok[batch.indices.numpy()] = True
            errors += batch.errors
            advance(min(batch_size, n - start))
    labels = np.array([s.label for s in samples], dtype=np.int64)
    if out is not None:
        features.flush()
        np.save(out / "labels.npy", labels)
        np.save(out / "ok.npy", ok)
        (out / "errors.json").write_text(json.dumps(errors))
    return FeatureSet(
        torch.from_numpy(features), torch.from_numpy(labels), torch.from_numpy(ok), errors
    )


def cached_features(
    body: FrozenBody,
    samples: Sequence[Sample],
    spec: ViewSpec,
    batch_size: int = FROZEN_BATCH,
    num_workers: int = 0,
    reporter: Reporter = SILENT,
    description: str = "features",
    world: World = SINGLE,
) -> FeatureSet:
    """Features from the cache when an entry for exactly these inputs exists, else computed.

    Under ``torchrun`` each rank computes every ``world.size``-th image and rank 0 assembles the
    entry once; the cache folder must be shared by the ranks (one machine, or a shared disk).
    """
    cache = body.cache
    key = cache_key(body.fingerprint, fingerprint_files(samples), spec)
    hit = cache.load(key, len(samples))
    if hit is not None:
        log.info("%s: %d feature rows from cache %s", description, len(samples), key)
        reporter.note(f"{description}: {len(samples)} images from the feature cache")
        return hit
    if world.distributed and cache.root is not None:
        args = (batch_size, num_workers, reporter, description)
        return sharded_features(body, samples, spec, key, world, *args)
    if cache.root is None:
        return compute_features(
            body, samples, spec, batch_size, num_workers, None, reporter, description
        )
    tmp = cache.new_entry(key)
    try:
        result = compute_features(
            body, samples, spec, batch_size, num_workers, tmp, reporter, description
        )
        (tmp / "meta.json").write_text(
            json.dumps({"key": key, "n": len(samples), "view": spec.view})
        )
        cache.commit(tmp, key)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return result


def sharded_features(
    body: FrozenBody,
    samples,
    spec: ViewSpec,
    key: str,
    world: World,
    batch_size: int,
    num_workers: int,
    reporter: Reporter,
    description: str,
) -> FeatureSet:
    """This rank's share of a cache entry, then the whole entry as rank 0 assembled it."""
    cache, n = body.cache, len(samples)
    share = list(range(world.rank, n, world.size))
    part = compute_features(
        body,
        [samples[i] for i in share],
        spec,
        batch_size,
        num_workers,
        None,
        reporter,
        description,
        seeds=share,
    )
    shard = cache.root / f".shard-{key}-{world.rank}-of-{world.size}.npz"
    np.savez(
        shard,
        features=part.features.numpy(),
        ok=part.ok.numpy(),
        errors=np.array(part.errors, dtype=str),
    )
    world.barrier()
    if world.main:
        assemble(cache, key, samples, body.n_features, world.size)
    world.barrier()
    result = cache.load(key, n)
    if result is None:
        raise RuntimeError(f"rank {world.rank}: the assembled cache entry {key} is not readable")
    return result


def assemble(cache: FeatureCache, key: str, samples, dim: int, size: int) -> None:
    """Rank 0: put the shards of every rank together into one entry, published atomically."""
    n = len(samples)
    tmp = cache.new_entry(key)
    features = np.lib.format.open_memmap(
        tmp / "features.npy", mode="w+", dtype=np.float32, shape=(n, dim)
    )
    ok = np.zeros(n, dtype=bool)
    errors: list[str] = []
    for rank in range(size):
        shard = cache.root / f".shard-{key}-{rank}-of-{size}.npz"
        with np.load(shard, allow_pickle=False) as part:
            features[rank::size] = part["features"]
            ok[rank::size] = part["ok"]
            errors += part["errors"].tolist()
        shard.unlink()
    features.flush()
    np.save(tmp / "labels.npy", np.array([s.label for s in samples], dtype=np.int64))
    np.save(tmp / "ok.npy", ok)
    (tmp / "errors.json").write_text(json.dumps(errors))
    (tmp / "meta.json").write_text(json.dumps({"key": key, "n": n, "shards": size}))
    cache.commit(tmp, key)

"""The label check's out-of-fold heads: ``folds`` heads, each trained on the other folds'
frozen features (a copy group held out whole, in one fold), give every image class probabilities
from a head that never saw it nor a copy of it (:func:`out_of_fold_probs`), the folds drawn in
the order of the images' contents, so that a split folder and the class folder it was split from
are judged alike (:func:`layout_free_probs`)."""

from __future__ import annotations

import logging
import math
import warnings
from typing import TYPE_CHECKING

import numpy as np
import torch

from objrec.audit.copies import Pictures
from objrec.audit.inventory import Inventory
from objrec.audit.report import MIN_JUDGED
from objrec.engine import train_one_epoch
from objrec.errors import ObjrecError
from objrec.model import build_head
from objrec.progress import SILENT
from objrec.words import plural

if TYPE_CHECKING:
    from objrec.audit.settings import AuditConfig

log = logging.getLogger(__name__)


def head_epochs(n_images: int, config: AuditConfig) -> int:
    """``config.epochs``, or as many more as ``config.min_steps`` optimizer steps need when a head
    trains on ``n_images`` (``ceil(n_images / batch_size)`` steps an epoch)."""
    batches = max(1, math.ceil(n_images / config.batch_size))
    return max(config.epochs, math.ceil(config.min_steps / batches))


def train_fold_head(
    x: torch.Tensor,
    y: torch.Tensor,
    n_classes: int,
    config: AuditConfig,
    seed: int,
    group: np.ndarray | None = None,
):
    """The article's head (``config.heads`` of them side by side) trained on features ``x`` for
    ``head_epochs`` by the engine's epoch loop: seeded, no early stopping. With ``group``
    (``copy_groups``' numbers of these rows) each epoch trains on one row of each group, drawn
    anew: 60 copies of a mislabelled photo taught the head its label 60 times over."""
    generator = torch.Generator().manual_seed(seed)
    pictures = None if group is None else Pictures.of_groups(group, y.numpy())
    if pictures is not None and len(pictures.first) == len(y):
        pictures = None  # no two rows of one picture: the rows as they are, as before
    with torch.random.fork_rng(devices=[]):  # initialisation and dropout: seeded, caller untouched
        torch.manual_seed(seed)
        head = build_head(x.shape[1], n_classes, config.hidden, config.dropout, config.heads)
        optimizer = torch.optim.Adam(head.parameters(), lr=config.lr)
        n = len(y) if pictures is None else len(pictures.first)
        for _ in range(head_epochs(n, config)):
            order = torch.randperm(len(y), generator=generator)
            if pictures is not None:  # each picture's first row in this epoch's random order
                _, once = np.unique(pictures.of[order.numpy()], return_index=True)
                order = order[torch.from_numpy(np.sort(once))]
            train_one_epoch(head, ((x[b], y[b]) for b in order.split(config.batch_size)), optimizer)
    return head.eval()


def reduces(features: np.ndarray, config: AuditConfig) -> bool:
    """Whether :func:`reduce` fits a PCA to ``features`` (seconds: scikit-learn's import too)."""
    return bool(config.pca) and config.pca < min(features.shape)


def reduce(features: np.ndarray, config: AuditConfig) -> np.ndarray:
    """The first ``config.pca`` principal components, or the features. Fitted once on every
    row, the rows each head holds out included: a PCA reads no label, so no held-out label
    reaches a head, and one fit serves every fold."""
    if not reduces(features, config):
        return np.ascontiguousarray(features, dtype=np.float32)
    from sklearn.decomposition import PCA

    pca = PCA(config.pca, svd_solver="randomized", random_state=config.seed)
    return pca.fit_transform(features).astype(np.float32)


def out_of_fold_probs(
    features: np.ndarray,
    labels: np.ndarray,
    n_classes: int,
    config: AuditConfig,
    reporter=SILENT,
    groups: np.ndarray | None = None,
) -> np.ndarray:
    """(N, classes) probabilities, each row from the head that did not train on that image (nor on
    any image of its group in ``groups``, ``copy_groups``' numbers: ``fold_splits``); a head
    trains on one row of each group an epoch (``train_fold_head``)."""
    splits = fold_splits(labels, groups, config)
    probs = np.zeros((len(labels), n_classes), dtype=np.float64)
    reduced = np.ascontiguousarray(features, dtype=np.float32)
    if reduces(features, config):  # seconds before the first head: said, not "0/5"
        with reporter.task(f"reducing the features to {config.pca} dimensions", None):
            reduced = reduce(features, config)
    x, y = torch.from_numpy(reduced), torch.from_numpy(labels)
    with reporter.task("out-of-fold heads", len(splits)) as advance:
        for k, (fit_idx, held_idx) in enumerate(splits):
            mine = None if groups is None else groups[fit_idx]
            head = train_fold_head(
                x[fit_idx], y[fit_idx], n_classes, config, config.seed * 1000 + k, mine
            )
            with torch.inference_mode():
                probs[held_idx] = head(x[held_idx]).softmax(1).double().numpy()
            advance(1)
    return probs


def layout_free_probs(
    inv: Inventory, idx, features, labels, config: AuditConfig, reporter, group
) -> np.ndarray:
    """:func:`out_of_fold_probs` of the readable rows (``idx``) taken in :func:`content_order`,
    returned in row order: the folds (and each head's batches) follow the rows' order, so a split
    folder (train, valid, test, each by class) and the class folder it was split from drew other
    folds for the same photos, and one butterfly's out-of-fold probability was 0.24 in one, 0.52
    in the other (6 classes x 25 photos): flagged by ``audit data``, not by ``audit PHOTOS``."""
    order = content_order(inv, idx)
    probs = np.empty((len(idx), len(inv.classes)), dtype=np.float64)
    probs[order] = out_of_fold_probs(
        features[order], labels[order], len(inv.classes), config, reporter, group[order]
    )
    return probs


def content_order(inv: Inventory, idx) -> np.ndarray:
    """The rows ``idx`` ordered by their images' content digests (then class and file name, for
    byte-identical copies, or when the digests are not read): the same photos come in the same
    order whatever folder holds them."""
    digests = inv.digests or [""] * len(inv.items)
    keys = [(digests[i], inv.classes[inv.items[i].label], inv.items[i].path.name) for i in idx]
    return np.array(sorted(range(len(keys)), key=keys.__getitem__), dtype=np.int64)


def fold_splits(
    labels: np.ndarray, groups: np.ndarray | None, config: AuditConfig
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Training and held-out rows of each fold: ``StratifiedKFold``'s, but each group of
    ``groups`` (``copy_groups``' numbers) held out whole, in its first row's fold, so no head
    trains on a copy of an image it scores (unless that leaves a class wholly in one fold:
    ``spread_classes``). Only the copies move: the other rows keep their
    folds, so a folder without near-duplicates keeps its findings (``StratifiedGroupKFold`` draws
    other folds for all, a group per image too)."""
    from sklearn.model_selection import StratifiedKFold

    folds = StratifiedKFold(
        fold_count(labels, config.folds), shuffle=True, random_state=config.seed
    )
    with warnings.catch_warnings():  # classes smaller than the number of folds are expected
        warnings.simplefilter("ignore", UserWarning)
        splits = list(folds.split(labels, labels))
    if groups is None:
        return splits
    fold = np.zeros(len(labels), dtype=np.int64)
    for k, (_, held) in enumerate(splits):
        fold[held] = k
    _, first, member_of = np.unique(groups, return_index=True, return_inverse=True)
    moved = spread_classes(fold[first][member_of], fold, labels, groups)
    held_out = [np.flatnonzero(moved == k) for k in range(len(splits))]
    return [(np.flatnonzero(moved != k), held) for k, held in enumerate(held_out) if held.size]


def spread_classes(
    fold: np.ndarray, plain: np.ndarray, labels: np.ndarray, groups: np.ndarray
) -> np.ndarray:
    """``fold`` (each row's fold, each group in its first row's) with one group moved out of the
    fold that holds all of a class of two groups or more: that fold's head would never see the
    class, and its right labels looked wrong (a class of two bursts, whose first frames shared a
    fold). The group moved is the class's last, into another fold one of its rows had in
    ``plain`` (``StratifiedKFold``'s), else the next fold; each group stays whole."""
    folds = int(plain.max()) + 1
    for c in np.unique(labels):
        rows = np.flatnonzero(labels == c)
        mine = list(dict.fromkeys(groups[rows].tolist()))  # the class's groups, in row order
        if len(mine) < 2 or len(np.unique(fold[rows])) > 1:
            continue
        k, members = fold[rows[0]], groups == mine[-1]
        others = [f for f in plain[members].tolist() if f != k]
        fold[members] = others[0] if others else (k + 1) % folds
    return fold


def fold_count(labels: np.ndarray, folds: int) -> int:
    """``folds``, or fewer where no class has that many images: each fold scores at least one
    image of the largest class (scikit-learn's ``StratifiedKFold`` refuses more folds)."""
    most = int(np.bincount(labels).max()) if labels.size else 0
    if most < 2:
        raise ObjrecError(
            f"`folds` cannot be met: out-of-fold heads need a class of {MIN_JUDGED} or more "
            "readable images, and every class has fewer"
        )
    if most < folds:
        log.warning(
            "the audit trains %s, not %d: no class has more than %s",
            *(plural(most, "out-of-fold head"), folds, plural(most, "readable image")),
        )
    return min(folds, most)

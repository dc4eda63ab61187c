"""What ``train`` warns of at its start, before the frozen pass, when the data or the settings
invite a worse model than they need: a strongly imbalanced training split, classes of too few
training images, a normalisation other than the body's own, images put into the split folder by
hand. Each is said once, by rank 0, and
not on a resume, which keeps its run's settings. Nothing here prints: each hint is logged."""

from __future__ import annotations

import logging
from collections import Counter
from pathlib import Path

from objrec.backbones import BackboneSpec, normalisation_warning
from objrec.config import SplitConfig, TrainConfig
from objrec.data import ClassFolder, imbalance_hint
from objrec.distributed import World
from objrec.manifest import hand_placed_words
from objrec.provenance import SplitState
from objrec.ratios import min_class_size
from objrec.split.result import few_train_words

log = logging.getLogger(__name__)


def hint_normalisation(
    spec: BackboneSpec, config: TrainConfig, world: World, resumed: bool
) -> None:
    """One warning at the start when ``mean`` or ``std`` differs from the normalisation the body's
    own weights were trained with (``backbones.normalisation_warning``); not on a resume, which
    keeps its run's settings."""
    said = normalisation_warning(spec, config.weights, config.mean, config.std)
    if said and world.main and not resumed:
        log.warning("%s", said)


def hint_balance(train_set: ClassFolder, config: TrainConfig, world: World, resumed: bool) -> None:
    """One warning at the start, before the frozen pass, when the training split is strongly
    imbalanced (``data.imbalance_hint``) and the loss is not weighted already, naming
    ``balance='weights'``; not on a resume, which keeps its run's settings."""
    if config.balance != "none" or resumed or not world.main:
        return
    counts = Counter(sample.label for sample in train_set.samples)
    per_class = {name: counts[label] for label, name in enumerate(train_set.classes)}
    hint = imbalance_hint(per_class, "training image", "`balance='weights'`")
    if hint:
        log.warning("%s", hint)


def hint_few_train(train_set: ClassFolder, split: SplitState, world: World, resumed: bool) -> None:
    """One warning at the start naming the classes of too few training images, in ``split``'s
    words (``split.result.few_train_words``, at the split's ratios): ``check`` and ``split`` say
    it too, but a user who skips their warnings must not first learn of it when ``evaluate``
    stumbles on it. Not on a resume, which says it at its start."""
    if resumed or not world.main:
        return
    ratios = split_ratios(split)
    need = min_class_size(ratios)
    counts = Counter(sample.label for sample in train_set.samples)
    few = {name: counts[i] for i, name in enumerate(train_set.classes) if 0 < counts[i] < need}
    if few:
        log.warning("%s", few_train_words(few, need, ratios))


def hint_hand_placed(
    data_dir: Path, sets: tuple[ClassFolder, ClassFolder], world: World, resumed: bool
) -> None:
    """One warning at the start when the split folder's manifest has no row of some of the
    training or validation images (``manifest.hand_placed_words``): a newcomer's photos put into
    train/ by hand were said by ``check`` alone. Not on a resume, which says it at its start."""
    if resumed or not world.main:
        return
    paths = [sample.path for listed in sets for sample in listed.samples]
    if said := hand_placed_words(data_dir, paths, "train"):
        log.warning("%s", said)


def split_ratios(split: SplitState) -> tuple[float, float, float]:
    """The ratios ``split``'s ``split.json`` records, else ``split``'s default ones."""
    ratios = (split.record or {}).get("ratios")
    if isinstance(ratios, list) and len(ratios) == 3:
        return (float(ratios[0]), float(ratios[1]), float(ratios[2]))
    return SplitConfig().ratios

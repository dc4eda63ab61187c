"""Why a fit stopped where it did, and every sentence said of it: the record the loop returns
(:class:`FitEnd`, made by ``engine.why_stopped``), the lines ``engine.fit`` logs at its end (why it
stopped, :func:`stop_line`; whether more epochs may help, :func:`limit_said`) and the sentence
``train`` prints under its best epoch (:func:`early_stop_sentence`). The prose lived in the loop
module and again in the CLI, each docstring saying what the other said, so that a change of one
wording meant reading both (review64a); here each is decided beside the other. Sentences name the
settings as the API spells them, in backticks (the CLI spells them as its options:
``cli.messages.to_cli``). Pure: no PyTorch."""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from objrec import config
from objrec.words import plural

LITTLE_GAIN = 1e-3
"""A validation loss that fell by less than this over the last ``patience`` epochs has little left
to gain from more epochs (the epoch log shows losses to 4 decimals)."""


@dataclass(frozen=True)
class FitEnd:
    """Why a fit stopped where it did: what its end says is decided from this alone."""

    epoch: int
    """The last epoch it ran (a resumed fit counts those it ran before)."""
    best_epoch: int
    """The epoch of its lowest validation loss, the one kept."""
    last: int
    """The last epoch it could run: ``epochs``, or, fine-tuning's, the head's epochs and
    ``finetune_epochs``."""
    limit: tuple[str, int]
    """The setting behind ``last``, its name and value, named where it stopped the fit:
    ``("finetune_epochs", 3)``, not "the `epochs` limit (21)"."""
    patience: int
    min_delta: float = 0.0
    """The drop in the validation loss that early stopping counts."""
    losses: tuple[float, ...] = ()
    """Each epoch's validation loss, the first epoch's first."""
    stopped_early: bool = False
    """Early stopping ended it: ``patience`` epochs without a drop of more than ``min_delta``."""
    never_improved: bool = False
    """It started from another fit's best (fine-tuning) and never lowered it by more than
    ``min_delta``: neither its limit nor ``patience`` is why its best epoch is the other's."""

    @property
    def ran_all(self) -> bool:
        """Whether it ran to its last epoch (``patience`` may have run out at it too)."""
        return self.epoch >= self.last

    @property
    def improved_lately(self) -> bool:
        """:func:`improved_lately` of this fit."""
        return improved_lately(self.best_epoch, self.epoch, self.patience)

    @property
    def gained_little(self) -> bool:
        """:func:`gained_little` of this fit's losses."""
        return gained_little(self.losses, self.patience)


def stop_line(end: FitEnd) -> str:
    """Why the fit stopped, and the epoch kept (the INFO line of ``engine.fit``'s end): early
    stopping, or the epoch limit, named by the setting that set it (``end.limit``). A
    ``patience`` that ran out at the last epoch is the limit's stop, as
    :func:`early_stop_sentence` prints it: this line said "stopped early" beside it."""
    if end.stopped_early and not end.ran_all:
        reason = f"stopped early at epoch {end.epoch}: the validation loss stopped improving"
    else:
        name, value = end.limit
        reason = f"stopped at the epoch limit, {name}={value}"
    return f"{reason}; the best epoch, {end.best_epoch}, is kept"


def limit_said(end: FitEnd) -> tuple[int, str] | None:
    """Whether more of the limit that ended the fit may help, said at a logging level (None:
    nothing to say): a warning that more may give a better model when the validation loss
    improved lately, by more than :data:`LITTLE_GAIN` for the head's ``epochs``; one that it would
    not when ``patience`` alone kept it running. A head whose loss still fell, by less than
    ``LITTLE_GAIN`` over its last ``patience`` epochs, is told at INFO that more would gain little:
    a warning "more `epochs` may give a better model" would contradict :func:`early_stop_sentence`'s
    "a larger `epochs` would gain little". Never "still improving" of a loss that last improved 2
    epochs before the limit of 3 (``patience`` 5). Nothing for a fit stopped early, nor for one
    that never improved on the fit it started from (its caller says what the run keeps)."""
    if end.never_improved or not end.losses or end.stopped_early or not end.ran_all:
        return None
    name, value = end.limit
    if not end.improved_lately:
        return logging.WARNING, (
            f"training stopped at the `{name}` limit ({value}) only because `patience` "
            f"({end.patience}) kept it running: the validation loss last improved at epoch "
            f"{end.best_epoch}, {end.epoch - end.best_epoch} epochs before the end, so more "
            f"`{name}` would not help (a lower `patience` stops sooner)"
        )
    if name == "epochs" and end.gained_little:
        return logging.INFO, (
            f"the validation loss still fell at the `epochs` limit, by less than {LITTLE_GAIN:g} "
            f"in the last {end.patience} epochs: more `epochs` would gain little"
            f"{little_gain_why(end.min_delta)}"
        )
    last = " (the last)" if end.best_epoch == end.epoch else ""
    return logging.WARNING, (
        f"training stopped at the `{name}` limit ({value}) before early stopping ended it: the "
        f"validation loss last improved at epoch {end.best_epoch}{last}; more `{name}` may give a "
        "better model"
    )


def early_stop_sentence(end: FitEnd) -> str | None:
    """Why the head stopped where it did, in words: early (``patience`` ran out before
    ``epochs``), or at ``epochs``, naming the best epoch, while the validation loss was still
    improving (it improved lately; ``end.losses``, each epoch's, tell whether by much) or not.
    Whether more epochs may help is :func:`limit_said`'s to say, once: this line said it again,
    and of a loss that last improved 287 epochs before the end. None where that warning says it
    all ("training stopped at the `epochs` limit (3) before early stopping ended it: the
    validation loss last improved at epoch 3 ..."): this line then said "ran all `epochs` 3
    without stopping early: the validation loss last improved at epoch 3", the same fact twice,
    and the line above it names the epoch kept. An early stop is said in the order it happened,
    and why a stop then is sensible (:func:`early_stop_why`)."""
    epochs, best, ran, patience = end.last, end.best_epoch, end.epoch, end.patience
    if end.ran_all and end.improved_lately:
        head = (
            f"ran all `epochs` {epochs} without stopping early: the validation loss last improved"
        )
        if len(end.losses) == ran and end.gained_little:
            return (
                f"{head} at epoch {best}, but by less than {LITTLE_GAIN:g} in the last "
                f"{plural(patience, 'epoch')}, so a larger `epochs` would gain little"
                + little_gain_why(end.min_delta)
            )
        return None  # the warning says where it stopped and that more may help
    if end.ran_all:  # the limit ended it, whatever patience had left (the warning says)
        limit = f"stopped at the epoch limit, `epochs` {epochs}"
        return f"{limit}; the best epoch, the one kept, was {best}"
    return early_stop_why(end)


def early_stop_why(end: FitEnd) -> str:
    """:func:`early_stop_sentence` of a fit stopped early: "did not fall below epoch 12's by more
    than 0.001 (`min_delta`) in the 5 epochs after it (`patience` 5); epoch 15's, lower by less,
    is kept" was hard to parse for a student (newcomer61b)."""
    epochs, best, ran, patience = end.last, end.best_epoch, end.epoch, end.patience
    head = f"stopped early at epoch {ran} of at most {epochs} (`epochs`)"
    why = "so more epochs were unlikely to help"
    if min_delta := end.min_delta:  # it may have fallen, by less: the table shows it
        counted = ran - patience  # the last epoch early stopping counted: patience ran from it
        said = (
            f"{head}: in the {plural(patience, 'epoch')} after epoch {counted} (`patience` "
            f"{patience}), the validation loss never fell more than {decimal(min_delta)} "
            f"(`min_delta`) below epoch {counted}'s, {why}"
        )
        lower = f"epoch {best}, lower than epoch {counted} by less than that, is the one kept"
        return said if best == counted else f"{said}; {lower}"
    return (
        f"{head}: the validation loss did not improve in the {plural(patience, 'epoch')} after "
        f"epoch {best} (`patience` {patience}), {why}"
    )


def little_gain_why(min_delta: float) -> str:
    """What the ``min_delta`` the fit was given has to do with gains under :data:`LITTLE_GAIN`
    that did not stop it, as a clause in brackets: one below ``LITTLE_GAIN`` let them run on,
    which ``LITTLE_GAIN`` would stop on; nothing for one at or above it (the gains were that
    small, yet one lowered the epoch early stopping counted from by more). The line named
    ``min_delta`` 0.001 alone, read as the setting in use whatever the user had set."""
    if min_delta >= LITTLE_GAIN:
        return ""
    given = format(Decimal(repr(float(min_delta))).normalize(), "f")  # 0.00001, not 1e-05
    return (
        f" (`min_delta` {given}, the one set, let it run on; `min_delta` {LITTLE_GAIN:g} stops "
        "on gains this small)"
    )


def decimal(value: float) -> str:
    """``value`` in plain decimals, as a user types it: ``0.00001``, not ``1e-05``."""
    return format(Decimal(repr(value)), "f")


def lowest(losses: Sequence[float]) -> float:
    """The lowest of ``losses``, NaN (a diverged epoch) left out; infinity when none is left."""
    return min((x for x in losses if not math.isnan(x)), default=math.inf)


def gained_little(losses: Sequence[float], patience: int) -> bool:
    """Whether the validation loss, ``losses`` an epoch from the first, fell by less than
    :data:`LITTLE_GAIN` over its last ``patience`` epochs (its best epoch, the lowest, being one
    of them, however little it fell)."""
    if len(losses) <= patience:
        return False
    return lowest(losses[:-patience]) - lowest(losses) < LITTLE_GAIN


def improved_lately(best: int, ran: int, patience: int) -> bool:
    """Whether a fit that ran ``ran`` epochs, its best at epoch ``best``, improved lately: its
    validation loss last fell within the head's default ``patience`` (``config.PATIENCE``, after
    which early stopping calls a fit done) of the end, or within ``patience``, if fewer. Only
    then may more epochs help: a loss that last fell 287 epochs before the limit of 300
    (``patience`` 300) is not said to be worth more epochs."""
    return ran - best < min(patience, config.PATIENCE)

"""Which epoch a head's fit keeps: the one early stopping last counted as a gain (by more than
``min_delta``, objrec's rule until session 57) against the one of the lowest validation loss
(``min_delta`` then governing only when the fit stops: objrec's rule since), on held-out
validation loss.

Both rules stop at the same epoch (``min_delta`` still decides patience), so one fit gives both:
each epoch's head is copied when early stopping counts it (the earlier rule, :class:`Counted`),
and the fit keeps the lowest (``engine.fit``). Keeping the lowest epoch is chosen on the validation loss itself, so its
best validation loss is lower by construction; this script therefore splits each split folder's
validation images in two fixed halves (seed 0, as ``warm_start.py``): early stopping watches half
A; the loss reported is each kept head's on half B, which no choice saw. The test split is never
read.

The features are ``objrec train``'s own (``train.prepare``, at the precision ``train`` settles:
int8 on a CPU with 8-bit dot products, its head in bf16 there), read from the store when it holds
them; the head's fit is ``train.fit_head``'s (its seeding, batches, loss, early stopping), with
``--min-delta`` (default objrec's). The losses depend on the seeds alone, not on the machine's
load.

    OBJREC_CACHE=... python benchmarks/min_delta_kept.py --splits /work/splits/s0 \\
        /work/splits/s1 /work/splits/s2 --seeds 0 1 2
"""

from __future__ import annotations

import argparse
import copy
import statistics
from dataclasses import replace
from pathlib import Path

import torch

from objrec.batches import as_trained, feature_batches, trains_in
from objrec.config import TrainConfig
from objrec.distributed import SINGLE, epoch_seed
from objrec.engine import FitState, Stopping, evaluate_loss, fit
from objrec.progress import SILENT
from objrec.train import head_optimizer, new_model, prepare, training_loss
from objrec.train_open import RunRequest, settled_precision


def halves(labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    order = torch.randperm(len(labels), generator=torch.Generator().manual_seed(0))
    return order[::2], order[1::2]


class Counted:
    """``on_epoch_end``: the head of the last epoch early stopping counted as a gain (its patience
    count back at 0), the one objrec kept until session 57, and its epoch and loss."""

    def __init__(self, head: torch.nn.Module):
        self.head, self.loss, self.epoch = head, float("inf"), 0
        self.state: dict[str, torch.Tensor] = {}

    def __call__(self, state: FitState) -> None:
        if state.stopper.bad_epochs == 0:
            self.loss, self.epoch = state.history[-1]["valid_loss"], state.epoch
            self.state = copy.deepcopy(self.head.state_dict())


def one_fit(prep, body, config: TrainConfig, rows, a, b) -> dict[str, float]:
    """One head seed's fit (a new head on the run's ``body``): the epochs each rule keeps and
    their losses on halves A and B."""
    valid_x, valid_y = rows
    head = new_model(body, len(prep.classes), config).head
    train = as_trained(prep.train, config, SINGLE)
    model = trains_in(head, config.head_precision)
    half_a, half_b = [(valid_x[a], valid_y[a])], [(valid_x[b], valid_y[b])]
    counted = Counted(head)
    state = fit(
        model,
        lambda epoch: feature_batches(
            train, prep.train_y, config.batch_size, epoch_seed(config.seed, epoch)
        ),
        lambda: half_a,
        head_optimizer(head, config),
        Stopping(config.epochs, config.patience, min_delta=config.min_delta),
        loss_fn=training_loss(config, prep.train_y, len(prep.classes)),
        on_epoch_end=counted,
    )
    kept: dict[str, float] = {
        "kept_epoch": counted.epoch,
        "lowest_epoch": state.best_epoch,
        "ran": state.epoch,
    }
    kept["kept_a"], kept["lowest_a"] = counted.loss, state.best_valid_loss
    kept["lowest_b"] = evaluate_loss(model, half_b)["loss"]  # fit restored the lowest epoch
    head.load_state_dict(counted.state)
    kept["kept_b"] = evaluate_loss(model, half_b)["loss"]
    return kept


def valid_rows(prep, config: TrainConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """The validation images' rows as the head's epochs read them (bf16-rounded for a bf16 head)."""
    stack = as_trained(prep.valid, config, SINGLE)
    parts = list(stack.batches(1024))
    return torch.cat([x for x, _ in parts]), torch.cat([y for _, y in parts])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--splits", type=Path, nargs="+", required=True, help="split folders to fit on"
    )
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="head seeds")
    parser.add_argument(
        "--min-delta",
        type=float,
        default=TrainConfig().min_delta,
        help="the drop early stopping counts as a gain [default: objrec's]",
    )
    args = parser.parse_args()
    config, precision = settled_precision(
        TrainConfig(min_delta=args.min_delta), RunRequest(), SINGLE
    )
    print(
        f"body {precision.body.used} ({precision.engine}), head {precision.head.used}; "
        f"min_delta {config.min_delta:g}"
    )
    print(
        "| split | head seed | epochs run | kept epoch | lowest epoch | kept: loss A | lowest: "
        "loss A | kept: loss B | lowest: loss B | lowest minus kept on B |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |", flush=True)
    gaps = []
    for data_dir in args.splits:
        prep, live = prepare(data_dir, config, SILENT)
        rows = valid_rows(prep, config)
        a, b = halves(rows[1])
        for seed in args.seeds:
            r = one_fit(prep, live.model.body, replace(config, seed=seed), rows, a, b)
            gaps.append(r["lowest_b"] - r["kept_b"])
            print(
                f"| {data_dir.name} | {seed} | {r['ran']} | {r['kept_epoch']} | "
                f"{r['lowest_epoch']} | {r['kept_a']:.5f} | {r['lowest_a']:.5f} | "
                f"{r['kept_b']:.5f} | {r['lowest_b']:.5f} | {gaps[-1]:+.5f} |",
                flush=True,
            )
    print(
        f"lowest minus kept on half B: mean {statistics.mean(gaps):+.5f}, min {min(gaps):+.5f}, "
        f"max {max(gaps):+.5f} ({len(gaps)} fits, {sum(g != 0 for g in gaps)} differ)"
    )


if __name__ == "__main__":
    main()

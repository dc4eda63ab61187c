"""One optimizer step of the default head, as ``objrec train`` takes it and in ways that should
learn the same head, side by side: where its time goes, and whether each way is the same step.

    flock /tmp/objrec-cpu.lock python benchmarks/head_step.py --data /work/splits/s0 [--profile]

Reads DATA's stored features as ``train`` does (``train.prepare``: run one ``objrec train DATA``
first, so that nothing is computed) and builds the default head (five members, 3,840 -> 256 ->
classes) and its batches (``batches.epoch_sources``: the held rows rounded to bfloat16 once, batch
128). The ways (``--ways``):

* ``today``: ``batches.trains_in`` (bfloat16 autocast: the first layer's float32 weight cast to
  bfloat16 each forward, its gradient cast back to float32) and ``train.head_optimizer`` (Adam's
  fused kernel over every weight).
* ``by-hand``: the first layer's weight cast to bfloat16 by hand, into a copy kept from step to
  step (a leaf, so its gradient stays bfloat16); Adam's fused kernel over that weight takes the
  gradient cast into a float32 buffer allocated once, and the kept copy is cast again after the
  update; the other weights as today.
* ``chunks``: ``by-hand`` a block of ``--rows`` of the first layer's 1,280 rows at a time: the
  block's gradient cast into the buffer, Adam on the block, the block cast back, each while the
  block is in the core's cache (4 MiB of L2 here), instead of three passes over the 20 MB.
* ``foreach``: today's, with Adam's ``foreach`` kernels (several passes) instead of the fused one.
* ``one-thread``: today's, under ``torch.set_num_threads(1)``.

First each way runs ``--check-steps`` steps from the same head and generator state as
``today``: it says whether every weight and every step's loss came out the same bits. Then the
ways take turns, one epoch (``--steps``) each, ``--rounds`` times: the medians of wall and CPU
(the process's, both threads) seconds a step, and of each round's ratio to ``today``'s.
``--profile``: first ``torch.profiler``'s table of today's step, milliseconds a step by op and
shape. Say the load (``uptime``): other processes' work moves every figure.
"""

from __future__ import annotations

import argparse
import copy
import os
import statistics
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from objrec.cores import wait_passively

wait_passively(os.environ)  # before PyTorch starts its threads, as ``objrec`` does

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from _sampling import SPLIT, SPLIT_HELP  # noqa: E402

from objrec.batches import trains_in  # noqa: E402
from objrec.engine import members_loss  # noqa: E402
from objrec.model import HeadEnsemble, mean_log_probs  # noqa: E402
from objrec.optimizers import HeadAdam  # noqa: E402
from objrec.train import head_optimizer  # noqa: E402

BF16 = torch.bfloat16


def prepared(data: Path):
    """``train.prepare`` of ``data`` with the default settings as ``train`` settles them here: the
    run's head, the settings, the batches of two epochs, and the training loss."""
    from objrec.batches import epoch_sources
    from objrec.config import TrainConfig
    from objrec.distributed import SINGLE
    from objrec.int8_body import int8_engine
    from objrec.precision import settle_head_precision, settle_precision
    from objrec.progress import SILENT
    from objrec.train import prepare, training_loss

    config, _ = settle_precision(TrainConfig(), SINGLE)
    config = replace(config, int8_engine=int8_engine(config.int8_engine))
    config, _ = settle_head_precision(config, SINGLE, False)
    prep, live = prepare(data, config, SILENT)
    _, train_batches, _ = epoch_sources(prep, live.model.head, config, SINGLE)
    batches = [*train_batches(1), *train_batches(2)]
    return live.model.head, config, batches, training_loss(config, prep.train_y, len(prep.classes))


class Today:
    """The step as ``objrec train`` takes it (``engine.train_one_epoch``'s body)."""

    threads: int | None = None

    def __init__(self, head: torch.nn.Module, config, loss_fn: Callable) -> None:
        self.head, self.loss_fn = head, loss_fn
        self.optimizer = self.make_optimizer(config)
        self.model = trains_in(head, "bf16")

    def make_optimizer(self, config) -> torch.optim.Optimizer:
        return head_optimizer(self.head, config)

    def __call__(self, x: torch.Tensor, y: torch.Tensor) -> float:
        self.model.train()
        logits = self.forward(x)
        loss = members_loss(self.loss_fn, logits, y)
        measured = self.loss_fn(mean_log_probs(logits.detach()), y)
        self.zero_grad()
        loss.backward()
        self.update()
        return measured.item()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)

    def zero_grad(self) -> None:
        self.optimizer.zero_grad(set_to_none=True)

    def update(self) -> None:
        self.optimizer.step()


class Foreach(Today):
    """Today's step, Adam's ``foreach`` kernels in place of its fused one."""

    def make_optimizer(self, config) -> torch.optim.Optimizer:
        return HeadAdam(
            self.head.parameters(), lr=config.lr, weight_decay=config.weight_decay, foreach=True
        )


class OneThread(Today):
    """Today's step on one thread (the rounds set it)."""

    threads = 1


class ByHand(Today):
    """The first layer's weight cast to bfloat16 by hand into a kept copy whose gradient stays
    bfloat16; Adam on that weight ``rows`` rows at a time (all of them: one block)."""

    rows: int | None = None

    def __init__(self, head: torch.nn.Module, config, loss_fn: Callable) -> None:
        super().__init__(head, config, loss_fn)
        if not isinstance(head, HeadEnsemble) or not head.hidden:
            raise TypeError("by-hand casts the first layer of a head of several hidden members")
        self.ensemble = head
        weight = head.hidden_weight
        self.kept = weight.detach().to(BF16).requires_grad_()
        self.flat, self.flat_kept = weight.detach().flatten(0, 1), self.kept.detach().flatten(0, 1)
        self.buffer = torch.empty(self.rows or len(self.flat), self.flat.shape[1])
        self.state = self.optimizer.state[weight] = {
            "step": torch.tensor(0.0),
            "exp_avg": torch.zeros_like(weight),
            "exp_avg_sq": torch.zeros_like(weight),
        }

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``HeadEnsemble.member_logits`` under autocast, the first layer's weight the kept
        bfloat16 copy (autocast leaves a bfloat16 tensor as it is)."""
        head = self.ensemble
        n_members, width = self.kept.shape[:2]
        with torch.autocast("cpu", dtype=BF16):
            h = F.linear(x, self.kept.flatten(0, 1), head.hidden_bias.flatten())
            h = head.dropout(h.view(-1, n_members, width).transpose(0, 1).relu())
            logits = torch.matmul(h, head.out_weight.transpose(1, 2)) + head.out_bias.unsqueeze(1)
        return logits.float()

    def zero_grad(self) -> None:
        super().zero_grad()
        self.kept.grad = None

    def update(self) -> None:
        self.optimizer.step()  # every weight but the first layer's, which has no .grad
        group, state = self.optimizer.param_groups[0], self.state
        state["step"] += 1  # as Adam's fused path counts it, once a step
        assert self.kept.grad is not None  # the step's backward gave the kept copy one
        grads = self.kept.grad.flatten(0, 1)
        exp_avg, exp_avg_sq = (state[k].flatten(0, 1) for k in ("exp_avg", "exp_avg_sq"))
        for start in range(0, len(self.flat), len(self.buffer)):
            block = slice(start, start + len(self.buffer))
            buffer = self.buffer[: len(self.flat[block])]
            buffer.copy_(grads[block])
            torch._fused_adam_(
                [self.flat[block]],
                [buffer],
                [exp_avg[block]],
                [exp_avg_sq[block]],
                [],
                [state["step"]],
                amsgrad=False,
                lr=group["lr"],
                beta1=group["betas"][0],
                beta2=group["betas"][1],
                weight_decay=group["weight_decay"],
                eps=group["eps"],
                maximize=False,
            )
            self.flat_kept[block].copy_(self.flat[block])


def chunked(rows: int) -> type[ByHand]:
    """``ByHand`` ``rows`` rows of the first layer at a time."""
    return type("Chunks", (ByHand,), {"rows": rows})


def same_steps(ways: dict[str, type[Today]], start, config, loss_fn, batches) -> None:
    """Whether each way's weights and losses after ``batches`` are today's, bit for bit."""
    done = {}
    for name, way in ways.items():
        head = copy.deepcopy(start)
        torch.manual_seed(1234)  # the dropout masks: each way draws the same
        step = way(head, config, loss_fn)
        with threads(way.threads):
            losses = [step(x, y) for x, y in batches]
        done[name] = head.state_dict(), losses
    weights, losses = done["today"]
    for name, (w, lost) in done.items():
        same = all(torch.equal(w[k], weights[k]) for k in weights)
        print(
            f"{name}: after {len(batches)} steps every weight the same bits as today's: {same}; "
            f"every step's loss the same: {lost == losses}",
            flush=True,
        )


class threads:
    """``torch.set_num_threads(n)`` within, as it was after (nothing for ``None``)."""

    def __init__(self, n: int | None) -> None:
        self.n, self.before = n, torch.get_num_threads()

    def __enter__(self) -> None:
        if self.n:
            torch.set_num_threads(self.n)

    def __exit__(self, *exc: object) -> None:
        torch.set_num_threads(self.before)


def rounds(ways: dict[str, type[Today]], start, config, loss_fn, batches, n: int) -> dict:
    """Each way's seconds a step, (wall, CPU), one entry per round, the ways taking turns."""
    steps = {name: way(copy.deepcopy(start), config, loss_fn) for name, way in ways.items()}
    times: dict[str, list[tuple[float, float]]] = {name: [] for name in ways}
    for _ in range(n):
        for name, step in steps.items():
            with threads(ways[name].threads):
                wall, cpu = time.perf_counter(), time.process_time()
                for x, y in batches:
                    step(x, y)
                wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            times[name].append((wall / len(batches), cpu / len(batches)))
    return times


def report(times: dict[str, list[tuple[float, float]]]) -> None:
    """Medians a step and of the rounds' ratios to today's."""
    base = times["today"]
    for name, rows in times.items():
        cells = []
        for i, what in enumerate(("wall", "CPU")):
            median = statistics.median(r[i] for r in rows) * 1e3
            ratio = statistics.median(r[i] / b[i] for r, b in zip(rows, base, strict=True))
            cells.append(f"{what} {median:.2f} ms ({ratio:.3f})")
        print(f"{name:>12}: " + ", ".join(cells), flush=True)


def profile(start, config, loss_fn, batches) -> None:
    """``torch.profiler``'s self CPU time of today's step, milliseconds a step, by op and shape."""
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as profiler

    step = Today(copy.deepcopy(start), config, loss_fn)
    for x, y in batches[:5]:
        step(x, y)
    with profiler(activities=[ProfilerActivity.CPU], record_shapes=True) as prof:
        wall = time.perf_counter()
        for x, y in batches:
            step(x, y)
        wall = (time.perf_counter() - wall) / len(batches) * 1e3
    ops = prof.key_averages(group_by_input_shape=True)
    rows = sorted(
        ((e.self_cpu_time_total / len(batches) / 1e3, e) for e in ops), key=lambda r: -r[0]
    )
    print(f"today's step under the profiler: {wall:.2f} ms wall, {sum(r[0] for r in rows):.2f} ms")
    for ms, e in rows[:14]:
        print(f"  {ms:6.2f} ms  {e.count / len(batches):4.1f}x  {e.key:24} {e.input_shapes}"[:118])


WAYS = {
    "today": Today,
    "by-hand": ByHand,
    "chunks": None,  # chunked(--rows)
    "foreach": Foreach,
    "one-thread": OneThread,
}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, default=SPLIT, help=SPLIT_HELP)
    parser.add_argument("--ways", nargs="*", default=list(WAYS), help="the ways to time")
    parser.add_argument(
        "--rows", type=int, default=64, help="chunks: rows of the first layer a block"
    )
    parser.add_argument("--rounds", type=int, default=7, help="turns of the ways, an epoch each")
    parser.add_argument("--check-steps", type=int, default=50, help="steps compared bit for bit")
    parser.add_argument("--profile", action="store_true", help="print today's step by op first")
    args = parser.parse_args()
    head, config, batches, loss_fn = prepared(args.data)
    start = copy.deepcopy(head)
    ways = {name: WAYS[name] or chunked(args.rows) for name in ["today", *args.ways]}
    if args.profile:
        profile(start, config, loss_fn, batches[:25])
    same_steps(ways, start, config, loss_fn, batches[: args.check_steps])
    epoch = batches[: len(batches) // 2]
    print(f"load average {os.getloadavg()[0]:.1f}; {len(epoch)} steps a round", flush=True)
    report(rounds(ways, start, config, loss_fn, epoch, args.rounds))
    print(f"load average {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()

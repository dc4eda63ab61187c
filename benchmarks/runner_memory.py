"""Host memory of the GPU path's runner (``device_runner.DeviceRunner``): what it keeps on the CPU.

Builds a body (``--backbone``: a registered name; torchvision names are built with random weights,
which take the same bytes), then a ``DeviceRunner`` for ``--device`` and prints the process's
resident memory (``VmRSS``) and its peak (``VmHWM``) after it, in MiB above what the body alone
took. ``--device meta`` (the default) stands in for the card: it holds no bytes anywhere, so what
the runner adds is what it keeps in host memory (on a GPU its copy's bytes are on the card);
``--device cpu`` puts that copy in host memory too.

One configuration per process (the peak is the process's):

    python benchmarks/runner_memory.py
    python benchmarks/runner_memory.py --backbone vit_l_16
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

MIB = 2**20


def memory() -> dict[str, float]:
    """This process's resident memory and its peak so far, in MiB (Linux ``/proc``)."""
    fields = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            fields[name] = int(value.split()[0]) / 1024
    return fields


def body_of(name: str):
    from objrec.backbones import build_body, get_backbone

    spec = get_backbone(name)
    pretrained = "efficientnet_lite" in name  # objrec's own, offline; others: random weights
    return build_body(spec, pretrained=pretrained).eval()


def main() -> None:
    from objrec.config import TrainConfig
    from objrec.device_runner import DeviceRunner

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backbone", default=TrainConfig().backbone, help="the body to copy")
    parser.add_argument(
        "--device", choices=("meta", "cpu"), default="meta", help="the card's stand-in"
    )
    args = parser.parse_args()
    torch.set_grad_enabled(False)
    body = body_of(args.backbone)
    size = sum(t.numel() * t.element_size() for t in [*body.parameters(), *body.buffers()])
    base = memory()
    print(f"{args.backbone}: body {size / MIB:.0f} MiB, process {base['VmRSS']:.0f} MiB")
    runner = DeviceRunner(body, torch.device(args.device))
    held = memory()  # with the runner alive: what it keeps
    print(
        f"runner built ({next(runner.module.parameters()).device}): resident +{held['VmRSS'] - base['VmRSS']:.0f} MiB, "
        f"peak +{held['VmHWM'] - base['VmRSS']:.0f} MiB (peak before it "
        f"{base['VmHWM'] - base['VmRSS']:+.0f})"
    )


if __name__ == "__main__":
    main()

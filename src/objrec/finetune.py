"""Fine-tuning the last blocks of the body, on cached activations at the cut.

After the head has converged on the frozen body, ``--finetune-blocks N`` unfreezes the last N blocks
of an EfficientNet-Lite body (and its final 1x1 convolution), or of each body of an ensemble of
them. The body below the cut stays frozen, so its output, like the features before, is computed
once per image view and cached; each fine-tuning epoch then runs only the top of the network, a
few percent of the whole on a CPU.

Choices: the unfrozen blocks learn at ``finetune_lr`` and the head at ten times that (discriminative
learning rates), with a one-epoch linear warm-up and a cosine decay; BatchNorm keeps its ImageNet
running statistics by default (the unfrozen layers' BatchNorms stay in eval mode), or updates them
from the training batches with ``finetune_batchnorm="train"`` (both measured in
benchmarks/README.md).
"""

from __future__ import annotations

import logging
import math

import torch
from torch import nn

from objrec.backbones import get_backbone
from objrec.bodies import Body, ConcatBody, LiteBody
from objrec.errors import ObjrecError
from objrec.quantize import QuantizedBody

log = logging.getLogger(__name__)


NOT_LITE = "`finetune_blocks` works with the EfficientNet-Lite backbones and ensembles of them"


def require_blocks(backbone: str, n: int) -> None:
    """Refuse ``finetune_blocks`` ``n`` (above 0) that ``backbone``'s body cannot fine-tune, from
    its spec, before any work: it ran the frozen pass and the head's fit, wrote the run's training
    state and only then refused (a resume of it too, for ever)."""
    if n <= 0:
        return
    spec = get_backbone(backbone)
    if not spec.blocks:
        raise ObjrecError(f"{NOT_LITE}, not with {backbone}")
    if n > spec.blocks:
        body = "its smallest body has" if spec.source == "ensemble" else "it has"
        raise ObjrecError(
            f"`finetune_blocks` must be between 1 and {spec.blocks} for the backbone {backbone}: "
            f"{body} {spec.blocks} blocks"
        )


def _check(body: nn.Module, n: int) -> LiteBody:
    if not isinstance(body, LiteBody):
        raise ObjrecError(f"{NOT_LITE}, not with {type(body).__name__}")
    if not 1 <= n <= len(body.net._blocks):
        raise ObjrecError(f"`finetune_blocks` must be between 1 and {len(body.net._blocks)}")
    return body


class LiteStem(Body):
    """The frozen part: stem and all blocks before the cut; output flattened to (N, C*H*W)."""

    def __init__(self, body: LiteBody, cut: int, n_features: int):
        super().__init__()
        self.net, self.cut = body.net, cut
        self.n_features = n_features

    def extra_repr(self) -> str:
        return f"cut={self.cut}"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        net = self.net
        x = net._swish(net._bn0(net._conv_stem(x)))
        for block in net._blocks[: self.cut]:
            x = block(x)
        return x.flatten(1)


class LiteTop(nn.Module):
    """The unfrozen part: the blocks from the cut, the final convolution, pooling."""

    def __init__(self, body: LiteBody, cut: int, shape: tuple[int, int, int]):
        super().__init__()
        self.blocks = nn.ModuleList(body.net._blocks[cut:])
        self.conv_head, self.bn, self.act = body.net._conv_head, body.net._bn1, body.net._swish
        self.pool, self.shape = body.pool, shape
        self.first, self.total = cut, len(body.net._blocks)
        self.drop_connect = body.net._global_params.drop_connect_rate or 0.0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.view(-1, *self.shape)
        for i, block in enumerate(self.blocks):
            x = block(x, drop_connect_rate=self.drop_connect * (self.first + i) / self.total)
        return self.pool(self.act(self.bn(self.conv_head(x)))).flatten(1)


class ConcatStem(Body):
    """The stems of an ensemble's bodies, their flattened outputs side by side."""

    def __init__(self, stems: list[Body]):
        super().__init__()
        self.stems = nn.ModuleList(stems)
        self.n_features = sum(s.n_features for s in stems)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([stem(x) for stem in self.stems], dim=1)


class ConcatTop(nn.Module):
    """The tops of an ensemble's bodies, each on its own stem's part of the input."""

    def __init__(self, tops: list[LiteTop | ConcatTop], sizes: list[int]):
        super().__init__()
        self.tops, self.sizes = nn.ModuleList(tops), sizes

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        parts = x.split(self.sizes, dim=1)
        return torch.cat([top(part) for top, part in zip(self.tops, parts, strict=True)], dim=1)


def split_body(body: nn.Module, n: int, input_size: int) -> tuple[Body, LiteTop | ConcatTop]:
    """The frozen stem and the trainable top of ``body``, cut ``n`` blocks from its end (from the
    end of each of its bodies, for an ensemble).

    ``top(stem(x))`` equals ``body(x)`` in eval mode; both share the body's modules.
    """
    if isinstance(body, ConcatBody):
        pairs = [split_body(part, n, input_size) for part in body.parts]
        stems = [stem for stem, _ in pairs]
        return ConcatStem(stems), ConcatTop(
            [top for _, top in pairs], [s.n_features for s in stems]
        )
    body = _check(body, n)
    cut = len(body.net._blocks) - n
    with torch.inference_mode():
        x = body.net._swish(
            body.net._bn0(body.net._conv_stem(torch.zeros(1, 3, input_size, input_size)))
        )
        for block in body.net._blocks[:cut]:
            x = block(x)
    stem = LiteStem(body, cut, x[0].numel()).eval()
    return stem, LiteTop(body, cut, (x.shape[1], x.shape[2], x.shape[3]))


def unfreeze(top: nn.Module) -> list[nn.Parameter]:
    """Make exactly the top's parameters trainable; its BatchNorms keep their running statistics."""
    top.requires_grad_(True)
    return list(top.parameters())


class FinetuneModel(nn.Module):
    """Top + head on cut activations; ``train()`` keeps the top's BatchNorm layers in eval mode
    (their ImageNet statistics) unless ``batchnorm="train"``, which lets batches update them."""

    def __init__(self, top: nn.Module, head: nn.Module, batchnorm: str = "frozen"):
        super().__init__()
        self.top, self.head = top, head
        self.batchnorm = batchnorm

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.top(x))

    def train(self, mode: bool = True) -> FinetuneModel:
        super().train(mode)
        if self.batchnorm == "frozen":
            for module in self.top.modules():
                if isinstance(module, nn.BatchNorm2d):
                    module.eval()
        return self


def optimizer_for(model: FinetuneModel, lr: float, weight_decay: float = 1e-4) -> torch.optim.AdamW:
    """Two parameter groups: the unfrozen blocks at ``lr``, the head at ten times ``lr``."""
    return torch.optim.AdamW(
        [
            {"params": list(model.top.parameters()), "lr": lr, "name": "body"},
            {"params": list(model.head.parameters()), "lr": 10 * lr, "name": "head"},
        ],
        weight_decay=weight_decay,
    )


def warmup_cosine(optimizer: torch.optim.Optimizer, warmup_steps: int, total_steps: int):
    """Linear warm-up to each group's learning rate, then a cosine decay towards zero."""

    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
        return 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def float_body(body: nn.Module) -> nn.Module:
    """The fp32 body fine-tuning trains: an int8 body's own fp32 weights, or the body itself."""
    return body.float_body if isinstance(body, QuantizedBody) else body

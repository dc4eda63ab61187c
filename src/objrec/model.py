"""Classifier = pretrained body + new head; freezing fixes the body's weights and statistics."""

from __future__ import annotations

import math
import re

import torch
import torch.nn.functional as F
from torch import nn

from objrec.bodies import Body
from objrec.meta import ParameterCounts


def build_head(
    n_features: int, n_classes: int, hidden: int = 256, dropout: float = 0.4, members: int = 1
) -> nn.Module:
    """The article's head, Linear-ReLU-Dropout-Linear, returning logits (``hidden=0``: one Linear);
    ``members`` > 1: that many such heads side by side (``HeadEnsemble``).

    The article ends in LogSoftmax + NLLLoss; logits + cross-entropy is the same loss, computed more
    stably, and softmax of the logits gives the probabilities.
    """
    if members > 1:
        return HeadEnsemble(
            [one_head(n_features, n_classes, hidden, dropout) for _ in range(members)]
        )
    return one_head(n_features, n_classes, hidden, dropout)


def one_head(n_features: int, n_classes: int, hidden: int, dropout: float) -> nn.Sequential:
    if hidden == 0:
        return nn.Sequential(nn.Dropout(dropout), nn.Linear(n_features, n_classes))
    return nn.Sequential(
        nn.Linear(n_features, hidden),
        nn.ReLU(inplace=True),
        nn.Dropout(dropout),
        nn.Linear(hidden, n_classes),
    )


class HeadEnsemble(nn.Module):
    """Several heads on the same features, each with its own initialisation and dropout.

    Training mode returns every member's logits, (members, N, classes), so that each member learns
    from its own loss (``engine.train_one_epoch``); evaluation mode returns the log of the members'
    mean probabilities, (N, classes), which softmax and cross-entropy treat as logits.

    The members' weights are stacked, (members, out, in), so that their first layers are one
    matrix product and their last layers one batched product: the same numbers as running the
    ``build_head`` members one by one (each member draws its own dropout mask, in member order,
    exactly as they did), at a fraction of the kernels. Checkpoints with the earlier per-member
    keys (``members.N.*``) still load.
    """

    def __init__(self, members: list[nn.Sequential]):
        super().__init__()
        linears = [[m for m in member if isinstance(m, nn.Linear)] for member in members]
        self.p = next(m.p for m in members[0] if isinstance(m, nn.Dropout))
        self.hidden = len(linears[0]) == 2
        if self.hidden:
            self.hidden_weight = stacked([layers[0].weight for layers in linears])
            self.hidden_bias = stacked([layers[0].bias for layers in linears])
        self.out_weight = stacked([layers[-1].weight for layers in linears])
        self.out_bias = stacked([layers[-1].bias for layers in linears])
        self.register_load_state_dict_pre_hook(stack_member_keys)

    def __len__(self) -> int:
        return len(self.out_weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits = self.member_logits(x)
        return logits if self.training else mean_log_probs(logits)

    def member_logits(self, x: torch.Tensor) -> torch.Tensor:
        """(N, features) -> every member's logits, (members, N, classes)."""
        if self.hidden:
            n_members, width = self.hidden_weight.shape[:2]
            h = F.linear(x, self.hidden_weight.flatten(0, 1), self.hidden_bias.flatten())
            h = h.view(-1, n_members, width).transpose(0, 1).relu()
        else:
            h = x.unsqueeze(0)
        h = self.dropout(h)
        return torch.matmul(h, self.out_weight.transpose(1, 2)) + self.out_bias.unsqueeze(1)

    def dropout(self, h: torch.Tensor) -> torch.Tensor:
        """Each member's own mask on its (N, width) slice, drawn in member order as
        ``nn.Dropout`` draws it (``bernoulli_`` then a product).

        On the CPU, ``bernoulli_(q)`` takes one float64 uniform from the default generator per
        element, in order, and keeps the element when it is below ``q``; ``torch.rand`` in
        float64 draws the same numbers from the same stream, vectorised, so the masks and the
        generator's state after them are the same bit for bit (tested), at under half the time
        (0.75 ms against 1.64 ms for the default head's five 128 x 256 masks, a step's). Fewer
        draws (two elements a 32-bit draw, a quarter of the generator's work: about 0.2 s of a
        warm retrain) give other masks, which raised split seed 0's median best validation loss
        by more than its head seeds' spread (benchmarks/HISTORY.md, "The dropout masks drawn 16
        bits an element"): the masks stay ``nn.Dropout``'s."""
        if not self.training or self.p == 0:
            return h
        keep, shape = 1 - self.p, (len(self), *h.shape[1:])
        if h.device.type == "cpu":
            noise = (torch.rand(shape, dtype=torch.float64) < keep).to(h.dtype)
        else:
            noise = h.new_empty(shape)
            for member in noise:
                member.bernoulli_(keep)
        return h * noise.div_(keep)


def stacked(tensors: list[torch.Tensor]) -> nn.Parameter:
    """The members' tensors as one parameter; an empty one on the meta device for a model built
    there (a run's, as ``checkpoint.load_model`` builds it, its tensors then taken from the
    file): ``torch.stack`` of meta tensors imports ``torch._dynamo`` for its meta kernel, 1.2 to
    2.3 s of a ``predict`` of one photo at a load of 8 (its answer 6.6 s after the start)."""
    first = tensors[0]
    if first.is_meta:
        return nn.Parameter(
            torch.empty(len(tensors), *first.shape, dtype=first.dtype, device="meta")
        )
    return nn.Parameter(torch.stack([t.detach() for t in tensors]))


MEMBER_KEY = re.compile(r"members\.(\d+)\.(\d+)\.(weight|bias)")


def stack_member_keys(module: HeadEnsemble, state: dict, prefix: str, *args: object) -> None:
    """Load hook: an earlier checkpoint's ``members.N.L.weight`` (one ``nn.Sequential`` a
    member: layer 0 and 3, or 1 without a hidden layer) become the stacked parameters."""
    found: dict[tuple[int, str], dict[int, torch.Tensor]] = {}
    for key in [k for k in state if k.startswith(prefix)]:
        match = MEMBER_KEY.fullmatch(key[len(prefix) :])
        if match:
            member, layer, kind = int(match[1]), int(match[2]), match[3]
            found.setdefault((layer, kind), {})[member] = state.pop(key)
    last = max((layer for layer, _ in found), default=None)
    for (layer, kind), by_member in found.items():
        name = f"{'out' if layer == last else 'hidden'}_{kind}"
        state[prefix + name] = torch.stack([by_member[m] for m in sorted(by_member)])


def mean_log_probs(member_logits: torch.Tensor) -> torch.Tensor:
    """(members, N, classes) logits -> (N, classes) log of the members' mean probabilities."""
    return member_logits.log_softmax(-1).logsumexp(0) - math.log(len(member_logits))


class LowPrecisionTraining(nn.Module):
    """``module`` whose forward runs under autocast in ``dtype`` (bfloat16 by default): its matrix
    products take ``dtype`` inputs, while its weights, their gradients and the optimizer's updates
    stay float32, and the outputs are returned as float32 for the loss. The validation pass of
    ``engine.fit`` too (evaluation mode), at half the time of float32's (0.056 s against 0.117 s
    an epoch for the 100-class protocol's 1,542 validation images); ``module`` itself, unwrapped,
    runs in float32 (the calibration, ``evaluate``, the exported graph). The wrapped module is
    ``module``, as DistributedDataParallel names it, so that ``engine.fit`` saves and restores
    the module's own weights."""

    def __init__(self, module: nn.Module, dtype: torch.dtype = torch.bfloat16):
        super().__init__()
        self.module, self.dtype = module, dtype

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with torch.autocast(x.device.type, dtype=self.dtype):
            return self.module(x).float()


def as_stored(features: torch.Tensor, feature_dtype: str) -> torch.Tensor:
    """``features`` rounded as the feature store keeps them (``float16`` rows), in their own
    dtype: a head fitted on float16 rows sees those, and ``evaluate`` reads them, so every path
    to the model's answer (the recognizer's runtimes, the exported graph) rounds the body's
    features so too, and all give one answer (float32 features moved it by up to 1.3e-4)."""
    if feature_dtype != "float16":
        return features
    return features.to(torch.float16).to(features.dtype)


class Classifier(nn.Module):
    """``head(body(x))``; while the body is frozen, ``train()`` leaves it in eval mode."""

    def __init__(self, body: Body, head: nn.Module):
        super().__init__()
        self.body = body
        self.head = head
        self.familiarity: nn.Module | None = None
        """Optional: features -> (N,) score, high for images like the training images
        (``confidence``); fitted at the end of ``train`` and saved with the weights."""
        self.body_frozen = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))

    def freeze_body(self) -> Classifier:
        """No gradients for the body, and BatchNorm/Dropout kept in eval mode."""
        self.body.requires_grad_(False)
        self.body.eval()
        self.body_frozen = True
        return self

    def train(self, mode: bool = True) -> Classifier:
        super().train(mode)
        if self.body_frozen:
            self.body.eval()
        return self


def count_parameters(module: nn.Module) -> ParameterCounts:
    """Total and trainable parameter counts."""
    total = sum(p.numel() for p in module.parameters())
    trainable = sum(p.numel() for p in module.parameters() if p.requires_grad)
    return ParameterCounts(total=total, trainable=trainable)

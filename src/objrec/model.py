"""Classifier = pretrained body + new head; freezing fixes the body's weights and statistics."""

from __future__ import annotations

import math

import torch
from torch import nn

from objrec.backbones import Body


def build_head(
    n_features: int, n_classes: int, hidden: int = 256, dropout: float = 0.4, members: int = 1
) -> nn.Module:
    """The article's head, Linear-ReLU-Dropout-Linear, returning logits (``hidden=0``: one Linear);
    ``members`` > 1: that many such heads side by side (``HeadEnsemble``).

    The article ends in LogSoftmax + NLLLoss; logits + cross-entropy is the same loss, computed more
    stably, and softmax of the logits gives the probabilities.
    """
    if members > 1:
        heads = [build_head(n_features, n_classes, hidden, dropout) for _ in range(members)]
        return HeadEnsemble(heads)
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
    """

    def __init__(self, members: list[nn.Module]):
        super().__init__()
        self.members = nn.ModuleList(members)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits = torch.stack([member(x) for member in self.members])
        return logits if self.training else mean_log_probs(logits)


def mean_log_probs(member_logits: torch.Tensor) -> torch.Tensor:
    """(members, N, classes) logits -> (N, classes) log of the members' mean probabilities."""
    return member_logits.log_softmax(-1).logsumexp(0) - math.log(len(member_logits))


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

    def scored(self) -> ScoredClassifier:
        """The same model answering (logits, familiarity) in one pass (needs ``familiarity``)."""
        return ScoredClassifier(self)

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


class ScoredClassifier(nn.Module):
    """``x -> (head(f), familiarity(f))`` with ``f = body(x)``: what the runtimes and the ONNX
    export run when the model has a familiarity score."""

    def __init__(self, model: Classifier):
        super().__init__()
        if model.familiarity is None:
            raise ValueError("the model has no familiarity score")
        self.body, self.head, self.familiarity = model.body, model.head, model.familiarity

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        features = self.body(x)
        return self.head(features), self.familiarity(features)


def count_parameters(module: nn.Module) -> dict[str, int]:
    """Total and trainable parameter counts."""
    total = sum(p.numel() for p in module.parameters())
    trainable = sum(p.numel() for p in module.parameters() if p.requires_grad)
    return {"total": total, "trainable": trainable}

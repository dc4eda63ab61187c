"""The optimizers objrec steps, as ``torch.optim`` has them but without the wrappers that import
``torch._dynamo`` at their first call: Adam for the head (:class:`HeadAdam`) and L-BFGS for the
temperature (:class:`PlainLBFGS`). Below both the training loop (``engine``) and calibration
(``calibration``), which neither imports the other for them."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import torch


def without_dynamo(method: Callable) -> Callable:
    """An optimizer method of ``torch.optim`` without the wrapper that imports ``torch._dynamo`` at
    its first call so that ``torch.compile`` does not trace into it (``add_param_group``,
    ``zero_grad``, ``state_dict``, ``load_state_dict``, Adam's ``step``): outside a compiled
    function the wrapper only calls the method, so both compute the same. That import took 0.9 to
    1.1 s of a warm retrain of the 100-class protocol, which compiles nothing
    (benchmarks/HISTORY.md, "The fixed costs of a warm retrain"). Every wrapper is taken off (the
    profiling hook that ``torch.optim`` puts around a class's ``step`` once one of its optimizers
    exists, too); the method itself where it has none."""
    return inspect.unwrap(method)


class HeadAdam(torch.optim.Adam):
    """``torch.optim.Adam`` (its own class, settings, state and kernels: the same update, the same
    ``state_dict``) whose methods skip the ``torch._dynamo`` wrappers (:func:`without_dynamo`).
    Not for a model that ``torch.compile`` traces through its optimizer."""

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        without_dynamo(torch.optim.Optimizer.add_param_group)(self, param_group)

    def zero_grad(self, set_to_none: bool = True) -> None:
        without_dynamo(torch.optim.Optimizer.zero_grad)(self, set_to_none)

    def state_dict(self) -> dict[str, Any]:
        return without_dynamo(torch.optim.Optimizer.state_dict)(self)

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        without_dynamo(torch.optim.Optimizer.load_state_dict)(self, state_dict)

    @torch.no_grad()  # as Adam's wrapper runs it (``differentiable`` is False)
    def step(self, closure: Callable[[], float] | None = None) -> float | None:  # type: ignore[override]
        return without_dynamo(torch.optim.Adam.step)(self, closure)


class PlainLBFGS(torch.optim.LBFGS):
    """``torch.optim.LBFGS`` without the wrappers that import ``torch._dynamo``
    (:func:`without_dynamo`; its ``step`` has none): the same steps, 0.9 s sooner."""

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        without_dynamo(torch.optim.Optimizer.add_param_group)(self, param_group)

    def zero_grad(self, set_to_none: bool = True) -> None:
        without_dynamo(torch.optim.Optimizer.zero_grad)(self, set_to_none)

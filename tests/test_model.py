import pytest
import torch
from torch import nn

from objrec.bodies import TinyBody
from objrec.engine import train_one_epoch
from objrec.model import Classifier, build_head, count_parameters, mean_log_probs
from objrec.resume_state import load_optimizer, stacked_optimizer


def test_a_training_step_changes_the_head_and_leaves_the_frozen_body_unchanged():
    model = Classifier(TinyBody(), build_head(16, 3, hidden=8)).freeze_body()
    body_before = {k: v.clone() for k, v in model.body.state_dict().items()}  # incl. BN statistics
    head_before = {k: v.clone() for k, v in model.head.state_dict().items()}
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.Adam(trainable, lr=0.1)
    batches = [(torch.randn(8, 3, 32, 32) * 3 + 1, torch.randint(0, 3, (8,))) for _ in range(3)]
    train_one_epoch(model, batches, optimizer)
    assert model.training and not model.body.training  # train() keeps the frozen body in eval mode
    for k, v in model.body.state_dict().items():
        assert torch.equal(v, body_before[k]), k
    assert any(not torch.equal(v, head_before[k]) for k, v in model.head.state_dict().items())
    assert all(p.grad is None for p in model.body.parameters())


def test_optimizer_only_gets_what_trains_and_counts_add_up():
    model = Classifier(TinyBody(), build_head(16, 5)).freeze_body()
    counts = count_parameters(model)
    head = sum(p.numel() for p in model.head.parameters())
    assert counts.trainable == head == 16 * 256 + 256 + 256 * 5 + 5
    assert counts.total == head + sum(p.numel() for p in model.body.parameters())


def test_head_is_the_articles_shape():
    head = build_head(1280, 100)
    assert [type(m).__name__ for m in head] == ["Linear", "ReLU", "Dropout", "Linear"]
    assert head[0].out_features == 256 and head[2].p == 0.4 and head[3].out_features == 100


class PerMemberHeads(nn.Module):
    """The ensemble as it was before its weights were stacked: one ``build_head`` per member."""

    def __init__(self, members):
        super().__init__()
        self.members = nn.ModuleList(members)

    def forward(self, x):
        logits = torch.stack([m(x) for m in self.members])
        return logits if self.training else mean_log_probs(logits)


def per_member_pair(hidden, seed=0):
    torch.manual_seed(seed)
    old = PerMemberHeads([build_head(16, 3, hidden=hidden) for _ in range(4)])
    torch.manual_seed(seed)
    return old, build_head(16, 3, hidden=hidden, members=4)


def test_a_head_built_on_the_meta_device_stacks_no_meta_tensor(monkeypatch):
    """``load_model`` builds a run's head on the meta device, then takes the file's tensors:
    ``torch.stack`` of its members' meta tensors imported ``torch._dynamo`` for the meta
    kernel, 1.2 to 2.3 s of a ``predict`` of one stored photo. The same parameters, empty."""
    on_cpu = build_head(16, 5, 8, 0.2, 3)

    def refused(*args, **kwargs):
        raise AssertionError("torch.stack of meta tensors imports torch._dynamo")

    with torch.device("meta"):
        monkeypatch.setattr(torch, "stack", refused)
        on_meta = build_head(16, 5, 8, 0.2, 3)
    for (name, p), (_, q) in zip(
        on_cpu.named_parameters(), on_meta.named_parameters(), strict=True
    ):
        assert q.is_meta and (q.shape, q.dtype) == (p.shape, p.dtype), name


def test_a_head_ensemble_trains_each_member_and_averages_their_probabilities():
    torch.manual_seed(0)
    head = build_head(16, 3, hidden=8, members=4)
    x, y = torch.randn(8, 16), torch.randint(0, 3, (8,))
    assert head.train()(x).shape == (4, 8, 3)
    with torch.no_grad():
        mean = head.eval()(x).softmax(-1)
        members = head.member_logits(x).softmax(-1)
    assert torch.allclose(mean, members.mean(0), atol=1e-6)
    assert not torch.allclose(members[0], members[1])  # each member starts from its own weights
    before = head.hidden_weight.clone()
    train_one_epoch(head, [(x, y)], torch.optim.Adam(head.parameters(), lr=0.1))
    assert all(not torch.equal(w, b) for w, b in zip(head.hidden_weight, before, strict=True))


@pytest.mark.parametrize("hidden", [8, 0])
def test_the_stacked_ensemble_learns_what_its_members_learned_one_by_one(hidden):
    old, new = per_member_pair(hidden)
    new_from_old = build_head(16, 3, hidden=hidden, members=4)
    new_from_old.load_state_dict(old.state_dict())  # the earlier checkpoints' members.N.* keys
    assert all(torch.equal(v, new.state_dict()[k]) for k, v in new_from_old.state_dict().items())
    batches = [(torch.randn(32, 16), torch.randint(0, 3, (32,))) for _ in range(5)]
    results = []
    for head in (old, new):
        torch.manual_seed(1)  # the same dropout draws: each member its own mask, in member order
        optimizer = torch.optim.Adam(head.parameters(), lr=0.01)
        results.append(train_one_epoch(head, batches, optimizer))
    assert results[0]["loss"] == pytest.approx(results[1]["loss"], abs=1e-6)
    new_from_old.load_state_dict(old.state_dict())
    for k, v in new.state_dict().items():
        assert torch.allclose(v, new_from_old.state_dict()[k], atol=1e-6), k
    x = torch.randn(8, 16)
    assert torch.allclose(old.eval()(x), new.eval()(x), atol=1e-6)


def test_an_optimizer_state_saved_per_member_continues_on_the_stacked_ensemble():
    old, new = per_member_pair(8)
    x, y = torch.randn(32, 16), torch.randint(0, 3, (32,))
    old_adam = torch.optim.Adam(old.parameters(), lr=0.01)
    train_one_epoch(old, [(x, y)] * 3, old_adam)
    new.load_state_dict(old.state_dict())
    new_adam = torch.optim.Adam(new.parameters(), lr=0.01)
    new_adam.load_state_dict(stacked_optimizer(old_adam.state_dict(), new))
    for head, optimizer in ((old, old_adam), (new, new_adam)):
        torch.manual_seed(2)
        train_one_epoch(head, [(x, y)], optimizer)
    x = torch.randn(8, 16)
    assert torch.allclose(old.eval()(x), new.eval()(x), atol=1e-6)


def test_an_optimizer_state_from_before_fused_adam_keeps_the_fused_kernel():
    old, new = per_member_pair(8)
    x, y = torch.randn(32, 16), torch.randint(0, 3, (32,))
    old_adam = torch.optim.Adam(old.parameters(), lr=0.01)  # as objrec ran it before: not fused
    train_one_epoch(old, [(x, y)] * 3, old_adam)
    new.load_state_dict(old.state_dict())
    new_adam = torch.optim.Adam(new.parameters(), lr=0.01, fused=True)
    load_optimizer(new_adam, old_adam.state_dict(), new)
    assert new_adam.param_groups[0]["fused"] is True
    for head, optimizer in ((old, old_adam), (new, new_adam)):
        torch.manual_seed(2)
        train_one_epoch(head, [(x, y)], optimizer)
    x = torch.randn(8, 16)
    assert torch.allclose(old.eval()(x), new.eval()(x), atol=1e-5)


def test_low_precision_training_runs_bf16_products_on_float32_weights_validation_too():
    """Its validation pass (evaluation mode) runs in bf16 as well, half float32's time; the
    unwrapped head, what the calibration, evaluate and the export run, stays float32."""
    from objrec.model import LowPrecisionTraining

    torch.manual_seed(0)
    head = build_head(64, 5, 32, 0.0, 3)  # no dropout: training and evaluation see the same model
    wrapped = LowPrecisionTraining(head)
    x = torch.randn(16, 64)
    exact = head.train()(x)
    rounded = wrapped.train()(x)
    assert rounded.dtype == torch.float32 and not torch.equal(rounded, exact)
    assert torch.allclose(rounded, exact, atol=0.05)
    rounded.sum().backward()
    assert all(p.dtype == p.grad.dtype == torch.float32 for p in head.parameters())
    with torch.no_grad():
        validated, exact = wrapped.eval()(x), head.eval()(x)
    assert validated.dtype == exact.dtype == torch.float32 and not torch.equal(validated, exact)
    assert torch.allclose(validated, exact, atol=0.05)
    assert list(wrapped.state_dict()) == [f"module.{k}" for k in head.state_dict()]


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_the_ensembles_dropout_draws_nn_dropouts_masks_bit_for_bit(dtype):
    head = build_head(16, 3, hidden=8, dropout=0.4, members=4).train()
    h = (torch.rand(4, 33, 8) + 0.5).to(dtype)  # each member's (N, width) slice
    torch.manual_seed(3)
    ours, after = head.dropout(h), torch.rand(5)
    torch.manual_seed(3)
    theirs = torch.stack([nn.Dropout(0.4).train()(member) for member in h])
    assert torch.equal(ours, theirs)
    assert torch.equal(torch.rand(5), after)  # the draws that follow are the same too
    assert 0 < int((ours == 0).sum()) < ours.numel()

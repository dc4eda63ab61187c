import torch

from objrec.backbones import TinyBody
from objrec.engine import train_one_epoch
from objrec.model import Classifier, build_head, count_parameters


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
    assert counts["trainable"] == head == 16 * 256 + 256 + 256 * 5 + 5
    assert counts["total"] == head + sum(p.numel() for p in model.body.parameters())


def test_head_is_the_articles_shape():
    head = build_head(1280, 100)
    assert [type(m).__name__ for m in head] == ["Linear", "ReLU", "Dropout", "Linear"]
    assert head[0].out_features == 256 and head[2].p == 0.4 and head[3].out_features == 100


def test_a_head_ensemble_trains_each_member_and_averages_their_probabilities():
    torch.manual_seed(0)
    head = build_head(16, 3, hidden=8, members=4)
    x, y = torch.randn(8, 16), torch.randint(0, 3, (8,))
    assert head.train()(x).shape == (4, 8, 3)
    with torch.no_grad():
        members = torch.stack([m.eval()(x).softmax(-1) for m in head.members])
        mean = head.eval()(x).softmax(-1)
    assert torch.allclose(mean, members.mean(0), atol=1e-6)
    assert not torch.allclose(members[0], members[1])  # each member starts from its own weights
    before = [m[0].weight.clone() for m in head.members]
    train_one_epoch(head, [(x, y)], torch.optim.Adam(head.parameters(), lr=0.1))
    assert all(not torch.equal(m[0].weight, b) for m, b in zip(head.members, before, strict=True))

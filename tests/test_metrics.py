import torch

from objrec.metrics import confusion_matrix, most_confused, per_class_table, summarize, topk_correct


def test_topk_and_summary_by_hand():
    logits = torch.tensor([[3.0, 2.0, 1.0], [1.0, 3.0, 2.0], [3.0, 1.0, 2.0], [1.0, 2.0, 3.0]])
    targets = torch.tensor([0, 2, 1, 0])
    assert topk_correct(logits, targets, 1).tolist() == [True, False, False, False]
    assert topk_correct(logits, targets, 2).tolist() == [True, True, False, False]
    m = summarize(logits, targets)
    assert m["top1"] == 0.25 and m["top5"] == 1.0 and m["n"] == 4  # k is capped at the class count
    assert abs(m["mean_class_top1"] - (0.5 + 0 + 0) / 3) < 1e-6


def test_per_class_table_and_confusions():
    logits = torch.eye(3)[[0, 0, 1, 1, 1, 2]] * 5
    targets = torch.tensor([0, 1, 1, 1, 2, 2])
    table = per_class_table(logits, targets, ["a", "b", "c"], {"a": 10, "b": 20, "c": 5})
    assert table.set_index("class")["top1"].round(3).to_dict() == {"a": 1.0, "b": 0.667, "c": 0.5}
    assert table.set_index("class").loc["c", "most_confused_with"] == "b"
    assert table.set_index("class").loc["b", "n_train"] == 20
    matrix = confusion_matrix(logits.argmax(1), targets, 3)
    assert matrix.tolist() == [[1, 0, 0], [1, 2, 0], [0, 1, 1]]
    pairs = most_confused(matrix, ["a", "b", "c"])
    assert set(map(tuple, pairs[["true", "predicted", "count"]].values.tolist())) == {
        ("b", "a", 1),
        ("c", "b", 1),
    }

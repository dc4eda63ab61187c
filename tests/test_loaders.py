"""The dataset and loader that skip unreadable files, and the decoding thread."""

import torch

from objrec.data import scan_class_folder
from objrec.loaders import ImageDataset, make_loader, prefetch

from .conftest import make_class_folder


def test_an_unreadable_file_is_left_out_of_its_batch_and_reported(tmp_path):
    root = make_class_folder(tmp_path / "photos", per_class=2)
    (root / "red" / "broken.png").write_bytes(b"not a png")
    samples = scan_class_folder(root).samples
    dataset = ImageDataset(samples, lambda im: torch.zeros(3, 4, 4))
    batches = list(prefetch(make_loader(dataset, batch_size=4)))
    assert sum(len(b.indices) for b in batches) == len(samples) - 1
    errors = [e for b in batches for e in b.errors]
    assert len(errors) == 1 and "broken.png" in errors[0]


def test_the_decoding_thread_keeps_to_its_own_thread_count_and_leaves_the_callers():
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:

        def seen():  # what PyTorch's operators may use where the batches are made
            for _ in range(3):
                yield torch.get_num_threads()

        assert list(prefetch(seen())) == [1, 1, 1]
        assert list(prefetch(seen(), threads=None)) == [2, 2, 2]
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)

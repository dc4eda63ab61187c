"""What a killed ``add`` left, and the next add's repair of it (:mod:`objrec.add_pending`)."""

import os

import pytest

from tests.conftest import COLOURS, make_image
from tests.test_concurrency import new_photos


@pytest.mark.slow
def test_the_next_add_gives_a_killed_adds_files_their_manifest_rows(tmp_path, split_dir):
    """`objrec add data more/` killed (kill -9) while it copied: 42 files were in the splits and
    none in manifest.csv (an add beside it, waiting for the folder, went on and did not notice),
    and adding more/ again skipped them as "already there", so they never got rows. The next
    add gives them their rows, and the killed add's note goes."""
    import signal
    import subprocess
    import sys

    from objrec.add import add_images
    from objrec.add_pending import PENDING
    from objrec.manifest import manifest_rows

    more, later = new_photos(tmp_path / "more", per_class=3), tmp_path / "later"
    (later / "red").mkdir(parents=True)
    make_image(COLOURS["red"], seed=9000).save(later / "red" / "later.png")
    killed_at_third_file = (
        "import os, signal, objrec.add as add, objrec.add_write as writing\n"
        "real, done = writing.write_new, []\n"
        "def write_new(*args, **kwargs):\n"
        "    if len(done) == 2: os.kill(os.getpid(), signal.SIGKILL)\n"
        "    done.append(1); return real(*args, **kwargs)\n"
        f"writing.write_new = write_new; add.add_images({str(split_dir)!r}, {str(more)!r})\n"
    )
    killed = subprocess.run([sys.executable, "-c", killed_at_third_file], env=os.environ)
    assert killed.returncode == -signal.SIGKILL
    written = {p.relative_to(split_dir).as_posix() for p in split_dir.rglob("new_*.png")}
    assert len(written) == 2 and (split_dir / PENDING).is_file()
    add_images(split_dir, later)
    listed = {row["file"] for row in manifest_rows(split_dir / "manifest.csv")}
    files = {p.relative_to(split_dir).as_posix() for p in split_dir.glob("*/*/*")}
    assert written <= listed and files == listed
    assert not (split_dir / PENDING).exists()

"""How many CPU cores objrec may use: the one place that counts them.

``os.cpu_count()`` is the machine's count. A process may be held to fewer: by its affinity
(``taskset``, a scheduler's cpuset: ``os.sched_getaffinity``) or by a CPU quota of its cgroup (a
container started with ``--cpus 2``: ``cpu.max`` in cgroup v2, ``cpu.cfs_quota_us`` in v1), which
leaves every core visible but runs the process at most that many cores' worth of time. Worker
processes and threads counted from the machine then wait for each other: each is slowed, and
threads that wait for the others at every operator (OpenMP, ONNX Runtime) far more. No heavy
imports here: ``split`` uses it.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping, MutableMapping
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")
"""Where Linux mounts the cgroup file systems (v2 here; v1 one folder per controller)."""
PROC_SELF_CGROUP = Path("/proc/self/cgroup")
"""This process's cgroups: ``0::/path`` in v2, ``N:cpu,cpuacct:/path`` in v1."""
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")
"""The variables that size the thread pools of PyTorch, NumPy and their BLAS libraries."""
WAIT_VARIABLES = {"OMP_WAIT_POLICY": "PASSIVE", "OPENBLAS_THREAD_TIMEOUT": "4"}
"""How the idle threads of PyTorch's OpenMP pool and of OpenBLAS wait for the next operator:
asleep, not spinning. By default each spins for a while, which on a busy machine takes the
cores the working threads need (a head epoch on 2 threads at a load of 10 to 17: 19.93 s against
3.75 s asleep, the same weights; benchmarks/README.md, "A warm retrain's fixed costs")."""


def usable_cores() -> int:
    """The cores this process may use: those it may run on, at most its cgroup's CPU quota
    (rounded up: a quota of 1.5 cores is 2)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    quota = cgroup_cpu_limit(CGROUP_ROOT, PROC_SELF_CGROUP)
    return max(1, min(cores, quota)) if quota is not None else max(1, cores)


def cgroup_cpu_limit(root: Path, membership: Path) -> int | None:
    """The cores' worth of time the CPU quotas of this process's cgroup and of those above it
    allow (the least of them, rounded up), or None when none is set or none can be read."""
    quotas = [q for folder in _quota_folders(root, membership) if (q := _quota(folder)) is not None]
    return max(1, math.ceil(min(quotas))) if quotas else None


def _quota_folders(root: Path, membership: Path) -> list[Path]:
    """The folders that may hold this process's CPU quota: its cgroup's and each one above it,
    in v2 and in v1's ``cpu`` controller. The root of each is among them: a container that sees
    only its own cgroup has it mounted there, whatever ``/proc/self/cgroup`` names."""
    try:
        lines = membership.read_text().splitlines()
    except OSError:
        return []
    folders = []
    for line in lines:
        _, controllers, path = line.split(":", 2)
        if controllers and "cpu" not in controllers.split(","):
            continue
        inside = Path(path.lstrip("/"))
        for base in _v1_mounts(root, controllers) if controllers else [root]:
            folders += [base / part for part in (inside, *inside.parents)]
    return folders


def _v1_mounts(root: Path, controllers: str) -> list[Path]:
    """Where a v1 hierarchy of ``controllers`` (``cpu,cpuacct``) may be mounted under ``root``:
    by that name, and by ``cpu``, the link systemd and container runtimes make to it. CentOS 7
    names it ``cpuacct,cpu`` in ``/proc/self/cgroup`` and mounts ``cpu,cpuacct``."""
    return list(dict.fromkeys([root / controllers, root / "cpu"]))


def _quota(folder: Path) -> float | None:
    """The cores' worth of time ``folder``'s quota allows (``cpu.max`` or v1's pair of files)."""
    try:
        if (folder / "cpu.max").is_file():
            quota, period = (folder / "cpu.max").read_text().split()[:2]
        else:
            quota = (folder / "cpu.cfs_quota_us").read_text()
            period = (folder / "cpu.cfs_period_us").read_text()
        cores = int(quota) / int(period)  # "max" (no quota in v2) raises ValueError
    except (OSError, ValueError, ZeroDivisionError):
        return None
    return cores if cores > 0 else None  # -1: no quota in v1


def cpu_threads() -> int:
    """Threads for a CPU computation: PyTorch's intra-op count (``torch.set_num_threads``,
    ``OMP_NUM_THREADS``), at most the cores this process may use."""
    import torch

    return max(1, min(torch.get_num_threads(), usable_cores()))


def rank_threads(
    environ: Mapping[str, str], launcher_set: Callable[[str], bool] | None = None
) -> int | None:
    """The threads of a torchrun rank whose ``OMP_NUM_THREADS=1`` torchrun chose: its share of
    the machine's cores, ``usable_cores() // LOCAL_WORLD_SIZE`` (at least one); None where the
    user set the variable, or outside torchrun. torchrun sets it to 1 for each process where it
    starts more than one a machine and the variable is not set (``torch/distributed/run.py``),
    and each rank's engines took PyTorch's count: 2 CPU ranks on 16 cores used 2 of them.
    ``launcher_set``: whether the launcher set a variable itself (:func:`set_by_parent`)."""
    if "TORCHELASTIC_RUN_ID" not in environ or environ.get("OMP_NUM_THREADS") != "1":
        return None
    if not (launcher_set or set_by_parent)("OMP_NUM_THREADS"):
        return None
    ranks = max(1, int(environ.get("LOCAL_WORLD_SIZE") or 1))
    return max(1, usable_cores() // ranks)


def set_by_parent(name: str, proc: Path = Path("/proc")) -> bool:
    """Whether the process that started this one (torchrun) was itself started without the
    variable ``name``, so that it set it for this one: the environment it was started with
    (``/proc/PPID/environ``, which its own later changes leave as it was) lacks it. False where
    that cannot be read (not Linux)."""
    try:
        started_with = (proc / str(os.getppid()) / "environ").read_bytes().split(b"\0")
    except OSError:
        return False
    return not any(entry.startswith(f"{name}=".encode()) for entry in started_with)


def limit_thread_pools(environ: MutableMapping[str, str]) -> int | None:
    """Before PyTorch or NumPy is imported: size their thread pools to the cores this process may
    use, where that is fewer than its affinity's (a cgroup quota, which they do not read), unless
    the user set a variable of ``THREAD_VARIABLES``. Returns the count set, or None."""
    if any(name in environ for name in THREAD_VARIABLES):
        return None
    cores = usable_cores()
    try:
        if cores >= len(os.sched_getaffinity(0)):
            return None
    except AttributeError:
        return None
    for name in THREAD_VARIABLES:
        environ[name] = str(cores)
    return cores


def wait_passively(environ: MutableMapping[str, str]) -> list[str]:
    """Before PyTorch or NumPy is imported: let their idle threads sleep rather than spin
    (``WAIT_VARIABLES``), each unless the user set it. Returns the variables set."""
    unset = [name for name in WAIT_VARIABLES if name not in environ]
    for name in unset:
        environ[name] = WAIT_VARIABLES[name]
    return unset

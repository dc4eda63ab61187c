"""pytest-xdist's ``--dist load`` (``pytest -n auto``), with the tests of a few modules kept on
one worker: modules whose module-scoped fixtures start something costly (a browser, servers, a
torchrun) that every worker running one of their tests would start again.

``--dist load`` sends each worker a run of consecutive tests, more as it runs low; a module's
tests are split wherever a run ends. Here a run that reaches a module of :data:`ONE_WORKER`
takes the rest of that module's tests with it, and the other worker gets the tests after them;
and those modules' tests are sent first (:func:`whole_first`), so that the run's last tests are
small ones either worker takes, not a module one worker runs alone while the other waits.
``tests/conftest.py`` registers the hook; ``test_xdist_groups.py`` checks the scheduling.
"""

from __future__ import annotations

import pytest

ONE_WORKER = {
    "test_page.py": "a headless Chromium and two `objrec serve` processes",
    "test_report.py": "a headless Chromium",
    "test_distributed.py": (
        "a training, a torchrun of three processes, and 2 ranks that wait out their timeout "
        "beside the module's other tests, its last test reading them"
    ),
    "test_layout.py": "every test file's syntax tree",
    "test_serve.py": "a copy of the session's run served, and a `serve --workers 2`'s check",
}
"""The modules whose tests one worker runs, and what their module fixtures start or make once."""


def module_of(nodeid: str) -> str:
    """The file name of a test's module (``tests/test_page.py::test_x[1]`` -> ``test_page.py``)."""
    return nodeid.split("::", 1)[0].rsplit("/", 1)[-1]


def whole_first(pending: list[int], collection: list[str]) -> list[int]:
    """``pending`` (indices into ``collection``) with the tests of :data:`ONE_WORKER`'s modules
    first, each module's tests and the others in their order. Sent last, such a module was a tail
    of up to 40 s that one worker ran while the other had nothing left (``test_serve.py``)."""
    return sorted(pending, key=lambda i: (module_of(collection[i]) not in ONE_WORKER, i))


def load_scheduling_keeping_modules_whole():
    """xdist's ``LoadScheduling`` whose runs of tests end after a module of ``ONE_WORKER``, not in
    it (imported here, as xdist is imported only where it runs the tests)."""
    from xdist.scheduler import LoadScheduling

    class ModulesWhole(LoadScheduling):
        ordered = False

        def _send_tests(self, node, num: int) -> None:
            if not self.ordered:  # the first send: ``pending`` holds the whole collection
                self.pending[:] = whole_first(self.pending, self.collection)
                self.ordered = True
            run = self.pending[:num]
            if not run:
                return
            whole = {module_of(self.collection[i]) for i in run} & ONE_WORKER.keys()
            after = self.pending[num:]
            rest = [i for i in after if module_of(self.collection[i]) in whole]
            self.pending[:] = [i for i in after if module_of(self.collection[i]) not in whole]
            self.node2pending[node].extend(run + rest)
            node.send_runtest_some(run + rest)

    return ModulesWhole


@pytest.hookimpl(tryfirst=True, optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    """``--dist load``'s scheduler keeping the modules of ``ONE_WORKER`` on one worker; any other
    ``--dist`` as xdist makes it."""
    if config.getvalue("dist") != "load":
        return None
    return load_scheduling_keeping_modules_whole()(config, log)

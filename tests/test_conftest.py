"""What ``tests/conftest.py`` and pytest's settings in ``pyproject.toml`` do to every test's
set-up, checked where it is cheap to get wrong: a quick-tier test pays it 1,962 times."""


def test_anyio_s_plugin_wraps_no_fixture(pytestconfig):
    """anyio's pytest plugin (installed with FastAPI) wrapped every fixture's set-up, 0.4 ms a
    test, and no test here is async: ``addopts`` turns it off."""
    assert not pytestconfig.pluginmanager.has_plugin("anyio")

"""What ``tests/conftest.py`` and pytest's settings in ``pyproject.toml`` do to every test's
set-up, checked where it is cheap to get wrong: a quick-tier test pays it 1,962 times."""


def test_a_tests_tmp_path_has_no_link_beside_it_naming_the_newest(tmp_path, tmp_path_factory):
    """pytest wrote a ``<name>current`` link beside each folder ``tmp_path`` and ``mktemp`` made
    (0.6 ms a symlink on the 2-core machine's ext4); ``conftest.without_current_links`` leaves
    them out."""
    prefix = tmp_path.name.rstrip("0123456789")
    assert not (tmp_path.parent / f"{prefix}current").is_symlink()
    made = tmp_path_factory.mktemp("made")
    assert not (made.parent / f"{made.name.rstrip('0123456789')}current").is_symlink()


def test_anyio_s_plugin_wraps_no_fixture(pytestconfig):
    """anyio's pytest plugin (installed with FastAPI) wrapped every fixture's set-up, 0.4 ms a
    test, and no test here is async: ``addopts`` turns it off."""
    assert not pytestconfig.pluginmanager.has_plugin("anyio")

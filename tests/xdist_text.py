"""Hooks that keep pytest-xdist's reports honest when a test's text is not UTF-8.

Tests of file names that are not UTF-8 log, warn and fail with surrogates in their text, which
pytest-xdist cannot send from a worker process: the run stopped with an internal error, and could
exit 0 though a test failed. ``tests/conftest.py`` registers these hooks; ``test_xdist_text.py``
runs them in a pytest of its own.
"""

from __future__ import annotations

import pytest


def utf8_safe(value):
    """``value`` (a report's or a warning's data) with every string UTF-8 encodable, a surrogate
    written as its escape (``\\udce9``)."""
    if isinstance(value, str):
        return value.encode("utf-8", "backslashreplace").decode("utf-8")
    if isinstance(value, dict):
        return {utf8_safe(key): utf8_safe(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(utf8_safe(item) for item in value)
    return value


@pytest.hookimpl(wrapper=True)
def pytest_report_to_serializable(config, report):
    """A test's report as xdist sends it: outcome, failure, output and log lines."""
    data = yield
    return None if data is None else utf8_safe(data)


@pytest.hookimpl(tryfirst=True)
def pytest_warning_recorded(warning_message, when, nodeid, location):
    """A warning's text, before xdist's own hook sends it."""
    message = warning_message.message
    text, safe = str(message), utf8_safe(str(message))
    if safe != text:
        warning_message.message = type(message)(safe) if isinstance(message, Warning) else safe

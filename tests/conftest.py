"""Shared pytest configuration for the test suite."""

from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    # pyproject turns warnings into errors.  When a hypothesis test fails, its reporter
    # imports a module that emits this DeprecationWarning (from mypy_extensions), and the
    # error then hides the falsifying example behind an INTERNALERROR.
    config.addinivalue_line(
        "filterwarnings",
        "ignore:mypy_extensions.TypedDict is deprecated:DeprecationWarning",
    )

"""A small demo store and its reports, built once per session (a report computes the whole
catalogue over 25 months, so every test reads the same pages). The helpers live in
report_support.py, which the tests import by that name."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from report_support import Built, build_reports

from clientela import plugins


@pytest.fixture(scope="session")
def built(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Built]:
    with pytest.MonkeyPatch.context() as patch:  # the core's plugins only, as every test sees
        patch.setenv(plugins.LOAD_ENV, "")
        yield from build_reports(tmp_path_factory)

"""Session set-up shared by the Python tests."""

from __future__ import annotations

import pytest
import zoo


@pytest.fixture(scope="session", autouse=True)
def zoo_cache(tmp_path_factory):
    """The zoo's models are built once a session, into pytest's temporary folder."""
    path = tmp_path_factory.mktemp("zoo")
    zoo.set_cache_dir(path)
    return path

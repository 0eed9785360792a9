"""Test set-up: the backend comes from MINIL2O_BACKEND (numpy by default, strict in the second CI
pass); tests that need a GPU skip with the reason when CuPy or a GPU is missing."""
import os

import numpy as np
import pytest

import minil2o
from minil2o.errors import UsageError


def pytest_report_header(config):
    return f"minil2o backend: {os.environ.get('MINIL2O_BACKEND', 'numpy')}"


@pytest.fixture(autouse=True)
def _backend():
    """Every test starts on the backend named by MINIL2O_BACKEND."""
    minil2o.set_backend(os.environ.get("MINIL2O_BACKEND", "numpy"))
    yield


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def cupy_or_skip():
    """Select the cupy backend, or skip the test saying why it cannot run here."""
    try:
        return minil2o.set_backend("cupy")
    except UsageError as e:
        pytest.skip(f"needs a CUDA GPU with CuPy: {e}")

import glob
import os

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture
def spec_paths() -> list[str]:
    """Every example spec and standard-library file in the repository."""
    paths = sorted(glob.glob(os.path.join(ROOT, "specs", "**", "*.mf"), recursive=True))
    assert paths
    return paths

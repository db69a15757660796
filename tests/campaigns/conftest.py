import pytest

from tests.world import World, world

__all__ = ["World", "world"]  # the hand-counted registry, as a fixture here


@pytest.fixture(autouse=True)
def _quick_password_hashing(quick_password_hashing: None) -> None:
    """Most tests here sign in two or three staff users."""

import pytest

from tests.reports.world import ReportWorld, report_world

__all__ = ["ReportWorld", "report_world"]  # the hand-counted responses, as a fixture here


@pytest.fixture(autouse=True)
def _quick_password_hashing(quick_password_hashing: None) -> None:
    """Tests here sign in several staff users."""

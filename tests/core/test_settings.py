import pytest
from pydantic import ValidationError

from app.core.settings import DEMO_SECRET_KEY, Settings


def test_public_demo_key_is_refused_outside_demo_mode() -> None:
    with pytest.raises(ValidationError, match="DEMO_MODE"):
        Settings(secret_key=DEMO_SECRET_KEY, demo_mode=False)
    assert Settings(secret_key=DEMO_SECRET_KEY, demo_mode=True).demo_mode


def test_short_secret_keys_are_refused() -> None:
    with pytest.raises(ValidationError, match="32 characters"):
        Settings(secret_key="short", demo_mode=True)

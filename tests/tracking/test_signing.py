"""Signed links and form tokens: one purpose, one delivery, this server only."""

import hashlib
import secrets

import pytest
from itsdangerous import TimestampSigner

from app.tracking.signing import (
    FORM_TOKEN_MAX_AGE_SECONDS,
    FormTokenProblem,
    Purpose,
    check_form_token,
    form_token,
    sign,
    unsign,
)

TOKEN = secrets.token_hex(16)


def flip(text: str, position: int) -> str:
    character = text[position]
    return text[:position] + ("A" if character != "A" else "B") + text[position + 1 :]


@pytest.mark.parametrize("purpose", list(Purpose))
def test_a_signed_link_names_its_delivery_for_its_purpose_only(purpose: Purpose) -> None:
    signed = sign(TOKEN, purpose)

    assert unsign(signed, purpose) == TOKEN
    for other in Purpose:
        if other is not purpose:
            assert unsign(signed, other) is None


def test_tampered_links_name_nobody() -> None:
    signed = sign(TOKEN, Purpose.unsubscribe)
    token_part, signature = signed.split(".")
    other_token = secrets.token_hex(16)

    assert unsign(flip(signed, len(signed) - 3), Purpose.unsubscribe) is None  # signature
    assert unsign(flip(signed, 0), Purpose.unsubscribe) is None  # the token
    assert unsign(f"{other_token}.{signature}", Purpose.unsubscribe) is None  # other delivery
    assert unsign(token_part, Purpose.unsubscribe) is None  # no signature
    assert unsign(signed[:-1], Purpose.unsubscribe) is None  # truncated
    assert unsign(signed + "x" * 200, Purpose.unsubscribe) is None
    assert unsign("", Purpose.unsubscribe) is None
    assert unsign("é" + signed, Purpose.unsubscribe) is None


def test_only_delivery_tokens_are_accepted_even_when_signed() -> None:
    # A signature this server made over something that is not a delivery token (it never
    # does, but a mistake elsewhere must not turn into a lookup by arbitrary text).
    assert unsign(sign("' OR 1=1 --", Purpose.act), Purpose.act) is None
    assert unsign(sign("preview", Purpose.act), Purpose.act) == "preview"


def test_the_signature_depends_on_the_secret_key(monkeypatch: pytest.MonkeyPatch) -> None:
    from app.core.settings import get_settings

    signed = sign(TOKEN, Purpose.act)
    monkeypatch.setenv("SECRET_KEY", "another-secret-key-" + "y" * 32)
    get_settings.cache_clear()
    try:
        assert unsign(signed, Purpose.act) is None
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()
    assert unsign(signed, Purpose.act) == TOKEN


def test_form_tokens_are_tied_to_the_delivery_and_the_form() -> None:
    sent = form_token(TOKEN, Purpose.act)

    assert check_form_token(sent, TOKEN, Purpose.act) is None
    assert check_form_token(sent, secrets.token_hex(16), Purpose.act) is not None
    assert check_form_token(sent, TOKEN, Purpose.preferences) is not None
    assert check_form_token(flip(sent, len(sent) - 2), TOKEN, Purpose.act) is not None
    assert check_form_token("", TOKEN, Purpose.act) is FormTokenProblem.missing_or_wrong
    # A link is not a form token.
    assert check_form_token(sign(TOKEN, Purpose.act), TOKEN, Purpose.act) is not None


def test_form_tokens_expire(monkeypatch: pytest.MonkeyPatch) -> None:
    sent = form_token(TOKEN, Purpose.preferences)
    later = TimestampSigner.get_timestamp(TimestampSigner("k")) + FORM_TOKEN_MAX_AGE_SECONDS + 5
    monkeypatch.setattr(TimestampSigner, "get_timestamp", lambda self: later)

    assert check_form_token(sent, TOKEN, Purpose.preferences) is FormTokenProblem.expired


@pytest.mark.parametrize("purpose", list(Purpose))
def test_links_keep_the_format_of_the_links_already_sent(purpose: Purpose) -> None:
    """Links were signed with itsdangerous's Signer before the signer was made faster:
    the links in alerts already in inboxes must keep working, and new ones look the same."""
    from itsdangerous import Signer

    from app.core.settings import get_settings

    before = Signer(
        get_settings().secret_key,
        salt=f"coalition.tracking.{purpose.value}",
        digest_method=hashlib.sha256,
    )
    for token in (TOKEN, secrets.token_hex(16), "preview"):
        assert sign(token, purpose) == before.sign(token).decode()
        assert unsign(before.sign(token).decode(), purpose) == token


def test_a_link_without_a_signature_names_nobody() -> None:
    assert unsign(TOKEN, Purpose.click) is None
    assert unsign(f"{TOKEN}.", Purpose.click) is None
    assert unsign(f".{sign(TOKEN, Purpose.click).split('.')[1]}", Purpose.click) is None

"""The injection and tampering corpus (issue 9, item 2).

One corpus, generated from the app wherever it can be, so that a route, a filter or a
link added later is attacked the day it is added:

- every query parameter of every GET API route (read from the OpenAPI schema) gets SQL
  and text-search payloads: 200 with nothing out of scope and nothing the payload does
  not literally match, or a 4xx naming the parameter; never a 500; nothing changes;
- alert subjects and bodies that try to leave the template sandbox: 422 naming the
  field at create, update and preview, and nothing stored;
- the click redirect: whatever is tampered or added, it never leads off the alert's own
  links and records nothing;
- every public signed link (from `Purpose`) and the member sign-in link: tampered,
  another purpose's, expired, replayed (and raced, with two sessions in threads against
  a real database): refused, nothing recorded;
- CSRF: every page form of the route table refuses a POST without or with a wrong token
  (403) and changes nothing;
- CR/LF in names and subjects: refused at input naming the field, or neutralised in the
  outgoing message (parsed back with email.parser: no extra header).

Unit-level pieces live beside their code (tests/tracking/test_signing.py,
tests/delivery/test_mime.py, tests/campaigns/test_rendering.py,
tests/accounts/test_magic_links.py); this file attacks through HTTP and the pipeline.
"""

import contextlib
import hashlib
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from email import message_from_bytes
from email.policy import compat32
from typing import Any
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient
from itsdangerous import TimestampSigner
from sqlalchemy import Engine, func, select, text
from sqlmodel import Session, SQLModel, col

from app.accounts import magic_links
from app.accounts import service as accounts
from app.accounts.auth import SESSION_COOKIE
from app.accounts.models import Credential, CredentialKind
from app.accounts.principal import Role
from app.accounts.security import csrf_token_for
from app.campaigns.models import Campaign
from app.core import migrations
from app.core.db import SessionFactory, create_db_engine
from app.core.settings import get_settings
from app.countries.treaty_data import load_countries, read_treaty_data
from app.delivery.mailer import build_message
from app.delivery.messenger import Done, OutgoingMessage
from app.delivery.models import Delivery, OutboxMessage
from app.delivery.sender import send_campaign_batch
from app.main import create_app
from app.members.models import Organization
from app.tracking.models import ResponseEvent
from app.tracking.signing import FORM_TOKEN_MAX_AGE_SECONDS, Purpose, form_token, sign
from tests.accounts.test_route_matrix import (
    ALL_ENDPOINTS,
    Endpoint,
    admits,
    is_public,
)
from tests.accounts.test_route_matrix import (
    CALLERS_BY_NAME as CALLER_OF,
)
from tests.factories import make_contact, make_organization, make_user
from tests.tracking.conftest import ENGLISH_LINKS, make_campaign, make_delivery
from tests.web.conftest import live_database_url

__all__ = ["live_database_url"]  # a fixture, used by the sign-in race

APP = create_app()


@pytest.fixture(autouse=True)
def _quick(quick_password_hashing: None) -> None:
    """Staff users are made in most tests here."""


# --- the state of the whole database --------------------------------------------------------


def database_state(session: Session) -> dict[str, str]:
    """A digest of every row of every table: "changes nothing" means this is equal
    before and after (credentials aside: using a session may touch its last-use time)."""
    session.expire_all()
    state = {}
    for table in SQLModel.metadata.sorted_tables:
        if table.name == "credentials":
            continue
        rows = session.execute(select(table)).all()
        state[table.name] = hashlib.sha256(
            repr(sorted(repr(tuple(row)) for row in rows)).encode()
        ).hexdigest()
    return state


def changed_tables(before: dict[str, str], after: dict[str, str]) -> list[str]:
    return sorted(name for name in before if before[name] != after.get(name))


# --- 1. SQL and text-search payloads in every filter and search parameter ---------------------

# None of these characters appear in the data below, so a literal match finds nothing:
# any row that comes back came through a wildcard or an injection.
SEARCH_PAYLOADS = [
    "'",
    '"',
    "' OR 1=1 --",
    "' OR '1'='1",
    '" OR ""="',
    "1; DROP TABLE organizations; --",
    "') UNION SELECT email, email FROM users --",
    "%",
    "%%",
    "_",
    "%_%",
    "\\",
    "\\%",
    "\\' OR 1=1 --",
    "\x00",
    "a\x00b",
    "!:*&|()",
    "a & !b | c:*",
    "(((",
    "<->",
    "*",
    "?",
    "[a-z]",
    "$1",
    "x" * 5000,
    "\U0001d54f\U0001f642\u202e",  # astral letters, an emoji, a direction override
    "NULL",
    "-1",
    "1e309",
    "9" * 40,
    "2025-13-45",
    "true'",
]
# Sent as the query string carries them: percent-encoded, plus bytes that are not UTF-8
# at all (a lone surrogate, a stray byte), which no client library would produce.
SEARCH_PAYLOADS = [quote(payload, safe="") for payload in SEARCH_PAYLOADS] + [
    "%ED%A0%80",
    "%FF",
    "%C0%27",
]


def api_query_parameters() -> list[tuple[str, str, dict[str, Any]]]:
    """(path, parameter, its schema) for every query parameter of every GET API route."""
    found = []
    for path, operations in APP.openapi()["paths"].items():
        get = operations.get("get")
        if get is None or not path.startswith("/api/"):
            continue
        for parameter in get.get("parameters", []):
            if parameter["in"] == "query":
                found.append((path, parameter["name"], parameter["schema"]))
    return found


API_QUERY_PARAMETERS = api_query_parameters()


def test_the_corpus_sees_the_filters_and_searches() -> None:
    """Guard against a walk that silently finds nothing."""
    names = {(path, name) for path, name, _ in API_QUERY_PARAMETERS}
    for expected in [
        ("/api/organizations", "q"),
        ("/api/organizations", "country"),
        ("/api/campaigns", "q"),
        ("/api/audit", "actor"),
        ("/api/reports/participation", "region"),
        ("/api/countries", "region"),
    ]:
        assert expected in names
    assert len(API_QUERY_PARAMETERS) >= 40


@dataclass
class SearchWorld:
    campaign_id: int
    path_values: dict[str, Any]


@pytest.fixture
def search_world(session: Session, client: TestClient) -> SearchWorld:
    """Organisations in two regions with contacts, an alert sent to one of them with a
    response, and audit entries: something for every list to (wrongly) return."""
    kenya = make_organization(session, name="Kenya Rights Forum", country="KEN")
    france = make_organization(session, name="France Rights Network", country="FRA")
    contact = make_contact(session, kenya, name="Amina Diallo", email="amina@example.org")
    make_contact(session, france, name="Jean Martin", email="jean@example.org")
    campaign = make_campaign(session)
    delivery = make_delivery(session, campaign, contact)
    response = client.get(f"/o/{sign(delivery.token, Purpose.open)}.gif")
    assert response.status_code == 200
    session.flush()
    return SearchWorld(campaign.id or 0, {"campaign_id": campaign.id})


def rows_of(response: Any) -> list[Any]:
    """The rows a list answer holds (JSON lists, pages of items, CSV data lines)."""
    if response.headers["content-type"].startswith("text/csv"):
        lines = [line for line in response.text.lstrip("\ufeff").splitlines() if line]
        return lines[1:]
    body = response.json()
    if isinstance(body, list):
        return body
    if isinstance(body, dict):
        for key in ("items", "rows", "groups", "contacts"):
            if isinstance(body.get(key), list):
                return body[key]
    return []


def is_text_search(schema: dict[str, Any]) -> bool:
    """A free-text parameter (as opposed to a number, a choice or a list of choices)."""
    kinds = [schema, *schema.get("anyOf", [])]
    return any(kind.get("type") == "string" and "enum" not in kind for kind in kinds) and not any(
        kind.get("format") in ("date", "date-time") for kind in kinds
    )


@pytest.mark.parametrize(
    ("path", "name", "schema"),
    API_QUERY_PARAMETERS,
    ids=[f"{path}?{name}" for path, name, _ in API_QUERY_PARAMETERS],
)
def test_search_and_filter_payloads_are_answered_or_refused_never_run(
    path: str,
    name: str,
    schema: dict[str, Any],
    client: TestClient,
    session: Session,
    search_world: SearchWorld,
) -> None:
    url = re.sub(r"{(\w+)}", lambda m: str(search_world.path_values[m.group(1)]), path)
    # A route's required parameters (the alert a report is about) are given, valid.
    missing = client.get(url).json() if client.get(url).status_code == 422 else {"detail": []}
    required = {error["loc"][-1] for error in missing["detail"] if error["type"] == "missing"}
    values = {key: search_world.path_values[key] for key in required}
    baseline = client.get(url, params=values)
    base = "&".join(f"{key}={value}" for key, value in values.items() if key != name)
    assert baseline.status_code == 200, f"{url}: {baseline.text[:300]}"
    before = database_state(session)
    failures = []
    for payload in SEARCH_PAYLOADS:
        response = client.get(f"{url}?{base}&{name}={payload}")
        if response.status_code >= 500:
            failures.append(f"{payload!r}: {response.status_code}")
        elif response.status_code >= 400:
            detail = response.json().get("detail")
            locations = [
                list(item.get("loc", [])) for item in detail or [] if isinstance(item, dict)
            ]
            if not any(name in location for location in locations):
                failures.append(f"{payload!r}: {response.status_code} not naming {name}: {detail}")
        elif is_text_search(schema) and name != "cursor" and rows_of(response):
            # No row holds any of these characters: a row found is a wildcard or worse.
            failures.append(f"{payload!r}: 200 with {len(rows_of(response))} rows")
    assert failures == [], f"{url}?{name}=…\n" + "\n".join(failures)
    assert changed_tables(before, database_state(session)) == []


def test_the_oracle_sees_rows_where_there_are_some(
    client: TestClient, search_world: SearchWorld
) -> None:
    """A search that should find something does: an empty answer above means something."""
    assert len(rows_of(client.get("/api/organizations", params={"q": "Rights"}))) == 2
    assert len(rows_of(client.get("/api/organizations/export.csv", params={"q": "Rights"}))) == 2
    assert len(rows_of(client.get("/api/campaigns", params={"q": "APIC"}))) == 1
    assert rows_of(client.get("/api/audit", params={"actor": "test:staff"}))


# The pages' own searches read the query string themselves (not in the OpenAPI schema).
PAGE_SEARCHES = sorted(
    endpoint.path
    for endpoint in ALL_ENDPOINTS
    if endpoint.method == "GET"
    and not endpoint.is_api
    and not endpoint.path_params
    and not is_public(endpoint)
    and not endpoint.path.startswith("/portal")
)


@pytest.mark.parametrize("path", PAGE_SEARCHES)
def test_page_searches_never_fail_on_payloads(
    path: str, client: TestClient, session: Session, search_world: SearchWorld
) -> None:
    client.follow_redirects = False
    before = database_state(session)
    failures = []
    for payload in SEARCH_PAYLOADS:
        for name in ("q", "cursor", "region", "status", "country"):
            response = client.get(f"{path}?{name}={payload}")
            if response.status_code >= 500:
                failures.append(f"{name}={payload!r}: {response.status_code}")
            elif (
                path == "/members"
                and name == "q"
                and response.status_code == 200
                and "Kenya Rights Forum" in response.text
            ):
                failures.append(f"q={payload!r} found an organisation it does not name")
    assert failures == [], "\n".join(failures)
    assert changed_tables(before, database_state(session)) == []


# --- 2. Template sandbox escapes in subjects and bodies ---------------------------------------

SANDBOX_ESCAPES = [
    "{{ ''.__class__.__mro__ }}",
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ cycler.__init__.__globals__ }}",
    "{{ joiner.__init__.__globals__.os }}",
    "{{ namespace.__init__.__globals__ }}",
    "{{ lipsum.__globals__['os'].popen('id').read() }}",
    "{{ range.__self__ }}",
    "{% include '/etc/passwd' %}",
    "{% import '/etc/passwd' as x %}",
    "{% extends '/etc/passwd' %}",
    "{% from 'x' import y %}",
    "{{ config }}",
    "{{ config.items() }}",
    "{{ self }}",
    "{{ self.__dict__ }}",
    "{{ request }}",
    "{{ contact.__class__ }}",
    "{{ contact['__class__'] }}",
    "{{ contact|attr('__class__') }}",
    "{{ contact.name.__class__.__base__ }}",
    "{{ contact.name.format }}",
    "{{ '{0.__class__}'.format(contact) }}",
    "{{ '%s' % contact.__class__ }}",
    "{{ contact.name|format(contact) }}",
    "{% set x = contact.__class__ %}{{ x }}",
    "{% for c in ().__class__.__base__.__subclasses__() %}{{ c }}{% endfor %}",
    "{{ get_flashed_messages.__globals__ }}",
    "{{ url_for.__globals__ }}",
    "{{ _self }}",
    "{% debug %}",
]

VARIANT = {"language": "en", "subject": "Act now", "body": "Dear {{ contact.name }}"}
ALERT: dict[str, Any] = {
    "title": "Sandbox corpus",
    "action_type": "contact_officials",
    "default_language": "en",
    "variants": [VARIANT],
}


def names_field(response: Any, field: str) -> bool:
    detail = response.json().get("detail")
    return any(field in item.get("loc", []) for item in detail if isinstance(item, dict))


@pytest.mark.parametrize("payload", SANDBOX_ESCAPES)
@pytest.mark.parametrize("field", ["subject", "body"])
def test_sandbox_escapes_are_refused_at_create_update_and_preview(
    payload: str, field: str, client: TestClient, session: Session
) -> None:
    existing = client.post("/api/campaigns", json=ALERT)
    assert existing.status_code == 201, existing.text
    campaign_id = existing.json()["id"]
    before = database_state(session)
    variant = {**VARIANT, field: payload}
    attempts = {
        "create": client.post("/api/campaigns", json={**ALERT, "variants": [variant]}),
        "update": client.patch(f"/api/campaigns/{campaign_id}", json={"variants": [variant]}),
        "preview": client.post("/api/campaigns/preview", json=variant),
    }
    for name, response in attempts.items():
        assert response.status_code == 422, f"{name}: {response.status_code} {response.text}"
        assert names_field(response, field), f"{name}: {response.text}"
        for leak in ("/etc/passwd", "root:", "<class", "secret_key", "SECRET", "__globals__"):
            assert leak not in response.text.replace(payload, ""), f"{name}: {response.text}"
    # The alert form of the pages refuses it too.
    client.follow_redirects = False
    page = client.post(
        "/campaigns/new",
        data={
            "title": "Sandbox corpus",
            "action_type": "contact_officials",
            "default_language": "en",
            "subject.en": payload if field == "subject" else "Act now",
            "body.en": payload if field == "body" else "Dear {{ contact.name }}",
            "regions": "africa",
            "membership_status": "active",
        },
    )
    assert page.status_code == 422, page.text[:500]
    assert changed_tables(before, database_state(session)) == []


# --- 3 and 4. The click redirect and every public signed link ---------------------------------

# Each public route that takes a signed link, by the purpose its link is signed for. A new
# route with a `{signed}` parameter fails the test below until it is added here.
LINK_PURPOSES = {"r": Purpose.click, "o": Purpose.open, "act": Purpose.act}
LINK_PURPOSES |= {"unsubscribe": Purpose.unsubscribe, "preferences": Purpose.preferences}
SIGNED_ENDPOINTS = [
    endpoint
    for endpoint in ALL_ENDPOINTS
    if is_public(endpoint) and "signed" in endpoint.path_params
]


def test_every_signed_link_route_is_in_the_corpus() -> None:
    prefixes = {endpoint.path.split("/")[1] for endpoint in SIGNED_ENDPOINTS}
    assert prefixes == set(LINK_PURPOSES), prefixes
    assert set(LINK_PURPOSES.values()) == set(Purpose)


@dataclass
class Sent:
    campaign: Campaign
    delivery: Delivery
    other: Delivery  # another recipient's delivery of the same alert


@pytest.fixture
def sent(session: Session) -> Sent:
    organization = make_organization(session, name="Kenya Rights Network", country="KEN")
    amina = make_contact(session, organization, name="Amina Diallo", email="amina@example.org")
    peter = make_contact(session, organization, name="Peter Kamau", email="peter@example.org")
    campaign = make_campaign(session)
    return Sent(
        campaign, make_delivery(session, campaign, amina), make_delivery(session, campaign, peter)
    )


def middle_changed(text: str) -> str:
    """One character in the middle of a signature changed (not the last base64 one, whose
    low bits may not count)."""
    token, _, signature = text.partition(".")
    position = len(signature) // 2
    swapped = "A" if signature[position] != "A" else "B"
    return f"{token}.{signature[:position]}{swapped}{signature[position + 1 :]}"


def tampered_links(sent: Sent, purpose: Purpose) -> dict[str, str]:
    """Signed values that must open nothing for `purpose`."""
    good = sign(sent.delivery.token, purpose)
    token, _, signature = good.partition(".")
    other_signature = sign(sent.other.token, purpose).partition(".")[2]
    flipped_token = token[:10] + ("0" if token[10] != "0" else "1") + token[11:]
    found = {
        "signature changed": middle_changed(good),
        "token changed": f"{flipped_token}.{signature}",
        "another delivery's signature": f"{token}.{other_signature}",
        "no signature": token,
        "empty signature": f"{token}.",
        "truncated": good[:-3],
        "padded": good + "A" * 200,
        "case swapped": f"{token}.{signature.swapcase()}",
        "bare token of another recipient": sent.other.token,
        "sql": "' OR 1=1 --",
        "preview without signature": "preview",
    }
    for other in Purpose:
        if other is not purpose:
            found[f"{other.value} link"] = sign(sent.delivery.token, other)
    return found


def link_request(endpoint: Endpoint, signed: str, sent: Sent) -> tuple[str, dict[str, Any]]:
    """The path for a signed value, and a POST body that would be accepted with a good
    link (so that the link is the only thing wrong)."""
    path = endpoint.path.replace("{signed}", quote(signed, safe="")).replace("{number}", "1")
    purpose = LINK_PURPOSES[endpoint.path.split("/")[1]]
    if endpoint.method != "POST":
        return path, {}
    token = form_token(sent.delivery.token, purpose)
    bodies = {
        Purpose.act: {"action_type": "met_officials", "action_date": "2025-01-15"},
        Purpose.unsubscribe: {"List-Unsubscribe": "One-Click"},
        Purpose.preferences: {"alerts": "receive", "language": "fr"},
    }
    return path, {"data": {**bodies[purpose], "form_token": token}}


@pytest.mark.parametrize("endpoint", SIGNED_ENDPOINTS, ids=str)
def test_tampered_links_of_every_kind_open_nothing_and_record_nothing(
    endpoint: Endpoint, sent: Sent, session: Session, anonymous_client: TestClient
) -> None:
    anonymous_client.follow_redirects = False
    purpose = LINK_PURPOSES[endpoint.path.split("/")[1]]
    before = database_state(session)
    for name, signed in tampered_links(sent, purpose).items():
        path, body = link_request(endpoint, signed, sent)
        response = anonymous_client.request(endpoint.method, path, **body)
        if name == "preview without signature":
            assert response.status_code in (200, 404), f"{name}: {response.status_code}"
        else:
            assert response.status_code == 404, (
                f"{name}: {response.status_code} {response.text[:200]}"
            )
        assert "location" not in response.headers
    assert changed_tables(before, database_state(session)) == []
    # The good link, sent the same way, is accepted: the corpus tests the link alone.
    path, body = link_request(endpoint, sign(sent.delivery.token, purpose), sent)
    assert anonymous_client.request(endpoint.method, path, **body).status_code in (200, 303)


OFF_SITE = [
    "//evil.example",
    "https://evil.example",
    "http://evil.example/",
    "\\\\evil.example",
    "/\\evil.example",
    "javascript:alert(1)",
    "JaVaScRiPt:alert(document.cookie)",
    "data:text/html,<script>alert(1)</script>",
    "https:evil.example",
    "%2F%2Fevil.example",
    "\r\nLocation: https://evil.example",
]


def test_the_click_redirect_never_leaves_the_alerts_own_links(
    sent: Sent, session: Session, anonymous_client: TestClient
) -> None:
    anonymous_client.follow_redirects = False
    signed = sign(sent.delivery.token, Purpose.click)
    own = set(ENGLISH_LINKS)
    attempts = []
    for target in OFF_SITE:
        encoded = quote(target, safe="")
        attempts += [
            f"/r/{signed}/{encoded}",  # as the link number
            f"/r/{signed}/1/{encoded}",  # after it
            f"/r/{encoded}/1",  # as the signed part
            f"/r/{signed}{encoded}/1",
        ]
        attempts += [
            f"/r/{signed}/1?{name}={encoded}" for name in ("url", "next", "to", "redirect", "u")
        ]
    for number in ("0", "3", "99", "-1", "1.0", "+1", "\u0661", "1e0", "0x1", "99999", " 1"):
        attempts.append(f"/r/{signed}/{quote(number, safe='')}")
    attempts.append(f"/r/{sign(sent.delivery.token, Purpose.open)}/1")  # another purpose's
    followed = 0
    for path in attempts:
        response = anonymous_client.get(path)
        if response.status_code == 303:
            assert response.headers["location"] in own, f"{path} -> {response.headers['location']}"
            followed += 1
        else:
            assert response.status_code == 404, f"{path}: {response.status_code}"
            assert "location" not in response.headers
        assert "evil.example" not in response.headers.get("location", "")
    # Only the links whose own number was right (query strings are ignored) counted.
    assert followed == 5 * len(OFF_SITE)
    session.expire_all()
    clicks = session.scalars(select(ResponseEvent)).all()
    assert len(clicks) == followed
    assert {click.link_number for click in clicks} == {1}


def test_form_tokens_past_their_age_are_refused_and_keep_nothing(
    sent: Sent, session: Session, anonymous_client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The links themselves do not expire (an alert read months later still works); the
    forms behind them carry a timestamped token that does."""
    anonymous_client.follow_redirects = False
    forms = [e for e in SIGNED_ENDPOINTS if e.method == "POST"]
    old = {
        endpoint.path: link_request(
            endpoint, sign(sent.delivery.token, LINK_PURPOSES[endpoint.path.split("/")[1]]), sent
        )
        for endpoint in forms
    }
    later = TimestampSigner("k").get_timestamp() + FORM_TOKEN_MAX_AGE_SECONDS + 60
    monkeypatch.setattr(TimestampSigner, "get_timestamp", lambda self: later)
    before = database_state(session)
    for endpoint in forms:
        path, body = old[endpoint.path]
        body["data"].pop("List-Unsubscribe", None)  # the page's button, not RFC 8058's POST
        response = anonymous_client.post(path, **body)
        assert response.status_code == 400, f"{endpoint}: {response.status_code}"
    assert changed_tables(before, database_state(session)) == []


# --- 4 (continued). The member sign-in link: tampered, expired, replayed, raced ---------------

AMINA = "amina@haki.example.org"
_SIGN_IN_LINK = re.compile(r"/sign-in/link/([A-Za-z0-9_-]+)")


def sign_in_secret(session: Session, address: str = AMINA) -> str:
    magic_links.request_sign_in_link(session, address)
    session.flush()
    outbox = session.execute(
        text("SELECT text_body FROM outbox_messages WHERE to_address = :a ORDER BY id DESC"),
        {"a": address},
    ).first()
    assert outbox is not None
    match = _SIGN_IN_LINK.search(outbox[0])
    assert match
    return match.group(1)


def signed_in_sessions(session: Session) -> int:
    session.expire_all()
    return (
        session.scalar(
            select(func.count())
            .select_from(Credential)
            .where(col(Credential.kind) == CredentialKind.session)
        )
        or 0
    )


@pytest.fixture
def haki(session: Session) -> Organization:
    organization = make_organization(session, name="Haki Women's Forum", country="KEN")
    make_contact(session, organization, name="Amina Njeri", email=AMINA)
    return organization


def test_sign_in_links_tampered_foreign_or_cross_site_sign_in_nobody(
    haki: Organization, session: Session, anonymous_client: TestClient, sent: Sent
) -> None:
    anonymous_client.follow_redirects = False
    secret = sign_in_secret(session)
    middle = len(secret) // 2
    wrong = {
        "changed": secret[:middle] + ("A" if secret[middle] != "A" else "B") + secret[middle + 1 :],
        "truncated": secret[:-1],
        "extended": secret + "A",
        "an alert's link": sign(sent.delivery.token, Purpose.act),
        "a delivery token": sent.delivery.token,
        "sql": quote("' OR 1=1 --", safe=""),
        "wildcard": "%25",
    }
    before = database_state(session)
    for name, value in wrong.items():
        for method in ("GET", "POST"):
            response = anonymous_client.request(method, f"/sign-in/link/{value}")
            assert response.status_code in (404, 422), f"{name} {method}: {response.status_code}"
        api = anonymous_client.post("/api/auth/magic-link/redeem", json={"token": value})
        assert api.status_code in (404, 422), f"{name}: {api.text}"
    # A sign-in link is not an alert's link either.
    assert anonymous_client.get(f"/act/{secret}").status_code == 404
    # Posted from another site (login CSRF): refused, and the link stays unused.
    cross = anonymous_client.post(
        f"/sign-in/link/{secret}", headers={"Origin": "https://evil.example"}
    )
    assert cross.status_code == 403
    assert changed_tables(before, database_state(session)) == []
    assert signed_in_sessions(session) == 0
    assert anonymous_client.post(f"/sign-in/link/{secret}").status_code == 303


def test_sign_in_links_expire_and_work_once(
    haki: Organization,
    session: Session,
    anonymous_client: TestClient,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    anonymous_client.follow_redirects = False
    expiring = sign_in_secret(session)
    used = sign_in_secret(session)
    first = anonymous_client.post(f"/sign-in/link/{used}")
    assert first.status_code == 303
    assert first.headers["location"] == "/portal"
    assert signed_in_sessions(session) == 1
    before = database_state(session)
    # Replayed: the page and the API alike.
    assert anonymous_client.post(f"/sign-in/link/{used}").status_code == 404
    assert (
        anonymous_client.post("/api/auth/magic-link/redeem", json={"token": used}).status_code
        == 404
    )
    # Expired, by the service's own clock.
    later = magic_links.utcnow() + magic_links.LINK_LIFETIME + timedelta(seconds=1)
    monkeypatch.setattr(magic_links, "utcnow", lambda: later)
    assert anonymous_client.get(f"/sign-in/link/{expiring}").status_code == 404
    assert anonymous_client.post(f"/sign-in/link/{expiring}").status_code == 404
    assert changed_tables(before, database_state(session)) == []
    assert signed_in_sessions(session) == 1


def test_two_simultaneous_sign_ins_by_one_link_through_the_pages_give_one_session(
    live_database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two browsers post the same link at once, each through the whole app and its own
    database session. On PostgreSQL both find the link valid before either uses it (the
    barrier); SQLite lets one writer in at a time. Exactly one is signed in."""
    migrations.upgrade(live_database_url)
    engine = create_db_engine(live_database_url)
    saved = dict(SessionFactory.kw)
    try:
        with Session(engine) as session:
            load_countries(session, list(read_treaty_data()))
            organization = make_organization(session, name="Haki Women's Forum", country="KEN")
            make_contact(session, organization, name="Amina Njeri", email=AMINA)
            secret = sign_in_secret(session)
            session.commit()
        SessionFactory.configure(bind=engine)
        outcomes = race_two_posts(engine, f"/sign-in/link/{secret}", monkeypatch)
        assert sorted(outcomes) == [303, 404]
        with Session(engine) as session:
            assert signed_in_sessions(session) == 1
    finally:
        SessionFactory.kw.clear()
        SessionFactory.kw.update(saved)
        engine.dispose()


def race_two_posts(engine: Engine, path: str, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    barrier = threading.Barrier(2, timeout=1 if engine.dialect.name == "sqlite" else 10)
    describe = magic_links.describe_link

    def describe_then_wait(session: Session, secret: str) -> list[magic_links.SignInChoice]:
        choices = describe(session, secret)
        with contextlib.suppress(threading.BrokenBarrierError):
            barrier.wait()
        return choices

    monkeypatch.setattr(magic_links, "describe_link", describe_then_wait)
    outcomes: list[int] = []
    clients = [TestClient(APP, follow_redirects=False) for _ in range(2)]

    def post(client: TestClient) -> None:
        outcomes.append(client.post(path).status_code)

    threads = [threading.Thread(target=post, args=(client,)) for client in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    for client in clients:
        client.close()
    if engine.dialect.name == "postgresql":
        assert barrier.broken is False, "the two requests did not overlap"
    return outcomes


# --- 5. CSRF on every form --------------------------------------------------------------------

PAGE_FORMS = [e for e in ALL_ENDPOINTS if e.method == "POST" and not e.is_api and not is_public(e)]
# Public page forms, each with what stands in for a session's CSRF token.
SAME_SITE_CHECKED = {"/sign-in", "/sign-in/link/{secret}"}  # Origin/Referer of this site
FORM_TOKEN_CHECKED = {"/act/{signed}", "/unsubscribe/{signed}", "/preferences/{signed}"}
# No session, so nothing of the visitor's to forge: anyone may post these directly.
NO_SESSION = {"/sign-in/member", "/apply"}


def test_every_public_form_is_classified() -> None:
    public_forms = {
        e.path for e in ALL_ENDPOINTS if e.method == "POST" and not e.is_api and is_public(e)
    }
    assert public_forms == SAME_SITE_CHECKED | FORM_TOKEN_CHECKED | NO_SESSION
    assert len(PAGE_FORMS) >= 20


@pytest.fixture
def page_sessions(session: Session, anonymous_client: TestClient) -> dict[str, Any]:
    """A staff admin's and a member's page sessions (cookies), and an object of every
    kind the forms' addresses name."""
    organization = make_organization(session, name="Kenya Rights Network", country="KEN")
    amina = make_contact(session, organization, name="Amina Diallo", email="amina@example.org")
    peter = make_contact(session, organization, name="Peter Kamau", email="peter@example.org")
    member = make_user(
        session,
        Role.member,
        email=amina.email,
        organization_id=organization.id,
        contact_id=amina.id,
    )
    admin = make_user(session, Role.secretariat, is_admin=True)
    campaign = make_campaign(session)
    application = anonymous_client.post(
        "/api/applications",
        json={
            "organization_name": "Applicant NGO",
            "country": "KEN",
            "contact_name": "Applying Person",
            "contact_email": "applicant@example.org",
        },
    )
    assert application.status_code in (200, 201, 202), application.text
    cookies = {
        role: accounts.issue_credential(session, user, CredentialKind.session)[0]
        for role, user in (("admin", admin), ("member", member))
    }
    session.flush()
    return {
        "cookies": cookies,
        "values": {
            "campaign_id": campaign.id,
            "application_id": application.json()["id"],
            "user_id": member.id,
            "contact_id": peter.id,
            "organization_id": organization.id,
        },
    }


@pytest.mark.parametrize("endpoint", PAGE_FORMS, ids=str)
def test_page_forms_without_the_right_csrf_token_are_403_and_change_nothing(
    endpoint: Endpoint, page_sessions: dict[str, Any], session: Session
) -> None:
    role = "member" if endpoint.path.startswith("/portal") else "admin"
    assert admits(endpoint, CALLER_OF[role]), endpoint
    path = re.sub(r"{(\w+)}", lambda m: str(page_sessions["values"][m.group(1)]), endpoint.path)
    with TestClient(APP, follow_redirects=False) as browser:
        browser.cookies.set(SESSION_COOKIE, page_sessions["cookies"][role])
        before = database_state(session)
        for data in (
            {},
            {"csrf_token": ""},
            {"csrf_token": "0" * 64},
            {"csrf_token": "' OR 1=1 --"},
        ):
            response = browser.post(path, data={**data, "name": "Forged", "confirm": "on"})
            assert response.status_code == 403, (
                f"{data}: {response.status_code} {response.text[:200]}"
            )
        # Another session's token is as wrong as none.
        other = csrf_token_for(page_sessions["cookies"]["member" if role == "admin" else "admin"])
        assert browser.post(path, data={"csrf_token": other}).status_code == 403
        assert browser.post(path, headers={"X-CSRF-Token": other}).status_code == 403
        assert changed_tables(before, database_state(session)) == []
        # The session's own token gets past the check (whatever the form then says).
        own = csrf_token_for(page_sessions["cookies"][role])
        assert browser.post(path, data={"csrf_token": own}).status_code != 403


def test_public_forms_refuse_posts_from_other_sites(
    anonymous_client: TestClient, session: Session, quick_password_hashing: None
) -> None:
    make_user(session, Role.secretariat, email="staff@example.org")
    before = database_state(session)
    for path in SAME_SITE_CHECKED:
        url = path.replace("{secret}", "x" * 43)
        for header in ({"Origin": "https://evil.example"}, {"Referer": "https://evil.example/f"}):
            response = anonymous_client.post(
                url,
                data={"email": "staff@example.org", "password": "correct horse battery staple"},
                headers=header,
            )
            assert response.status_code == 403, f"{url} {header}: {response.status_code}"
    assert changed_tables(before, database_state(session)) == []


# --- 6. CR/LF in names and subjects: refused at input, or neutralised in the mail ------------

LINE_BREAKS = [
    "Evil\r\nBcc: victim@evil.example",
    "Evil\nBcc: victim@evil.example",
    "Evil\rBcc: victim@evil.example",
    "Evil\u2028Bcc: victim@evil.example",
    "Evil\x85Bcc: victim@evil.example",
    "Evil\r\n\r\n<html>body</html>",
]


@pytest.mark.parametrize("value", LINE_BREAKS, ids=repr)
def test_line_breaks_in_names_are_refused_at_input_naming_the_field(
    value: str, client: TestClient, session: Session, anonymous_client: TestClient
) -> None:
    organization = make_organization(session, name="Kenya Rights Network", country="KEN")
    contact = make_contact(session, organization, name="Amina Diallo", email="amina@example.org")
    session.flush()
    before = database_state(session)
    attempts = [
        ("post", "/api/organizations", {"name": value, "country": "KEN"}, "name"),
        (
            "post",
            "/api/organizations",
            {"name": "Ok", "acronym": value, "country": "KEN"},
            "acronym",
        ),
        ("patch", f"/api/organizations/{organization.id}", {"name": value}, "name"),
        (
            "post",
            f"/api/organizations/{organization.id}/contacts",
            {"name": value, "email": "new@example.org"},
            "name",
        ),
        ("patch", f"/api/contacts/{contact.id}", {"name": value}, "name"),
        ("post", "/api/campaigns", {**ALERT, "title": value}, "title"),
    ]
    for method, path, body, field in attempts:
        response = getattr(client, method)(path, json=body)
        assert response.status_code == 422, f"{path} {field}: {response.status_code}"
        assert names_field(response, field), response.text
    application = {
        "organization_name": "Applicant NGO",
        "country": "KEN",
        "contact_name": "Applying Person",
        "contact_email": "applicant@example.org",
    }
    for field in ("organization_name", "contact_name"):
        response = anonymous_client.post("/api/applications", json={**application, field: value})
        assert response.status_code == 422, f"application {field}: {response.status_code}"
        assert names_field(response, field), response.text
    assert changed_tables(before, database_state(session)) == []


class RecordingRelay:
    """A relay that accepts everything and keeps the bytes it was given."""

    def __init__(self) -> None:
        self.messages: list[OutgoingMessage] = []

    def send(self, message: OutgoingMessage, done: Done) -> None:
        self.messages.append(message)
        done(None)

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass


ALERT_HEADERS = {
    "from",
    "to",
    "subject",
    "date",
    "message-id",
    "mime-version",
    "content-type",
    "list-id",
    "list-unsubscribe",
    "list-unsubscribe-post",
    "content-transfer-encoding",
    "auto-submitted",
    "x-auto-response-suppress",
    "precedence",
    "feedback-id",
}


def assert_no_extra_header(raw: bytes) -> None:
    parsed = message_from_bytes(raw, policy=compat32)
    names = [name.lower() for name in parsed]
    assert "bcc" not in names, names
    assert "cc" not in names, names
    assert set(names) <= ALERT_HEADERS | {"dkim-signature", "reply-to", "x-campaign"}, names
    assert len(names) == len(set(names)), names  # no header twice
    for name, value in parsed.items():
        assert "\r" not in value.replace("\r\n ", "").replace("\r\n\t", ""), (name, value)
        assert "evil.example" not in str(value) or name.lower() in ("subject", "to"), (name, value)
    # The header block ended where the message says: the body is still the alert's parts
    # (an injected blank line would have made the rest of the headers a body).
    assert parsed.is_multipart() or names.count("content-type") == 1, names
    assert "mime-version" in names


def test_line_breaks_that_reach_an_alert_never_add_a_header(
    client: TestClient, session: Session, client_as: Callable[..., TestClient]
) -> None:
    """Names stored before they were checked (old rows, imports) and a subject with line
    breaks go out on one header line each."""
    organization = make_organization(session, name="Kenya Rights Network", country="KEN")
    contacts = [
        make_contact(session, organization, name=f"Person {n}", email=f"p{n}@example.org")
        for n in range(len(LINE_BREAKS))
    ]
    session.flush()
    for contact, value in zip(contacts, LINE_BREAKS, strict=True):
        session.execute(
            text("UPDATE contacts SET name = :v WHERE id = :i"), {"v": value, "i": contact.id}
        )
    session.execute(
        text("UPDATE organizations SET name = :v WHERE id = :i"),
        {"v": LINE_BREAKS[0], "i": organization.id},
    )
    session.flush()
    subject = "Act now {{ contact.name }} {{ organization.name }}\r\nBcc: victim@evil.example"
    created = client.post(
        "/api/campaigns",
        json={
            **ALERT,
            "audience": {"countries": ["KEN"]},
            "variants": [{"language": "en", "subject": subject, "body": "Dear {{ contact.name }}"}],
        },
    )
    if created.status_code == 422:  # refused at input: as good, if it names the field
        assert names_field(created, "subject"), created.text
        created = client.post(
            "/api/campaigns",
            json={
                **ALERT,
                "audience": {"countries": ["KEN"]},
                "variants": [
                    {
                        "language": "en",
                        "subject": "Act now {{ contact.name }} {{ organization.name }}",
                        "body": "Dear {{ contact.name }}",
                    }
                ],
            },
        )
    assert created.status_code == 201, created.text
    campaign_id = created.json()["id"]
    # A test send goes through the other mail path (the outbox).
    for contact in contacts:  # rendered as each of them would see it
        test_send = client.post(
            f"/api/campaigns/{campaign_id}/test",
            json={"to": ["qa@example.org"], "contact_id": contact.id},
        )
        assert test_send.status_code == 200, test_send.text
    colleague = client_as(Role.secretariat)
    assert colleague.post(f"/api/campaigns/{campaign_id}/approve").status_code == 200
    assert client.post(f"/api/campaigns/{campaign_id}/launch").status_code == 200
    relay = RecordingRelay()
    report = send_campaign_batch(campaign_id, worker="corpus", messenger=relay)
    assert report.sent == len(contacts), report
    assert len(relay.messages) == len(contacts)
    for message in relay.messages:
        assert_no_extra_header(message.raw)
        assert "\n" not in message.subject
        assert "\r" not in message.subject
    outbox = session.scalars(select(OutboxMessage)).all()
    assert outbox
    for queued in outbox:
        assert_no_extra_header(build_message(queued, get_settings().mail_from).as_bytes())

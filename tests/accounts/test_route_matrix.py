"""The route-walking scope test (issue 3, point 6).

It walks every route of the app, so that a route added later is covered the day it is
added, or the test fails naming it:

- every route declares its gate (`Allow(...)` or `Public`);
- for every gated route and each role, a role the gate refuses gets 403 before any
  validation (an empty body is enough), and a role it admits gets through (a valid
  body from `REQUEST_BODIES`, which must cover every route that takes one);
- without signing in, every gated API route answers 401 and every gated page sends the
  visitor to sign in;
- for every route with an organisation, contact or application in its path, an object
  outside the caller's scope is a 404: a regional lead of Africa asking for one in
  Europe, a member asking for another organisation's;
- lists, counts, searches and exports hold only what is in scope.
"""

import csv
import io
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.testclient import TestClient
from sqlmodel import Session

from app.accounts import service as accounts_service
from app.accounts.auth import Allow, public
from app.accounts.models import User
from app.accounts.principal import Role
from app.campaigns import lifecycle
from app.campaigns import service as campaigns
from app.campaigns.models import Campaign
from app.campaigns.schemas import CampaignCreate
from app.core import throttle
from app.delivery.models import OutboxMessage
from app.main import create_app
from app.members import custom_fields
from app.members import service as members
from app.members.models import Contact, Organization
from app.members.schemas import CustomFieldCreate
from tests.factories import (
    STAFF,
    TEST_PASSWORD,
    bearer_headers,
    make_contact,
    make_organization,
    make_user,
)

# Served by FastAPI itself (the API documentation) or static files: no data behind them.
UNGATED_PATHS = frozenset({"/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"})
UNGATED_MOUNTS = frozenset({"/static", "/docs/assets"})


# --- walking the routes ---------------------------------------------------------------------


@dataclass(frozen=True)
class Endpoint:
    """One method of one route, as the app serves it (prefixes and router-level
    dependencies applied)."""

    method: str
    path: str
    dependant: Dependant
    has_body: bool

    @property
    def key(self) -> tuple[str, str]:
        return (self.method, self.path)

    @property
    def is_api(self) -> bool:
        return self.path.startswith("/api/")

    @property
    def path_params(self) -> list[str]:
        return re.findall(r"{([^}:]+)(?::[^}]*)?}", self.path)

    def __str__(self) -> str:
        return f"{self.method} {self.path}"


def api_routes(app: FastAPI) -> Iterator[tuple[APIRoute, Any]]:
    """Every APIRoute of the app with its effective route (path, methods, dependant).

    FastAPI 0.165 keeps an included router as one `_IncludedRouter` entry in
    `app.routes`; `iter_route_contexts` (what FastAPI's own OpenAPI generation uses)
    flattens them, nested inclusions too, and gives each route as served: with the
    prefix in its path and the router's dependencies in its dependant.
    """
    for context in iter_route_contexts(app.routes):
        if isinstance(context.original_route, APIRoute):
            yield context.original_route, context


def other_routes(app: FastAPI) -> list[str]:
    """Paths of routes that are not APIRoutes (documentation, mounts)."""
    return [
        str(context.path)
        for context in iter_route_contexts(app.routes)
        if not isinstance(context.original_route, APIRoute)
    ]


def endpoints(app: FastAPI) -> list[Endpoint]:
    found = []
    for _route, context in api_routes(app):
        for method in sorted(context.methods or ()):
            if method == "HEAD":
                continue
            found.append(
                Endpoint(
                    method=method,
                    path=context.path,
                    dependant=context.dependant,
                    has_body=context.body_field is not None,
                )
            )
    return found


def gates(dependant: Dependant) -> list[Any]:
    """The gates among a dependant's dependencies, however deep."""
    found: list[Any] = []
    for dependency in dependant.dependencies:
        if isinstance(dependency.call, Allow) or dependency.call is public:
            found.append(dependency.call)
        found.extend(gates(dependency))
    return found


def is_public(endpoint: Endpoint) -> bool:
    return any(gate is public for gate in gates(endpoint.dependant))


@dataclass(frozen=True)
class Caller:
    name: str
    role: Role
    is_admin: bool = False


CALLERS = (
    Caller("admin", Role.secretariat, is_admin=True),
    Caller("secretariat", Role.secretariat),
    Caller("lead", Role.regional_lead),
    Caller("member", Role.member),
)
CALLERS_BY_NAME = {caller.name: caller for caller in CALLERS}


def admits(endpoint: Endpoint, caller: Caller) -> bool:
    allows = [gate for gate in gates(endpoint.dependant) if isinstance(gate, Allow)]
    return bool(allows) and all(
        caller.role in gate.roles and (caller.is_admin or not gate.admin) for gate in allows
    )


APP = create_app()
ALL_ENDPOINTS = endpoints(APP)
GATED = [endpoint for endpoint in ALL_ENDPOINTS if not is_public(endpoint)]


# --- the data every request is made against --------------------------------------------------


@dataclass
class World:
    """An organisation in Kenya (Africa) that the member acts for, a second one in Kenya,
    and one in France (Europe), each with contacts; a user, a custom field, a pending
    application from each region, and an action alert scheduled for each of Africa and
    Europe (a scheduled alert is one regional leads may read)."""

    home: Organization
    member_contact: Contact
    colleague: Contact
    neighbour: Organization
    neighbour_contact: Contact
    europe: Organization
    europe_contact: Contact
    target_user: User
    custom_field_key: str
    application_id: int
    europe_application_id: int
    campaign: Campaign
    europe_campaign: Campaign
    outbox_message_id: int

    def path_values(self) -> dict[str, Any]:
        """Every path parameter's value: objects in the scope of every role."""
        return {
            "organization_id": self.home.id,
            "contact_id": self.colleague.id,
            "user_id": self.target_user.id,
            "iso3": "KEN",
            "key": self.custom_field_key,
            "application_id": self.application_id,
            "campaign_id": self.campaign.id,
            "message_id": self.outbox_message_id,
        }

    def out_of_scope(self, caller: Caller) -> dict[str, Any]:
        """Path values naming objects the caller must not see."""
        if caller.role is Role.regional_lead:  # of Africa; these are in Europe
            return {
                "organization_id": self.europe.id,
                "contact_id": self.europe_contact.id,
                "application_id": self.europe_application_id,
                "campaign_id": self.europe_campaign.id,
            }
        return {  # a member: another organisation's, and an alert hers did not receive
            "organization_id": self.neighbour.id,
            "contact_id": self.neighbour_contact.id,
            "campaign_id": self.europe_campaign.id,
        }


SCOPED_PARAMS = frozenset({"organization_id", "contact_id", "application_id", "campaign_id"})
# Path parameters that name no scoped object (the same for every role).
UNSCOPED_PARAMS = frozenset({"user_id", "iso3", "key", "message_id"})


def submit_application(client: TestClient, country: str, email: str) -> int:
    response = client.post(
        "/api/applications",
        json={
            "organization_name": f"Applicant in {country}",
            "country": country,
            "contact_name": "Applying Person",
            "contact_email": email,
        },
    )
    assert response.status_code in (200, 201, 202), response.text
    return int(response.json()["id"])


@pytest.fixture(autouse=True)
def fresh_throttle() -> Iterator[None]:
    throttle.use_backend(throttle.MemoryBackend())
    yield
    throttle.use_backend(None)


@pytest.fixture(autouse=True)
def _quick_password_hashing(quick_password_hashing: None) -> None:
    """Hundreds of staff users are made here."""


MATRIX_ALERT: dict[str, Any] = {
    "title": "Route matrix alert",
    "action_type": "contact_officials",
    "default_language": "en",
    "variants": [{"language": "en", "subject": "Act now", "body": "Dear {{ contact.name }}"}],
}


def scheduled_campaign(session: Session, author: User, region: str) -> Campaign:
    """An alert to one region, approved and scheduled a week ahead."""
    campaign = campaigns.create_campaign(
        session,
        accounts_service.principal_for(author),
        CampaignCreate.model_validate(
            MATRIX_ALERT | {"title": f"Alert for {region}", "audience": {"regions": [region]}}
        ),
    )
    lifecycle.approve(session, STAFF, campaign)
    lifecycle.launch(
        session, STAFF, campaign, send_at=datetime.now(UTC) + timedelta(days=7), timezone="UTC"
    )
    return campaign


@pytest.fixture
def world(session: Session, anonymous_client: TestClient) -> World:
    home = make_organization(session, name="Home Org", country="KEN")
    neighbour = make_organization(session, name="Neighbour Org", country="KEN")
    europe = make_organization(session, name="Europe Org", country="FRA")
    member_contact = make_contact(session, home, email="member@home.example.org")
    neighbour_contact = make_contact(session, neighbour)
    custom_fields.create_custom_field(
        session,
        STAFF,
        CustomFieldCreate(key="board_size", label="Board size", field_type="number"),
    )
    # A member as the target of /users/{id}: no password to hash, so the matrix is quick.
    target_user = make_user(
        session,
        Role.member,
        organization_id=neighbour.id,
        contact_id=neighbour_contact.id,
        email=neighbour_contact.email,
    )
    author = make_user(session, Role.secretariat, email="alert.author@example.org")
    # A message in the outbox, for /outbox/{message_id} (the secretariat's only).
    message = OutboxMessage(
        to_address="member@home.example.org", subject="Welcome", text_body="-", purpose="welcome"
    )
    session.add(message)
    session.flush()
    return World(
        home=home,
        member_contact=member_contact,
        colleague=make_contact(session, home, email="colleague@home.example.org"),
        neighbour=neighbour,
        neighbour_contact=neighbour_contact,
        europe=europe,
        europe_contact=make_contact(session, europe),
        target_user=target_user,
        custom_field_key="board_size",
        application_id=submit_application(anonymous_client, "KEN", "applicant@ke.example.org"),
        europe_application_id=submit_application(
            anonymous_client, "FRA", "applicant@fr.example.org"
        ),
        campaign=scheduled_campaign(session, author, "africa"),
        europe_campaign=scheduled_campaign(session, author, "europe"),
        outbox_message_id=message.id or 0,
    )


@pytest.fixture
def sign_in_as(session: Session, world: World) -> Iterator[Callable[[Caller], TestClient]]:
    clients: list[TestClient] = []

    def sign_in(caller: Caller) -> TestClient:
        if caller.role is Role.member:
            user = make_user(
                session,
                Role.member,
                organization_id=world.home.id,
                contact_id=world.member_contact.id,
                email=world.member_contact.email,
            )
        else:
            user = make_user(session, caller.role, is_admin=caller.is_admin)
        test_client = TestClient(APP)
        test_client.headers.update(bearer_headers(session, user))
        session.flush()
        clients.append(test_client)
        return test_client

    yield sign_in
    for test_client in clients:
        test_client.close()


# The alert form as a browser sends it (see tests/web/test_campaign_pages.py).
ALERT_FORM = {
    "title": "Route matrix alert",
    "action_type": "contact_officials",
    "default_language": "en",
    "subject.en": "Act now",
    "body.en": "Dear {{ contact.name }}",
    "regions": "africa",
    "membership_status": "active",
}
IN_TWO_WEEKS = (datetime.now(UTC) + timedelta(days=14)).strftime("%Y-%m-%dT09:00")

# A valid request body for every route that takes one, so that a role the gate admits
# reaches the route's own logic. The test below fails if a route is missing here.
Body = Callable[[World], dict[str, Any]]
CSV_IMPORT = b"organization_name,country\r\nImported NGO,KEN\r\n"
INBOUND_MESSAGE = (
    b"From: person@example.org\r\nSubject: Re: alert\r\nMessage-ID: <matrix@example.org>\r\n"
    b"\r\nThank you\r\n"
)
REQUEST_BODIES: dict[tuple[str, str], Body] = {
    ("POST", "/api/auth/password"): lambda w: {
        "json": {"current_password": TEST_PASSWORD, "new_password": "a new passphrase, long"}
    },
    ("POST", "/api/users"): lambda w: {
        "json": {"email": "matrix@example.org", "role": "secretariat", "password": TEST_PASSWORD}
    },
    ("PATCH", "/api/users/{user_id}"): lambda w: {"json": {"full_name": "Renamed"}},
    ("PATCH", "/api/countries/{iso3}"): lambda w: {
        "json": {"source": "route matrix test", "implementing_legislation": "draft"}
    },
    ("POST", "/api/organizations"): lambda w: {"json": {"name": "Matrix NGO", "country": "KEN"}},
    ("POST", "/api/organizations/import"): lambda w: {
        "files": {"file": ("members.csv", CSV_IMPORT, "text/csv")}
    },
    ("PATCH", "/api/organizations/{organization_id}"): lambda w: {"json": {"acronym": "MTX"}},
    ("POST", "/api/organizations/{organization_id}/merge"): lambda w: {
        "json": {"into": w.neighbour.id}
    },
    ("POST", "/api/organizations/{organization_id}/contacts"): lambda w: {
        "json": {"name": "New Person", "email": "new.person@example.org"}
    },
    ("PATCH", "/api/contacts/{contact_id}"): lambda w: {"json": {"language": "fr"}},
    ("POST", "/api/custom-fields"): lambda w: {
        "json": {"key": "matrix_field", "label": "Matrix", "field_type": "text"}
    },
    ("PATCH", "/api/me/organization"): lambda w: {"json": {"acronym": "MINE"}},
    ("POST", "/api/applications/{application_id}/decline"): lambda w: {
        "json": {"reason": "Outside the coalition's mandate"}
    },
    ("POST", "/api/organizations/{organization_id}/lapse"): lambda w: {"json": {}},
    ("POST", "/api/organizations/{organization_id}/suspend"): lambda w: {
        "json": {"reason": "Route matrix test"}
    },
    ("POST", "/api/organizations/{organization_id}/reinstate"): lambda w: {"json": {}},
    ("POST", "/applications/{application_id}/decline"): lambda w: {
        "data": {"reason": "Outside the coalition's mandate"}
    },
    ("POST", "/users"): lambda w: {
        "data": {
            "email": "matrix.page@example.org",
            "role": "secretariat",
            "password": TEST_PASSWORD,
        }
    },
    ("POST", "/users/{user_id}/active"): lambda w: {"data": {"active": "false"}},
    # Action alerts: the API, then the pages (forms).
    ("POST", "/api/audiences/preview"): lambda w: {"json": {"regions": ["africa"]}},
    ("POST", "/api/campaigns/preview"): lambda w: {
        "json": {"language": "en", "subject": "{{ country.name }}", "body": "Dear member"}
    },
    ("POST", "/api/campaigns"): lambda w: {"json": MATRIX_ALERT},
    ("PATCH", "/api/campaigns/{campaign_id}"): lambda w: {"json": {"title": "Renamed alert"}},
    ("POST", "/api/campaigns/{campaign_id}/launch"): lambda w: {"json": {}},
    ("POST", "/api/campaigns/{campaign_id}/request-approval"): lambda w: {
        "json": {"note": "Please read it before Monday"}
    },
    ("POST", "/api/campaigns/{campaign_id}/test"): lambda w: {
        "json": {"to": ["matrix@example.org"]}
    },
    ("POST", "/campaigns/new"): lambda w: {"data": ALERT_FORM},
    ("POST", "/campaigns/{campaign_id}/edit"): lambda w: {"data": ALERT_FORM},
    ("POST", "/campaigns/{campaign_id}/schedule"): lambda w: {
        "data": {"send_at": IN_TWO_WEEKS, "timezone": "Europe/Zurich"}
    },
    ("POST", "/campaigns/{campaign_id}/test"): lambda w: {"data": {"to": "matrix@example.org"}},
    ("POST", "/campaigns/{campaign_id}/cancel"): lambda w: {"data": {"confirm": "on"}},
    ("POST", "/campaigns/{campaign_id}/delete"): lambda w: {"data": {"confirm": "on"}},
    # Inbound mail: the body is the raw message (a reply; at /bounces it is unrecognised).
    ("POST", "/api/inbound/bounces"): lambda w: {"content": INBOUND_MESSAGE},
    ("POST", "/api/inbound/replies"): lambda w: {"content": INBOUND_MESSAGE},
    # Reports: the alert they are about is a query parameter.
    ("GET", "/api/reports/participation"): lambda w: {"params": {"campaign_id": w.campaign.id}},
    ("GET", "/api/reports/participation.csv"): lambda w: {"params": {"campaign_id": w.campaign.id}},
    ("GET", "/api/reports/not-acted"): lambda w: {"params": {"campaign_id": w.campaign.id}},
    ("GET", "/api/reports/not-acted.csv"): lambda w: {"params": {"campaign_id": w.campaign.id}},
    # The member's portal (forms).
    ("POST", "/portal/profile"): lambda w: {
        "data": {"name": "Home Org", "type": "ngo", "languages": ["en"], "acronym": "HO"}
    },
    ("POST", "/portal/contacts/new"): lambda w: {
        "data": {
            "name": "New Person",
            "email": "new.person@example.org",
            "role": "other",
            "language": "en",
        }
    },
    ("POST", "/portal/contacts/{contact_id}/edit"): lambda w: {
        "data": {"name": "Renamed", "email": w.colleague.email, "role": "legal", "language": "fr"}
    },
    ("POST", "/portal/preferences"): lambda w: {
        "data": {"alerts": "receive", "language": "fr", "topics": ["apic"]}
    },
    ("POST", "/portal/alerts/{campaign_id}/report"): lambda w: {
        "data": {"action_type": "met_officials", "action_date": "2025-01-15"}
    },
}

# Admitted callers whose request is refused by the route's own rules, not by its gate.
EXPECTED_REFUSALS: dict[tuple[str, str, str], int] = {
    # Members sign in by emailed link and have no password to change.
    ("POST", "/api/auth/password", "member"): 422,
    # The home organisation is active: there is nothing to reinstate.
    **{
        ("POST", "/api/organizations/{organization_id}/reinstate", name): 409
        for name in ("admin", "secretariat", "lead")
    },
    # The alert is scheduled: it can be edited, launched, rescheduled or cancelled, but
    # not approved, paused, resumed or deleted (409 with the reason, API and pages alike).
    **{
        (method, path, name): 409
        for method, path in [
            ("DELETE", "/api/campaigns/{campaign_id}"),
            ("POST", "/api/campaigns/{campaign_id}/approve"),
            ("POST", "/api/campaigns/{campaign_id}/request-approval"),
            ("POST", "/api/campaigns/{campaign_id}/pause"),
            ("POST", "/api/campaigns/{campaign_id}/resume"),
            ("POST", "/campaigns/{campaign_id}/approve"),
            ("POST", "/campaigns/{campaign_id}/pause"),
            ("POST", "/campaigns/{campaign_id}/resume"),
            ("POST", "/campaigns/{campaign_id}/delete"),
        ]
        for name in ("admin", "secretariat")
    },
    # The alert is scheduled: it reached no member yet, so there is nothing to report on.
    ("GET", "/portal/alerts/{campaign_id}/report", "member"): 404,
    ("POST", "/portal/alerts/{campaign_id}/report", "member"): 404,
}


def fill_path(endpoint: Endpoint, values: dict[str, Any]) -> str:
    missing = [name for name in endpoint.path_params if name not in values]
    if missing:
        pytest.fail(f"{endpoint}: no value for path parameter(s) {missing}; add them to World")
    return re.sub(
        r"{([^}:]+)(?::[^}]*)?}", lambda match: str(values[match.group(1)]), endpoint.path
    )


def send(
    client: TestClient, endpoint: Endpoint, path: str, body: dict[str, Any] | None = None
) -> Any:
    return client.request(endpoint.method, path, follow_redirects=False, **(body or {}))


# --- the tests --------------------------------------------------------------------------------


def test_every_route_declares_a_gate() -> None:
    ungated = [str(e) for e in ALL_ENDPOINTS if not gates(e.dependant)]
    assert ungated == [], f"routes without a gate (Allow(...) or Public): {ungated}"
    both = [
        str(e)
        for e in ALL_ENDPOINTS
        if is_public(e) and any(isinstance(g, Allow) for g in gates(e.dependant))
    ]
    assert both == [], f"routes both Public and restricted: {both}"
    # Routes that are not FastAPI routes cannot declare a gate: only the documentation
    # and static files may be served that way.
    unexpected = [path for path in other_routes(APP) if path not in UNGATED_PATHS | UNGATED_MOUNTS]
    assert unexpected == [], f"routes outside FastAPI's routing, without a gate: {unexpected}"


def test_the_walk_sees_routes_of_every_router() -> None:
    """Guard against a walk that silently misses included routers."""
    keys = {endpoint.key for endpoint in ALL_ENDPOINTS}
    for expected in [
        ("POST", "/api/auth/token"),
        ("GET", "/api/users"),
        ("PATCH", "/api/countries/{iso3}"),
        ("GET", "/api/organizations/{organization_id}"),
        ("PATCH", "/api/me/organization"),
        ("GET", "/members"),
        ("POST", "/sign-in"),
        ("GET", "/healthz"),
    ]:
        assert expected in keys, expected
    assert len(GATED) >= 40


def test_the_request_tables_cover_every_route() -> None:
    gated_keys = {endpoint.key for endpoint in GATED}
    needs_body = {endpoint.key for endpoint in GATED if endpoint.has_body}
    missing = sorted(needs_body - REQUEST_BODIES.keys())
    assert missing == [], f"add a valid request body to REQUEST_BODIES for {missing}"
    stale = sorted(set(REQUEST_BODIES) - gated_keys)
    assert stale == [], f"REQUEST_BODIES names routes that do not exist (or are public): {stale}"
    stale_refusals = sorted({(m, p) for m, p, _ in EXPECTED_REFUSALS} - gated_keys)
    assert stale_refusals == [], f"EXPECTED_REFUSALS names unknown routes: {stale_refusals}"
    params = {name for endpoint in GATED for name in endpoint.path_params}
    unknown = sorted(params - SCOPED_PARAMS - UNSCOPED_PARAMS)
    assert unknown == [], f"path parameters the matrix cannot fill: {unknown}"


@pytest.mark.parametrize("caller_name", [caller.name for caller in CALLERS])
@pytest.mark.parametrize("endpoint", GATED, ids=str)
def test_each_role_gets_403_or_gets_through(
    endpoint: Endpoint,
    caller_name: str,
    world: World,
    sign_in_as: Callable[[Caller], TestClient],
) -> None:
    caller = CALLERS_BY_NAME[caller_name]
    client = sign_in_as(caller)
    path = fill_path(endpoint, world.path_values())
    if not admits(endpoint, caller):
        # Refused before anything else is looked at: no body at all is enough.
        response = send(client, endpoint, path)
        assert response.status_code == 403, f"{caller.name} on {endpoint}: {response.text}"
        return
    body = REQUEST_BODIES.get(endpoint.key, lambda w: {})(world)
    response = send(client, endpoint, path, body)
    expected = EXPECTED_REFUSALS.get((*endpoint.key, caller.name))
    if expected is not None:
        assert response.status_code == expected, f"{caller.name} on {endpoint}: {response.text}"
        return
    assert response.status_code < 400, f"{caller.name} on {endpoint}: {response.text[:500]}"


@pytest.mark.parametrize("endpoint", GATED, ids=str)
def test_signed_out_callers_are_refused(endpoint: Endpoint, anonymous_client: TestClient) -> None:
    # Authentication comes before everything, so any well-formed id will do.
    path = fill_path(
        endpoint,
        {
            name: "KEN" if name == "iso3" else "some_key" if name == "key" else 1
            for name in endpoint.path_params
        },
    )
    response = send(anonymous_client, endpoint, path)
    if endpoint.is_api:
        assert response.status_code == 401, response.text
        assert response.headers["WWW-Authenticate"] == "Bearer"
    else:
        # A person on a page is sent to sign in, and brought back afterwards.
        assert response.status_code == 303, response.text
        assert response.headers["location"].startswith("/sign-in?next=")


def sends_elsewhere(endpoint: Endpoint, caller: Caller) -> bool:
    """The member's portal sends staff to the registry before it reads anything."""
    return endpoint.path.startswith("/portal/") and caller.role is not Role.member


SCOPED_CASES = [
    pytest.param(endpoint, caller.name, id=f"{endpoint}-{caller.name}")
    for endpoint in GATED
    if SCOPED_PARAMS & set(endpoint.path_params)
    for caller in CALLERS
    if caller.role in (Role.regional_lead, Role.member)
    and admits(endpoint, caller)
    and not sends_elsewhere(endpoint, caller)
]


def _snapshots(session: Session, world: World) -> dict[str, Any]:
    session.expire_all()
    state: dict[str, Any] = {}
    for name in ("europe", "neighbour"):
        organization = session.get(Organization, getattr(world, name).id)
        state[name] = members.snapshot(organization) if organization else None
    for name in ("europe_contact", "neighbour_contact"):
        contact = session.get(Contact, getattr(world, name).id)
        state[name] = members.contact_snapshot(contact) if contact else None
    return state


@pytest.mark.parametrize(("endpoint", "caller_name"), SCOPED_CASES)
def test_objects_out_of_scope_are_404(
    endpoint: Endpoint,
    caller_name: str,
    world: World,
    session: Session,
    sign_in_as: Callable[[Caller], TestClient],
) -> None:
    caller = CALLERS_BY_NAME[caller_name]
    client = sign_in_as(caller)
    outside = world.out_of_scope(caller)
    if not (set(outside) & set(endpoint.path_params)):
        pytest.fail(
            f"{endpoint}: add an object outside {caller.name}'s scope to World.out_of_scope"
        )
    before = _snapshots(session, world)
    path = fill_path(endpoint, {**world.path_values(), **outside})
    body = REQUEST_BODIES.get(endpoint.key, lambda w: {})(world)
    response = send(client, endpoint, path, body)
    assert response.status_code == 404, f"{caller.name} on {path}: {response.text[:500]}"
    # Nothing in the text tells what the object is.
    for secret in (world.europe.name, world.neighbour.name, world.europe_contact.email):
        assert secret not in response.text
    assert _snapshots(session, world) == before


def test_the_scoped_matrix_is_not_empty() -> None:
    names = {(case.values[0].key, case.values[1]) for case in SCOPED_CASES}
    assert (("GET", "/api/organizations/{organization_id}"), "lead") in names
    assert (("DELETE", "/api/contacts/{contact_id}"), "member") in names
    assert (("GET", "/members/{organization_id}"), "lead") in names


# --- lists, counts, searches and exports --------------------------------------------------


@pytest.fixture
def registry(session: Session) -> dict[str, Organization]:
    """Two organisations in Africa (Kenya, Senegal) and one each in Europe and the
    Americas, all with "Rights" in their name and a contact."""
    organizations = {
        "kenya": make_organization(session, name="Kenya Rights Forum", country="KEN"),
        "senegal": make_organization(session, name="Senegal Rights League", country="SEN"),
        "france": make_organization(session, name="France Rights Network", country="FRA"),
        "brazil": make_organization(session, name="Brazil Rights Watch", country="BRA"),
    }
    for key, organization in organizations.items():
        make_contact(session, organization, email=f"focal@{key}.example.org")
    session.flush()
    return organizations


def _csv_names(text: str) -> set[str]:
    rows = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    return {row["organization_name"] for row in rows}


def test_a_regional_lead_lists_counts_searches_and_exports_only_her_region(
    registry: dict[str, Organization], client: TestClient, client_as: Any
) -> None:
    lead = client_as(Role.regional_lead)  # of Africa
    africa = {"Kenya Rights Forum", "Senegal Rights League"}

    everything = client.get("/api/organizations", params={"q": "Rights"}).json()
    assert everything["total"] == 4

    listed = lead.get("/api/organizations").json()
    assert {item["name"] for item in listed["items"]} == africa
    assert listed["total"] == 2
    searched = lead.get("/api/organizations", params={"q": "Rights"}).json()
    assert {item["name"] for item in searched["items"]} == africa
    assert searched["total"] == 2
    # Asking for another region by filter finds nothing, rather than widening the scope.
    europe = lead.get("/api/organizations", params={"region": "europe"}).json()
    assert europe == {"items": [], "next_cursor": None, "total": 0, "total_exact": True}
    by_country = lead.get("/api/organizations", params={"country": "FRA"}).json()
    assert by_country["total"] == 0
    by_contact = lead.get("/api/organizations", params={"q": "focal@france"}).json()
    assert by_contact["total"] == 0

    export = lead.get("/api/organizations/export.csv")
    assert export.status_code == 200
    assert _csv_names(export.text) == africa
    assert "france" not in export.text.lower()
    europe_export = lead.get("/api/organizations/export.csv", params={"region": "europe"})
    assert _csv_names(europe_export.text) == set()
    assert _csv_names(client.get("/api/organizations/export.csv").text) >= africa | {
        "France Rights Network",
        "Brazil Rights Watch",
    }

    regions = {region["slug"]: region for region in lead.get("/api/regions").json()}
    assert regions["africa"]["member_count"] == 2
    assert regions["europe"]["member_count"] == 0
    assert regions["americas"]["member_count"] == 0
    all_regions = {region["slug"]: region for region in client.get("/api/regions").json()}
    assert all_regions["europe"]["member_count"] == 1
    # Country data is not member data: the lead reads the whole treaty table.
    assert len(lead.get("/api/countries").json()) == len(client.get("/api/countries").json())

    page = lead.get("/members", params={"q": "Rights"})
    assert page.status_code == 200
    assert "Kenya Rights Forum" in page.text
    assert "France Rights Network" not in page.text
    assert "Brazil Rights Watch" not in page.text


def test_a_member_lists_only_her_organisation(
    session: Session, registry: dict[str, Organization], client_as: Any
) -> None:
    kenya = registry["kenya"]
    contact = members.list_contacts(session, STAFF, kenya.id or 0)[0]
    member = client_as(
        Role.member, organization_id=kenya.id, contact_id=contact.id, email=contact.email
    )
    listed = member.get("/api/organizations", params={"q": "Rights"}).json()
    assert [item["name"] for item in listed["items"]] == ["Kenya Rights Forum"]
    assert listed["total"] == 1
    regions = {
        region["slug"]: region["member_count"] for region in member.get("/api/regions").json()
    }
    assert regions == {slug: (1 if slug == "africa" else 0) for slug in regions}
    contacts = member.get(f"/api/organizations/{kenya.id}/contacts").json()
    assert [c["email"] for c in contacts] == [contact.email]
    assert member.get("/api/organizations/export.csv").status_code == 403

"""The preview beside the alert form's editor, as the server first renders it (the
browser check, with the script updating it, is test_composer_browser.py)."""

import base64
import hashlib
import html
import re
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from app.accounts.models import User
from app.accounts.principal import Role
from app.members.models import Organization
from tests.factories import make_contact, make_organization, make_user
from tests.web.test_campaign_pages import (
    ALERT_FORM,
    API_ALERT,
    create_via_api,
    form_values,
    signed_in,
)
from tests.web.test_pages import assert_every_control_labelled, assert_html_page

# Every Markdown element the email layout styles, in each of its contexts.
EVERY_STYLED_ELEMENT = """# Title **bold** [link](https://example.org/a)

## Sub-title

### Small title

A paragraph with `code`, *emphasis*, ~~struck~~ and [a link](https://example.org/b).

> A quote with [a link](https://example.org/c) and `code`.
>
> - a list in it

1. one
2. two [link](https://example.org/d)

| Left | Centre | Right | None |
|:-----|:------:|------:|------|
| a [l](https://example.org/e) | `b` | c | d |

```
preformatted
```

---

![an image](https://example.org/i.png)
"""


@pytest.fixture
def registry(session: Session) -> dict[str, Organization]:
    organizations = {
        "kenya": make_organization(session, name="Amani Justice Network", country="KEN"),
        "france": make_organization(session, name="Paris Rights Network", country="FRA"),
    }
    make_contact(session, organizations["kenya"], name="Wanjiru Otieno", email="w@example.org")
    make_contact(
        session,
        organizations["france"],
        name="Claire Martin",
        email="claire@example.org",
        language="fr",
    )
    session.flush()
    return organizations


@pytest.fixture
def author(session: Session) -> User:
    user = make_user(session, Role.secretariat, email="author@example.org", full_name="Ana Author")
    session.flush()
    return user


def pane(page: str) -> str:
    found = re.search(r"<section [^>]*data-live-preview.*?</section>", page, re.S)
    assert found is not None, "no preview pane"
    return found.group(0)


def frame_document(markup: str) -> str:
    found = re.search(r'<iframe ([^>]*)srcdoc="([^"]*)"', markup)
    assert found is not None
    assert re.search(r"(^| )sandbox( |$)", found.group(1))
    assert "allow-" not in found.group(1)  # no script, no same origin
    return html.unescape(found.group(2))


def style_hashes(document: str) -> set[str]:
    styles = {html.unescape(value) for value in re.findall(r'style="([^"]*)"', document)}
    return {
        f"'sha256-{base64.b64encode(hashlib.sha256(style.encode()).digest()).decode()}'"
        for style in styles
    }


def test_the_new_alert_form_has_a_preview_beside_the_editor(
    client: TestClient, registry: dict[str, Organization]
) -> None:
    response = client.get("/campaigns/new")
    page = assert_html_page(response)
    assert_every_control_labelled(page)
    markup = pane(page)
    # Beside the language tabs, in the same grid.
    assert page.index('class="composer"') < page.index("data-tabs") < page.index(markup)
    assert 'data-endpoint="/api/campaigns/preview"' in markup
    assert 'data-language="en"' in markup  # the default language's tab opens first
    # The chooser only works with the script: hidden until it runs, and never sent.
    assert re.search(r"<div [^>]*data-preview-chooser hidden>", markup)
    assert '<label for="preview-recipient">Show it as</label>' in markup
    assert 'name="' not in markup
    assert "Wanjiru Otieno (Amani Justice Network, Kenya)" in markup
    assert (
        "The English version, as Wanjiru Otieno (Amani Justice Network, Kenya) would see it."
        in markup
    )
    document = frame_document(markup)
    assert document.startswith("<!DOCTYPE html>")
    assert 'title="The email as it will look"' in markup
    assert "Plain-text version" in markup


def test_the_form_page_policy_lets_through_any_preview_the_editor_shows(
    client: TestClient, registry: dict[str, Organization]
) -> None:
    """The frame's document inherits the page's policy, set when the page loaded; the
    script later shows other text, whose inline CSS must be let through too."""
    policy = client.get("/campaigns/new").headers["content-security-policy"]
    assert "script-src 'self';" in policy
    assert "unsafe-inline" not in policy
    for language in ("en", "ar"):
        email = client.post(
            "/api/campaigns/preview",
            json={"language": language, "subject": "S", "body": EVERY_STYLED_ELEMENT},
        ).json()["html"]
        hashes = style_hashes(email)
        assert len(hashes) > 10
        missing = {digest for digest in hashes if digest not in policy}
        assert not missing, f"styles of a {language} preview the page's policy refuses"


def test_the_edit_form_previews_the_saved_default_language(
    client: TestClient, registry: dict[str, Organization]
) -> None:
    campaign_id = create_via_api(client, default_language="fr")
    page = assert_html_page(client.get(f"/campaigns/{campaign_id}/edit"))
    markup = pane(page)
    assert 'data-language="fr"' in markup
    # Claire is the only person in Europe or Africa who gets the French version.
    assert "The French version, as Claire Martin (Paris Rights Network, France) would" in markup
    assert 'data-testid="live-preview-subject" lang="fr" dir="ltr">France : l&#39;APIC<' in markup
    assert "Agissez." in frame_document(markup)


def test_a_problem_is_shown_in_the_pane_when_the_form_comes_back(
    anonymous_client: TestClient, author: User, registry: dict[str, Organization]
) -> None:
    csrf = signed_in(anonymous_client, author, "/campaigns/new")
    response = anonymous_client.post(
        "/campaigns/new",
        data={**ALERT_FORM, "csrf_token": csrf, "body.en": "Dear all,\r\n\r\n{{ contact.nmae }}"},
    )
    assert response.status_code == 422
    markup = pane(response.text)
    problem = re.search(r'<p class="field__error" data-preview-problem>([^<]*)</p>', markup)
    assert problem is not None
    assert html.unescape(problem.group(1)).startswith(
        "Line 3: `contact.nmae` is not a token you can use (did you mean `contact.name`?)"
    )
    assert re.search(r"<div [^>]*data-preview-message hidden>", markup)


def test_the_form_saves_as_rendered_without_the_script(
    anonymous_client: TestClient, author: User, registry: dict[str, Organization]
) -> None:
    """What a browser without JavaScript sends: the pane adds nothing to the form."""
    csrf = signed_in(anonymous_client, author, "/campaigns/new")
    campaign_id = create_via_api_as(anonymous_client, csrf)
    page = anonymous_client.get(f"/campaigns/{campaign_id}/edit").text
    values = form_values(page, f"/campaigns/{campaign_id}/edit")
    assert not any("preview" in name or "recipient" in name for name in values)
    response = anonymous_client.post(
        f"/campaigns/{campaign_id}/edit", data=values, follow_redirects=False
    )
    assert response.status_code == 303, response.text
    assert response.headers["location"] == f"/campaigns/{campaign_id}?done=updated"


def create_via_api_as(client: TestClient, csrf: str) -> int:
    response = client.post("/api/campaigns", json=API_ALERT, headers={"X-CSRF-Token": csrf})
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


def test_regional_leads_get_no_form(client_as: Any) -> None:
    lead = client_as(Role.regional_lead)
    assert lead.get("/campaigns/new").status_code == 403

"""What the sent alert holds: click links only when the campaign counts clicks, the
open image only when it counts opens, and the numbers the redirect will read."""

import re

import pytest

from app.campaigns.rendering import TemplateProblem, check_variant, compile_variant, tracked_links
from app.campaigns.tokens import SAMPLE_COUNTRY, recipient_context, sample_context
from app.delivery.links import PREVIEW_TOKEN, delivery_links
from app.tracking.signing import Purpose, sign, unsign
from tests.tracking.conftest import ENGLISH_BODY, ENGLISH_LINKS

TOKEN = "0123456789abcdef0123456789abcdef"


def rendered_html(*, track_clicks: bool, track_opens: bool, language: str = "en") -> str:
    variant = compile_variant(
        language=language,
        subject="Ratify APIC",
        body=ENGLISH_BODY,
        track_clicks=track_clicks,
        track_opens=track_opens,
    )
    context = recipient_context(
        language=language,
        contact_name="Amina Diallo",
        contact_role="focal_point",
        organization_name="Kenya Rights Network",
        organization_acronym=None,
        country=SAMPLE_COUNTRY,
        links=delivery_links(TOKEN),
    )
    return variant.render(context).html


def hrefs(html: str) -> list[str]:
    return [href.replace("&amp;", "&") for href in re.findall(r'<a href="([^"]*)"', html)]


def test_with_tracking_off_the_links_are_left_as_written() -> None:
    html = rendered_html(track_clicks=False, track_opens=False)

    assert hrefs(html)[:4] == [
        *ENGLISH_LINKS,
        "mailto:secretariat@example.org",
        "https://www.example.org/countries/KEN",
    ]
    assert "/r/" not in html
    assert "/o/" not in html
    assert "<img" not in html


def test_with_click_tracking_the_written_links_go_through_the_redirect() -> None:
    html = rendered_html(track_clicks=True, track_opens=False)
    click_base = delivery_links(TOKEN).tracking.click  # type: ignore[union-attr]
    links = hrefs(html)

    assert links[:2] == [f"{click_base}/1", f"{click_base}/2"]
    # Not visits (mailto), or different for each recipient (a token in the address).
    assert links[2:4] == ["mailto:secretariat@example.org", "https://www.example.org/countries/KEN"]
    # The layout's own links (report, preferences, unsubscribe) are signed, not counted.
    report, preferences, unsubscribe = links[4:]
    assert "/r/" not in report + preferences + unsubscribe
    assert unsign(report.rsplit("/", 1)[1], Purpose.act) == TOKEN
    assert unsign(unsubscribe.rsplit("/", 1)[1], Purpose.unsubscribe) == TOKEN
    assert unsign(click_base.rsplit("/", 1)[1], Purpose.click) == TOKEN
    assert "https://www.example.org/statement" not in html
    assert "<img" not in html


def test_the_redirect_reads_the_same_numbers_as_the_message() -> None:
    assert tracked_links(ENGLISH_BODY) == ENGLISH_LINKS
    assert tracked_links(ENGLISH_BODY.replace("\n", "\r\n")) == ENGLISH_LINKS
    assert tracked_links("No links at all, {{ contact.name }}.") == ()
    assert tracked_links("<https://a.example.org/x> then [b](http://b.example.org)") == (
        "https://a.example.org/x",
        "http://b.example.org",
    )


def test_the_open_image_is_there_only_when_opens_are_counted() -> None:
    counted = rendered_html(track_clicks=False, track_opens=True, language="ar")
    not_counted = rendered_html(track_clicks=True, track_opens=False, language="ar")

    assert f'/o/{sign(TOKEN, Purpose.open)}.gif" width="1" height="1" alt=""' in counted
    assert "/o/" not in not_counted
    assert "<img" not in not_counted


def test_previews_show_the_real_destinations() -> None:
    preview = compile_variant(language="en", subject="s", body=ENGLISH_BODY).render(
        sample_context("en")
    )
    links = delivery_links(PREVIEW_TOKEN)

    assert hrefs(preview.html)[:2] == list(ENGLISH_LINKS)
    assert "/r/" not in preview.html
    assert unsign(links.report.rsplit("/", 1)[1], Purpose.act) == PREVIEW_TOKEN


@pytest.mark.parametrize(
    "body",
    [
        '{% set tracking = {"click": "https://elsewhere.example"} %}[x](https://a.example)',
        "{% for tracking in [1] %}{{ tracking }}{% endfor %}",
        "{% macro tracking() %}x{% endmacro %}",
        "{{ tracking.click }}",
    ],
)
def test_staff_text_cannot_take_the_tracking_name(body: str) -> None:
    with pytest.raises(TemplateProblem, match="tracking"):
        check_variant("Subject", body)

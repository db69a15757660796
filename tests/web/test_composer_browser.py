"""The alert form's live preview in a real browser (Debian's chromium): it follows the
text as it is typed and the open language tab, renders as a chosen member of the
audience would see it, and shows a misspelt token beside the field, all without a
reload and under the site's Content-Security-Policy."""

import pytest
from playwright.sync_api import ConsoleMessage, Page, expect

from tests.web.conftest import SCREENSHOT_DIR, LiveServer, sign_in

pytestmark = pytest.mark.browser


def pane_screenshot(page: Page, name: str) -> None:
    """The screen with the preview in view (a full-page capture leaves the sandboxed
    frame blank)."""
    page.locator("[data-live-preview]").scroll_into_view_if_needed()
    SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SCREENSHOT_DIR / f"{name}.png")


def test_the_preview_follows_the_text_the_tab_and_the_recipient(
    page: Page, live_server: LiveServer
) -> None:
    """The shared registry: Wanjiru Otieno (Kenya) and Lucía Gómez (Colombia) are
    reached, both in English; Peter Kamau's address bounces."""
    problems: list[str] = []

    def console(message: ConsoleMessage) -> None:
        # A refused preview (the misspelt token's 422) is logged by the browser as a
        # failed load; what matters is that the script itself never fails.
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            problems.append(message.text)

    page.on("console", console)
    page.on("pageerror", lambda error: problems.append(str(error)))
    sign_in(page, live_server.url)
    page.goto(f"{live_server.url}/campaigns/new")
    page.evaluate("window.stillTheSamePage = true")

    pane = page.locator("[data-live-preview]")
    frame = page.frame_locator('[data-testid="live-preview-frame"]').locator("body")
    status = pane.locator("[data-preview-status]")
    chooser = page.get_by_label("Show it as")
    expect(chooser).to_be_visible()  # the script shows it
    variants = page.get_by_role("tablist", name="Language versions")

    # Typing updates the preview, as the first person reached who gets English.
    page.get_by_label("Subject in English").fill("{{ country.name }}: ratify APIC")
    body = page.get_by_label("Text in English (Markdown)")
    body.fill("Dear {{ contact.first_name }},\n\n## Write to your ministry")
    expect(page.get_by_test_id("live-preview-subject")).to_have_text("Kenya: ratify APIC")
    expect(frame).to_contain_text("Dear Wanjiru,")
    expect(frame.locator("h2")).to_have_text("Write to your ministry")
    expect(status).to_have_text(
        "The English version, as Wanjiru Otieno (Amani Justice Network, Kenya) would see it."
    )
    body.press("End")
    body.press_sequentially(" today")
    expect(frame.locator("h2")).to_have_text("Write to your ministry today")

    # As someone else the audience reaches.
    expect(chooser.locator("option")).to_have_count(3)
    chooser.select_option(label="Lucía Gómez (Justice Now Colombia, Colombia)")
    expect(frame).to_contain_text("Dear Lucía,")
    expect(page.get_by_test_id("live-preview-subject")).to_have_text("Colombia: ratify APIC")

    # The French tab shows the French version; nobody reached gets French yet, but the
    # chosen person still sees it as herself.
    variants.get_by_role("tab", name="French").click()
    expect(status).to_contain_text("The French version, as Lucía Gómez")
    page.get_by_label("Subject in French").fill("{{ country.name }} : ratifiez l'APIC")
    page.get_by_label("Text in French (Markdown)").fill("Bonjour {{ contact.first_name }},")
    expect(page.get_by_test_id("live-preview-subject")).to_have_text("Colombie : ratifiez l'APIC")
    expect(frame).to_contain_text("Bonjour Lucía,")
    expect(frame).to_contain_text("Signalez votre action")  # the layout, in French too
    chooser.select_option(value="")
    expect(status).to_have_text(
        "The French version, with made-up sample values: nobody the audience reaches gets it now."
    )
    expect(frame).to_contain_text("Bonjour Amina,")

    # A misspelt token: the problem, with its line, in the pane and beside the field.
    french = page.get_by_label("Text in French (Markdown)")
    french.fill("Bonjour,\n\n{{ contact.prenom }}")
    problem = pane.locator("[data-preview-problem]")
    words = "Line 3: `contact.prenom` is not a token you can use"
    expect(problem).to_contain_text(words)
    expect(page.locator('[id="body.fr-live-error"]')).to_contain_text(words)
    expect(french).to_have_attribute("aria-invalid", "true")
    expect(pane.locator("[data-preview-message]")).to_be_hidden()
    french.fill("Bonjour {{ contact.name }},")
    expect(frame).to_contain_text("Bonjour Amina Diallo,")
    expect(problem).to_be_hidden()
    expect(page.locator('[id="body.fr-live-error"]')).to_have_count(0)
    expect(french).not_to_have_attribute("aria-invalid", "true")

    # Back to English: its preview again.
    variants.get_by_role("tab", name="English").click()
    expect(frame.locator("h2")).to_have_text("Write to your ministry today")
    assert page.evaluate("window.stillTheSamePage") is True
    assert not problems, problems
    pane_screenshot(page, "staff-composer")


def test_on_a_phone_the_preview_comes_under_the_editor(page: Page, live_server: LiveServer) -> None:
    page.set_viewport_size({"width": 390, "height": 844})
    sign_in(page, live_server.url)
    page.goto(f"{live_server.url}/campaigns/new")
    page.get_by_label("Text in English (Markdown)").fill("## Write to your ministry")
    frame = page.frame_locator('[data-testid="live-preview-frame"]')
    expect(frame.locator("h2")).to_have_text("Write to your ministry")
    editor = page.locator(".composer__editor").bounding_box()
    pane = page.locator("[data-live-preview]").bounding_box()
    assert editor is not None
    assert pane is not None
    assert pane["y"] >= editor["y"] + editor["height"] - 1
    assert pane["x"] + pane["width"] <= 390
    pane_screenshot(page, "staff-composer-phone")

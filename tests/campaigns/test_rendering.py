"""Alert rendering: Markdown with tokens, the sandbox, the layout, the languages.

No database: countries are built as objects, contexts from plain values.
"""

import gettext
import re
from pathlib import Path
from typing import Any

import pytest
from babel.messages.extract import extract_from_file
from babel.messages.pofile import read_po
from jinja2 import Environment
from jinja2.exceptions import SecurityError

from app.campaigns import rendering
from app.campaigns.rendering import (
    HTML_SANDBOX,
    TEXT_SANDBOX,
    RenderedMessage,
    TemplateProblem,
    check_variant,
    compile_variant,
    html_template_source,
)
from app.campaigns.tokens import (
    TOKENS,
    RecipientLinks,
    recipient_context,
    sample_context,
)
from app.countries.models import (
    ApicStatus,
    Country,
    ImplementingLegislation,
    KampalaStatus,
    RomeStatuteStatus,
)
from app.i18n import LOCALES_DIR, SUPPORTED_LANGUAGES, text_direction, translations

PROJECT_ROOT = Path(__file__).resolve().parents[2]

LINKS = RecipientLinks(
    report="https://alerts.example.org/act/tok123?lang=en&step=1",
    unsubscribe="https://alerts.example.org/unsubscribe/tok123",
    preferences="https://alerts.example.org/preferences/tok123",
)

APIC_PARAGRAPH = """\
Dear {{ contact.first_name }},

{% if country.apic_status == "none" %}
{{ country.name }} has not ratified the APIC: please write to the ministry.
{% endif %}

Thank you."""


def make_country(**changes: Any) -> Country:
    values: dict[str, Any] = {
        "iso3": "KEN",
        "name": "Kenya",
        "region_slug": "africa",
        "rome_statute_status": RomeStatuteStatus.party,
        "apic_status": ApicStatus.none,
        "kampala_status": KampalaStatus.not_ratified,
        "implementing_legislation": ImplementingLegislation.partial,
    }
    values.update(changes)
    return Country(**values)


def make_context(
    language: str = "en",
    *,
    country: Country | None = None,
    contact_name: str = "Amina Diallo",
    contact_role: str = "focal_point",
    organization_name: str = "Justice and Accountability Network",
    organization_acronym: str | None = None,
) -> dict[str, dict[str, str]]:
    return recipient_context(
        language=language,
        contact_name=contact_name,
        contact_role=contact_role,
        organization_name=organization_name,
        organization_acronym=organization_acronym,
        country=country or make_country(),
        links=LINKS,
    )


def render(
    body: str,
    *,
    subject: str = "Action alert",
    language: str = "en",
    title: str = "APIC push",
    **context: Any,
) -> RenderedMessage:
    variant = compile_variant(language=language, subject=subject, body=body, title=title)
    return variant.render(make_context(language, **context))


def content_of(html: str) -> str:
    """The body block of the HTML part (between the masthead and the action button)."""
    match = re.search(
        r'<div class="content[^"]*"[^>]*>(.*?)</div>\s*<div class="action', html, re.S
    )
    assert match, html
    return match.group(1)


def problem_of(subject: str, body: str) -> TemplateProblem:
    with pytest.raises(TemplateProblem) as caught:
        check_variant(subject, body)
    return caught.value


# --- Markdown and Jinja together ----------------------------------------------------------


def test_if_block_on_its_own_lines_wraps_whole_paragraphs() -> None:
    shown = content_of(render(APIC_PARAGRAPH, country=make_country()).html)
    hidden = content_of(render(APIC_PARAGRAPH, country=make_country(apic_status="party")).html)

    assert re.search(r"<p[^>]*>Kenya has not ratified the APIC: please write", shown)
    assert "has not ratified" not in hidden
    for html in (shown, hidden):
        assert not re.search(r"<p[^>]*>\s*</p>", html)  # a false condition leaves no empty <p>
        assert html.count("<p") == html.count("</p>") > 0


def assert_well_formed(html: str) -> None:
    """Every element the body opens is closed, in order (void elements aside)."""
    open_tags: list[str] = []
    for closing, name in re.findall(r"<(/?)([a-z][a-z0-9]*)\b[^>]*>", html):
        if name in {"br", "hr", "img"}:
            continue
        if closing:
            assert open_tags, f"</{name}> closes nothing in {html}"
            assert open_tags.pop() == name, html
        else:
            open_tags.append(name)
    assert open_tags == [], html


@pytest.mark.parametrize(
    "body",
    [
        '{% if country.apic_status == "none" %}\n- Write to the ministry\n- Call a member of '
        "parliament\n{% endif %}\nThank you.",
        "1. Read the brief\n{% if country.apic_status == 'none' %}\n2. Write to the ministry\n"
        "{% endif %}\n3. Report back",
        "Steps:\n{% for step in ['Write', 'Call'] %}\n- {{ step }} ({{ country.name }})\n"
        "{% endfor %}",
        "*Emphasis\n{% if country.apic_status == 'none' %}\nacross a tag*\n{% endif %}",
    ],
)
def test_block_tags_around_lists_keep_the_html_well_formed(body: str) -> None:
    for status in ("none", "party"):
        html = content_of(render(body, country=make_country(apic_status=status)).html)
        assert_well_formed(html)
        assert not re.search(r"<(p|ul|ol|li)\b[^>]*>\s*</\1>", html)  # nothing left empty


def test_a_false_condition_around_a_list_removes_the_whole_list() -> None:
    body = '{% if country.apic_status == "none" %}\n- Write\n- Call\n{% endif %}\nThanks.'

    shown = content_of(render(body).html)
    hidden = content_of(render(body, country=make_country(apic_status="party")).html)

    assert re.search(r"<ul>\s*<li>Write</li>\s*<li>Call</li>\s*</ul>", shown)
    assert "<ul" not in hidden
    assert "Thanks." in hidden


def test_no_block_tag_is_left_alone_inside_a_paragraph() -> None:
    source = html_template_source(language="en", body=APIC_PARAGRAPH, title="t")

    assert '{% if country.apic_status == "none" %}' in source  # quotes survive unescaped
    assert not re.search(r"<p[^>]*>\s*\{%", source)
    assert not re.search(r"%\}\s*</p>", source)


def test_if_else_lines_inside_one_paragraph_give_well_formed_branches() -> None:
    body = (
        "{% if country.apic_status == 'none' %}\nNot ratified.\n{% else %}\nRatified.\n{% endif %}"
    )

    for status, expected in (("none", "Not ratified."), ("party", "Ratified.")):
        html = content_of(render(body, country=make_country(apic_status=status)).html)
        assert re.fullmatch(rf"\s*<p[^>]*>{expected}</p>\s*", html), html


def test_inline_if_block() -> None:
    body = 'Status: {% if country.apic_status == "none" %}not ratified{% endif %}.'

    assert "Status: not ratified." in render(body).html
    assert "Status: ." in render(body, country=make_country(apic_status="party")).html


def test_link_to_a_token_lands_in_a_real_href() -> None:
    rendered = render("[report your action]({{ links.report }})")

    assert '<a href="https://alerts.example.org/act/tok123?lang=en&amp;step=1"' in content_of(
        rendered.html
    )
    assert "[report your action](https://alerts.example.org/act/tok123?lang=en&step=1)" in (
        rendered.text
    )


def test_quotes_and_angle_brackets_inside_jinja_survive_markdown_and_css_inlining() -> None:
    body = (
        '[act]({{ links.report if country.apic_status == "none" else links.preferences }})\n\n'
        '{{ "<b>" ~ contact.first_name ~ "</b>" }} {% if 1 < 2 %}yes{% endif %}'
    )

    rendered = render(body)

    assert '<a href="https://alerts.example.org/act/tok123' in rendered.html
    assert "&lt;b&gt;Amina&lt;/b&gt; yes" in rendered.html
    assert "<b>Amina</b> yes" in rendered.text


def test_token_values_are_escaped_in_html_but_not_in_text() -> None:
    rendered = render(
        "Dear colleagues at {{ organization.name }}.", organization_name="Smith & <Sons>"
    )

    assert "Smith &amp; &lt;Sons&gt;" in rendered.html
    assert "<Sons>" not in rendered.html
    assert "Dear colleagues at Smith & <Sons>." in rendered.text


def test_html_written_in_the_body_is_escaped_not_passed_through() -> None:
    html = render('Hello <script>alert(1)</script> <img src="x">').html

    assert "<script" not in html
    assert "<img" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_markdown_escaped_braces_stay_text() -> None:
    """`\\{\\{` is how Markdown writes literal braces: it must not become Jinja."""
    content = content_of(render(r"Write \{\{ contact.name }} to personalise.").html)

    assert "&#123;&#123; contact.name }}" in content
    assert "Amina" not in content


def test_title_is_text_not_jinja() -> None:
    html = render("Body", title="APIC {{ contact.name }} & <more>").html

    assert "<title>APIC &#123;&#123; contact.name }} &amp; &lt;more&gt;</title>" in html


def test_braces_in_the_layouts_wording_are_printed_not_run(monkeypatch: pytest.MonkeyPatch) -> None:
    """A translator's stray `{{` must not become code that runs for every recipient."""

    class BracedTranslations(gettext.NullTranslations):
        def gettext(self, message: str) -> str:
            return "{{ contact.name }} " + message

    def layout_with_braces(language: str) -> Environment:
        environment = uncached_layout_environment(language)
        environment.install_gettext_translations(BracedTranslations(), newstyle=True)  # type: ignore[attr-defined]
        return environment

    uncached_layout_environment = rendering.layout_environment.__wrapped__
    monkeypatch.setattr(rendering, "layout_environment", layout_with_braces)

    rendered = render("Body")

    assert "{{ contact.name }} Unsubscribe: https://alerts.example.org/unsubscribe/" in (
        rendered.text
    )
    assert "&#123;&#123; contact.name }} Unsubscribe</a>" in rendered.html


# --- Problems reported by line and token ----------------------------------------------------


def test_syntax_error_reports_its_line() -> None:
    problem = problem_of("Alert", "Dear {{ contact.name }},\n\nWrite {{ country.name }\nThanks")

    assert (problem.field, problem.line) == ("body", 3)
    assert problem.message.startswith("Line 3: ")


def test_unknown_token_reports_line_and_name() -> None:
    problem = problem_of("Alert", "Dear colleague,\nin {{ contry.name }} we act.")

    assert (problem.field, problem.line, problem.token) == ("body", 2, "contry.name")
    assert problem.message.startswith("Line 2: `contry.name` is not a token you can use")
    assert "country.name" in problem.message  # the suggestion


def test_unknown_attribute_of_a_token_is_named() -> None:
    problem = problem_of("Alert", "One\nTwo\n\n{{ country.capital }}")

    assert (problem.line, problem.token) == (4, "country.capital")


def test_unknown_token_in_the_subject() -> None:
    problem = problem_of("Alert for {{ organisation.name }}", "Body")

    assert (problem.field, problem.line, problem.token) == ("subject", 1, "organisation.name")


def test_a_token_namespace_on_its_own_is_refused() -> None:
    problem = problem_of("Alert", "{{ contact }}")

    assert problem.token == "contact"
    assert "`contact.name`" in problem.message


def test_names_bound_by_the_template_are_not_tokens_to_report() -> None:
    body = """\
{% set greeting = "Dear" %}
{{ greeting }} {{ contact.name }},
{% for step in ["write", "call"] %}
{{ loop.index }}. {{ step|capitalize }} ({{ loop.cycle("a", "b") }})
{% endfor %}
{% macro signature(name) %}-- {{ name|upper }}{% endmacro %}
{{ signature(organization.name) }}
{% with place = country.name %}{{ place }}{% endwith %}"""

    check_variant("Alert", body)
    text = render(body).text
    assert "1. Write (a)" in text
    assert "2. Call (b)" in text
    assert "-- JUSTICE AND ACCOUNTABILITY NETWORK" in text


def test_a_token_namespace_cannot_be_reassigned() -> None:
    problem = problem_of("Alert", "x\n{% set country = 'France' %}{{ country }}")

    assert (problem.line, problem.token) == (2, "country")


@pytest.mark.parametrize("leading", ["", "\n\n"])
def test_errors_while_rendering_report_the_line(leading: str) -> None:
    body = leading + "First line\n{{ contact.name }}\n{{ 1 / 0 }}\nLast line"
    line = 3 + leading.count("\n")

    problem = problem_of("Alert", body)
    assert (problem.field, problem.line) == ("body", line)
    assert problem.message == f"Line {line}: division by zero"

    # The text part of a compiled variant maps its lines back to the body as well.
    variant = compile_variant(language="en", subject="Alert", body=body, title="t")
    with pytest.raises(TemplateProblem) as caught:
        variant.render(make_context())
    assert caught.value.line == line


def test_values_too_large_to_build_are_refused() -> None:
    for body in ('{{ "x" * 100000000 }}', "{{ 2 ** 100000000 }}"):
        assert "too large" in problem_of("Alert", body).message


def test_a_body_using_every_token_passes_the_check() -> None:
    body = "\n".join(f"- {token.name}: {{{{ {token.name} }}}}" for token in TOKENS)

    check_variant(" ".join(f"{{{{ {token.name} }}}}" for token in TOKENS), body)
    text = render(body).text
    assert "- country.apic_status_text: APIC neither signed nor ratified" in text


# --- The sandbox ------------------------------------------------------------------------------

ESCAPE_ATTEMPTS = [
    "{{ cycler.__init__.__globals__ }}",
    "{{ cycler }}",
    "{{ ''.__class__.__mro__ }}",
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ self._TemplateReference__context }}",
    "{{ self }}",
    "{{ request }}",
    "{{ config }}",
    "{{ config.items() }}",
    "{% for c in [].__class__.__base__.__subclasses__() %}{{ c }}{% endfor %}",
    "{{ lipsum.__globals__ }}",
    "{{ lipsum() }}",
    "{{ range.__self__ }}",
    "{{ range(10) }}",
    "{{ namespace.__init__ }}",
    "{% set ns = namespace(a=1) %}{% set ns.a = 2 %}",
    "{{ joiner.__init__.__globals__.os }}",
    "{{ dict(a=1) }}",
    "{{ contact.__class__ }}",
    "{{ contact['__class__'] }}",
    "{{ (1).__class__ }}",
    "{{ ().__class__.__bases__[0].__subclasses__() }}",
    '{{ "{0.__class__}".format(contact) }}',
    '{{ "{0.name.__class__}".format(contact) }}',
    '{{ "%s"|format(contact.__class__) }}',
    '{{ "%s"|format(contact) }}',
    '{{ contact|attr("__class__") }}',
    "{{ contact.name|attr('upper') }}",
    "{{ contact.items() }}",
    "{{ contact.name.upper }}",
    "{{ contact.name.upper() }}",
    "{{ contact.name|map('upper')|list }}",
    "{{ contact.name|list|join(', ', 'upper') }}",
    "{{ contact|pprint }}",
    "{{ contact.name|safe }}",
    "{% autoescape false %}{{ contact.name }}{% endautoescape %}",
    "{% filter safe %}{{ contact.name }}{% endfilter %}",
    "{% include '/etc/passwd' %}",
    "{% import 'os' as os %}",
    "{% from 'x' import y %}",
    "{% extends 'base.html' %}",
    "{% for x in 'ab' %}{{ loop }}{% endfor %}",
    "{% for x in 'ab' %}{{ loop.cycle }}{% endfor %}",
    "{% for x in 'ab' %}{{ loop.__class__ }}{% endfor %}",
    "{% for x in 'ab' %}{{ x.upper }}{% endfor %}",
    "{% set s = 'x' %}{{ s.__len__() }}",
    "{% macro m() %}{{ caller.__class__ }}{% endmacro %}",
    "{% macro m() %}{% endmacro %}{{ m }}",
    "{{ [].pop }}",
    "{{ {}.update }}",
]

# Words a message would hold if it gave an internal detail away.
REVEALING = re.compile(
    r"class|globals|module|object at|<function|\bos\b|subclasses|mro|__|0x|builtin|"
    r"dict object|str object|Undefined|Traceback",
    re.IGNORECASE,
)


@pytest.mark.parametrize("payload", ESCAPE_ATTEMPTS)
def test_escape_attempts_fail_and_reveal_nothing(payload: str) -> None:
    for subject, body in (("Alert", f"Hello\n{payload}"), (payload, "Hello")):
        problem = problem_of(subject, body)
        assert problem.line == (2 if body != "Hello" else 1)
        assert not REVEALING.search(problem.message), problem.message
        assert re.match(r"Line \d+: ", problem.message)

    with pytest.raises(TemplateProblem):
        compile_variant(language="en", subject="Alert", body=payload, title="t")


def test_the_sandboxes_hold_no_globals_and_only_text_filters() -> None:
    for environment in (HTML_SANDBOX, TEXT_SANDBOX):
        assert environment.globals == {}
        assert environment.sandboxed
        assert not {"attr", "format", "safe", "map", "pprint", "xmlattr"} & set(environment.filters)


def test_the_sandbox_itself_refuses_internals_even_without_the_static_check() -> None:
    template = TEXT_SANDBOX.from_string("{{ value.__class__.__mro__ }}")

    with pytest.raises(SecurityError):
        template.render(value="text")


# --- The subject ------------------------------------------------------------------------------


def test_subject_line_breaks_are_collapsed_in_the_text_and_in_token_values() -> None:
    subject = "Alert\r\nBcc: someone@example.org\n  for {{ organization.name }}\t"

    rendered = render("Body", subject=subject, organization_name="Smith & Sons\r\nX-Evil: 1")

    assert rendered.subject == "Alert Bcc: someone@example.org for Smith & Sons X-Evil: 1"


# --- The layout -------------------------------------------------------------------------------


def test_html_has_the_header_and_the_footer_with_the_recipients_links() -> None:
    html = render("Body text.").html

    assert "Coalition for the International Criminal Court" in html
    assert 'href="https://alerts.example.org/unsubscribe/tok123"' in html
    assert 'href="https://alerts.example.org/preferences/tok123"' in html
    assert 'href="https://alerts.example.org/act/tok123?lang=en&amp;step=1"' in html
    assert (
        "You receive this alert as focal point of Justice and Accountability Network, "
        "a member of the Coalition for the ICC in the Africa region."
    ) in html
    assert '<html lang="en" dir="ltr">' in html


def test_css_is_inlined_into_style_attributes() -> None:
    html = render("Body with a [link]({{ links.report }}).").html

    assert "<style" not in html
    assert re.search(r'<div class="masthead[^"]*"[^>]*style="[^"]*background-color', html)
    assert re.search(r'<p style="[^"]*margin', content_of(html))
    assert re.search(r'<a href="[^"]*" style="[^"]*color', content_of(html))


def test_text_part_has_the_body_and_the_footer() -> None:
    text = render("**Write** to {{ country.name }} today.").text

    assert "**Write** to Kenya today." in text
    assert "Report your action: https://alerts.example.org/act/tok123?lang=en&step=1" in text
    assert "Manage your preferences: https://alerts.example.org/preferences/tok123" in text
    assert "Unsubscribe: https://alerts.example.org/unsubscribe/tok123" in text
    assert "You receive this alert as focal point of Justice and Accountability Network" in text
    assert "<" not in text  # no markup leaked into the plain text


@pytest.mark.parametrize("language", SUPPORTED_LANGUAGES)
def test_every_language_sets_lang_and_direction(language: str) -> None:
    html = render("Body", language=language).html

    direction = text_direction(language)
    assert f'<html lang="{language}" dir="{direction}">' in html
    assert re.search(rf'<div class="content {direction}"[^>]* dir="{direction}"', html)


def test_arabic_reads_right_to_left_with_arabic_wording() -> None:
    rendered = render("مرحبا {{ contact.name }}", language="ar", organization_name="منظمة العدالة")

    assert '<html lang="ar" dir="rtl">' in rendered.html
    assert re.search(
        r'<div class="content rtl"[^>]* dir="rtl"[^>]*style="[^"]*text-align: right', rendered.html
    )
    for part in (rendered.html, rendered.text):
        assert "التحالف من أجل المحكمة الجنائية الدولية" in part
        assert "تتلقّون هذا التنبيه بصفتكم جهة الاتصال لدى منظمة العدالة" in part
        assert "في منطقة أفريقيا" in part
        assert "إلغاء الاشتراك" in part


def test_french_names_the_country_region_and_status_in_french() -> None:
    body = "{{ country.name }} ({{ region.name }}) : {{ country.apic_status_text }}."
    ivory_coast = make_country(iso3="CIV", name="Côte d'Ivoire")

    rendered = render(body, language="fr", country=ivory_coast)

    # CLDR and the French catalogue write the apostrophe as typographers do (U+2019).
    assert "Côte d’Ivoire (Afrique) : APIC ni signé ni ratifié." in rendered.text  # noqa: RUF001
    assert "en tant que point focal pour l’organisation" in rendered.text  # noqa: RUF001
    assert "dans la région Afrique" in rendered.html
    assert "Se désabonner" in rendered.html
    assert '<html lang="fr" dir="ltr">' in rendered.html


def test_spanish_wording() -> None:
    rendered = render("{{ contact.role }}: {{ region.name }}", language="es")

    assert "punto focal: África" in rendered.text
    assert "Darse de baja: https://alerts.example.org/unsubscribe/tok123" in rendered.text


# --- Compile once, render many -------------------------------------------------------------------


def test_compiled_once_rendered_per_recipient(monkeypatch: pytest.MonkeyPatch) -> None:
    variant = compile_variant(
        language="en",
        subject="{{ organization.name }}: act now",
        body=APIC_PARAGRAPH,
        title="APIC push",
    )

    def no_more(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("render() must not redo per-variant work")

    # Markdown, the layout and CSS inlining belong to compile_variant, not to render().
    monkeypatch.setattr(rendering.MARKDOWN, "render", no_more)
    monkeypatch.setattr(rendering, "CSS_INLINER", None)
    monkeypatch.setattr(rendering, "layout_environment", no_more)

    first = variant.render(make_context(contact_name="Amina Diallo"))
    again = variant.render(make_context(contact_name="Amina Diallo"))
    other = variant.render(
        make_context(
            contact_name="Luis Ortega",
            organization_name="Red de Justicia",
            country=make_country(apic_status="party"),
        )
    )

    assert first == again
    assert "Dear Amina," in first.text
    assert "Dear Luis," in other.text
    assert "has not ratified" in first.html
    assert "has not ratified" not in other.html
    assert (first.subject, other.subject) == (
        "Justice and Accountability Network: act now",
        "Red de Justicia: act now",
    )


# --- Tokens and their values ---------------------------------------------------------------------


def test_documented_examples_are_the_sample_values() -> None:
    sample = {
        f"{namespace}.{key}": value
        for namespace, values in sample_context("en").items()
        for key, value in values.items()
    }

    assert sample == {token.name: token.example for token in TOKENS}


def test_recipient_context_values() -> None:
    context = make_context("fr", contact_name="  Marie-Claire  Dubois ", contact_role="legal")

    assert context["contact"]["first_name"] == "Marie-Claire"
    assert context["contact"]["role"] == "responsable juridique"
    assert context["organization"]["acronym"] == ""
    assert context["country"]["rome_statute_status"] == "party"
    assert context["country"]["rome_statute_status_text"] == "État partie au Statut de Rome"
    assert context["country"]["kampala_status_text"] == "Amendements de Kampala non ratifiés"
    assert context["country"]["implementing_legislation_text"] == ("Loi de mise en œuvre partielle")
    assert context["region"] == {"name": "Afrique", "slug": "africa"}


def test_country_names_fall_back_to_the_stored_name() -> None:
    english = make_context("en", country=make_country(iso3="CIV", name="Côte d'Ivoire"))
    unknown_code = make_context("fr", country=make_country(iso3="XKX", name="Kosovo"))
    palestine = make_context("fr", country=make_country(iso3="PSE", name="State of Palestine"))

    assert english["country"]["name"] == "Côte d'Ivoire"  # the project's own English name
    assert unknown_code["country"]["name"] == "Kosovo"
    assert palestine["country"]["name"] == "État de Palestine"


def test_a_changed_context_does_not_change_the_next_one() -> None:
    make_context("en")["country"]["name"] = "Changed"

    assert make_context("en")["country"]["name"] == "Kenya"


# --- Catalogues ---------------------------------------------------------------------------------


def test_text_direction_and_translations() -> None:
    assert [text_direction(code) for code in ("ar", "ar-EG", "he", "fa", "ur")] == ["rtl"] * 5
    assert [text_direction(code) for code in ("en", "fr", "es")] == ["ltr"] * 3
    assert translations("fr").gettext("Unsubscribe") == "Se désabonner"
    assert translations("fr_CA").gettext("Unsubscribe") == "Se désabonner"
    assert translations("en").gettext("Unsubscribe") == "Unsubscribe"
    assert translations("de").gettext("Unsubscribe") == "Unsubscribe"


def _layout_and_token_messages() -> set[str]:
    sources = [
        ("python", PROJECT_ROOT / "app" / "campaigns" / "tokens.py", {}),
        ("jinja2", PROJECT_ROOT / "email_templates" / "alert.html", {"trimmed": "true"}),
        ("jinja2", PROJECT_ROOT / "email_templates" / "alert.txt", {"trimmed": "true"}),
    ]
    return {
        message
        for method, path, options in sources
        for _line, message, _comments, _context in extract_from_file(method, path, options=options)
        if isinstance(message, str)
    }


@pytest.mark.parametrize("language", [code for code in SUPPORTED_LANGUAGES if code != "en"])
def test_catalogues_translate_all_layout_and_token_wording(language: str) -> None:
    with (LOCALES_DIR / language / "LC_MESSAGES" / "messages.po").open("rb") as po_file:
        catalog = read_po(po_file, locale=language)
    messages = _layout_and_token_messages()

    assert len(messages) > 30
    untranslated = [
        message
        for message in messages
        if message not in catalog or not catalog[message].string or catalog[message].fuzzy
    ]
    assert untranslated == []
    assert list(catalog.check()) == []  # e.g. %(role)s kept in every translation

"""Words the recipients' pages show for values, marked for the catalogues (translated
when a page is shown, in the language the alert went out in)."""

from collections.abc import Iterable

from babel import Locale, UnknownLocaleError

from app.campaigns.topics import Topic
from app.i18n import N_, SUPPORTED_LANGUAGES, base_language
from app.tracking.models import ReportedActionType

ACTION_TYPE_WORDS: dict[ReportedActionType, str] = {
    ReportedActionType.met_officials: N_("Met officials"),
    ReportedActionType.wrote_to_officials: N_("Wrote to officials"),
    ReportedActionType.parliamentary_engagement: N_("Engaged with parliament"),
    ReportedActionType.public_statement: N_("Made a public statement"),
    ReportedActionType.media: N_("Worked with the media"),
    ReportedActionType.event: N_("Held or spoke at an event"),
    ReportedActionType.signed_on: N_("Signed on to a joint letter or statement"),
    ReportedActionType.other: N_("Something else"),
}

# What members are asked about: the same topics as app/campaigns/topics.py, said for them.
TOPIC_WORDS: dict[Topic, str] = {
    Topic.rome_statute: N_("Ratification of the Rome Statute"),
    Topic.apic: N_("The Agreement on Privileges and Immunities of the Court (APIC)"),
    Topic.kampala: N_("The Kampala amendments on the crime of aggression"),
    Topic.implementing_legislation: N_("Laws implementing the Rome Statute"),
    Topic.cooperation: N_("Cooperation with the Court and arrest warrants"),
    Topic.assembly_of_states_parties: N_("The Assembly of States Parties"),
    Topic.elections: N_("Elections of judges and the Prosecutor"),
    Topic.budget: N_("The Court's budget"),
    Topic.victims: N_("Victims' rights and reparations"),
}


def language_name(code: str) -> str:
    """A language named in itself ("français", "العربية"), as people look for it."""
    try:
        name = Locale.parse(base_language(code)).get_display_name(base_language(code))
    except (UnknownLocaleError, ValueError, TypeError):
        return code
    if not name:
        return code
    return name[:1].upper() + name[1:]


def offered_languages(current: str, alert_languages: Iterable[str]) -> list[tuple[str, str]]:
    """The languages the coalition writes in, those of the alert at hand, and the
    contact's own: each as (code, its name in itself)."""
    codes = list(SUPPORTED_LANGUAGES)
    for code in [*alert_languages, current]:
        if code not in codes:
            codes.append(code)
    return [(code, language_name(code)) for code in codes]

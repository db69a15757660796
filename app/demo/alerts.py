"""Demo action alerts, so that a new user finds the composer with something in it: a
draft waiting for approval in four languages, and an approved alert ready to launch.

Written by the demo secretariat users through the campaign services, as a person
would; created only when there are no campaigns yet.
"""

from sqlmodel import Session, func, select

from app.accounts import service as accounts
from app.accounts.principal import Principal
from app.campaigns import lifecycle
from app.campaigns import service as campaigns
from app.campaigns.models import Campaign
from app.campaigns.schemas import CampaignCreate
from app.core.errors import ValidationFailed
from app.core.settings import get_settings
from app.demo.users import STAFF

APIC_ALERT = {
    "title": "Ratify APIC before the Assembly of States Parties",
    "action_type": "contact_officials",
    "topics": ["apic"],
    "audience": {
        "regions": ["africa", "americas"],
        "rome_statute_status": ["party"],
        "apic_status": ["none", "signatory", "unknown"],
        "contact_roles": ["focal_point"],
    },
    "default_language": "en",
    "variants": [
        {
            "language": "en",
            "subject": "{{ country.name }}: ratify the APIC before the Assembly",
            "body": """Dear {{ contact.first_name }},

The Assembly of States Parties meets next month. {{ country.name }} is a party to the
Rome Statute, but its status on the Agreement on Privileges and Immunities of the Court
is: **{{ country.apic_status_text }}**.

{% if country.apic_status == "signatory" %}
Your government has signed the Agreement: ask the ministry of foreign affairs when it
will be sent to parliament for ratification.
{% else %}
Ask the ministry of foreign affairs to sign and ratify the Agreement before the Assembly.
{% endif %}

1. Write to the ministry (a model letter is on the coalition's site).
2. Ask for a meeting with the legal adviser.
3. Tell us what you did: [report your action]({{ links.report }}).

Thank you for your work in {{ region.name }}.
""",
        },
        {
            "language": "fr",
            "subject": "{{ country.name }} : ratifiez l’APIC avant l’Assemblée",
            "body": """Bonjour {{ contact.first_name }},

L’Assemblée des États parties se réunit le mois prochain. {{ country.name }} est partie
au Statut de Rome ; son statut au regard de l’Accord sur les privilèges et immunités de
la Cour est : **{{ country.apic_status_text }}**.

Demandez au ministère des affaires étrangères de signer et de ratifier l’Accord avant
l’Assemblée, puis [signalez votre action]({{ links.report }}).
""",
        },
        {
            "language": "es",
            "subject": "{{ country.name }}: ratifiquen el APIC antes de la Asamblea",
            "body": """Estimada/o {{ contact.first_name }}:

La Asamblea de los Estados Partes se reúne el próximo mes. {{ country.name }} es parte
del Estatuto de Roma; su situación respecto del Acuerdo sobre los Privilegios e
Inmunidades de la Corte es: **{{ country.apic_status_text }}**.

Pida al ministerio de relaciones exteriores que firme y ratifique el Acuerdo antes de la
Asamblea, y luego [informe de su acción]({{ links.report }}).
""",
        },
        {
            "language": "ar",
            "subject": "{{ country.name }}: صادقوا على الاتفاق قبل انعقاد الجمعية",
            "body": """{{ contact.first_name }}، تحية طيبة،

تجتمع جمعية الدول الأطراف في الشهر المقبل. {{ country.name }} طرف في نظام روما
الأساسي، ووضعها بشأن اتفاق امتيازات المحكمة وحصاناتها هو:
**{{ country.apic_status_text }}**.

اطلبوا من وزارة الخارجية التوقيع على الاتفاق والمصادقة عليه قبل انعقاد الجمعية، ثم
[أبلغونا بما قمتم به]({{ links.report }}).
""",
        },
    ],
}

KAMPALA_ALERT = {
    "title": "Kampala amendments: write to your parliament",
    "action_type": "parliamentary_engagement",
    "topics": ["kampala"],
    "audience": {
        "regions": ["europe", "americas"],
        "rome_statute_status": ["party"],
        "kampala_status": ["not_ratified", "unknown"],
    },
    "default_language": "en",
    "variants": [
        {
            "language": "en",
            "subject": "The crime of aggression: {{ country.name }} has yet to ratify",
            "body": """Dear {{ contact.first_name }},

{{ country.name }} has not ratified the Kampala amendments on the crime of aggression
({{ country.kampala_status_text }}). Please write to the members of your parliament's
foreign affairs committee, then [tell us what you did]({{ links.report }}).
""",
        },
        {
            "language": "fr",
            "subject": "Crime d’agression : {{ country.name }} doit encore ratifier",
            "body": """Bonjour {{ contact.first_name }},

{{ country.name }} n’a pas ratifié les amendements de Kampala sur le crime d’agression
({{ country.kampala_status_text }}). Écrivez aux membres de la commission des affaires
étrangères de votre parlement, puis [signalez votre action]({{ links.report }}).
""",
        },
    ],
}


def ensure_demo_alerts(session: Session) -> list[Campaign]:
    """Create the demo alerts if there are no campaigns yet; return those created."""
    if not get_settings().demo_mode:
        raise ValidationFailed("Demo alerts exist only in demo mode (DEMO_MODE=1)")
    if session.scalar(select(func.count()).select_from(Campaign)):
        return []
    admin, writer = (_principal(session, STAFF[0].email), _principal(session, STAFF[1].email))
    draft = campaigns.create_campaign(session, writer, CampaignCreate.model_validate(APIC_ALERT))
    approved = campaigns.create_campaign(
        session, writer, CampaignCreate.model_validate(KAMPALA_ALERT)
    )
    lifecycle.approve(session, admin, approved)
    return [draft, approved]


def _principal(session: Session, email: str) -> Principal:
    user = accounts.find_user_by_email(session, email)
    if user is None:
        raise ValidationFailed("Create the demo users first: coalition demo users")
    return accounts.principal_for(user)

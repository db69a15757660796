"""`visible_inbound_messages` (app/accounts/scoping.py): who may read which mail that
came back."""

from sqlmodel import Session

from app.accounts.principal import Principal, Role
from app.accounts.scoping import visible_inbound_messages
from app.inbound.models import InboundSource
from app.inbound.service import receive_message
from tests.inbound.conftest import Alert, fixture_message
from tests.world import World


def test_each_role_sees_the_mail_of_its_scope(session: Session, world: World, alert: Alert) -> None:
    ids = {}
    for letter, name in (("C", "dsn_hard_5_1_1.eml"), ("I", "reply_in_reply_to.eml")):
        raw = fixture_message(name, alert.deliveries[letter])
        ids[letter] = receive_message(session, raw, InboundSource.api, actor="test").id
    unmatched = fixture_message(
        "qmail_failure_notice.eml",
        TOKEN="e" * 32,
        EMAIL="someone@elsewhere.example",
        MESSAGE_ID="<nothing@elsewhere.example>",
    )
    ids["none"] = receive_message(session, unmatched, InboundSource.api, actor="test").id

    def seen(principal: Principal) -> set[int]:
        return {m.id or 0 for m in session.scalars(visible_inbound_messages(principal))}

    assert seen(Principal(actor="t", role=Role.secretariat)) == set(ids.values())
    africa = Principal(actor="t", role=Role.regional_lead, regions=frozenset({"africa"}))
    assert seen(africa) == {ids["C"]}
    both = Principal(actor="t", role=Role.regional_lead, regions=frozenset({"africa", "europe"}))
    assert seen(both) == {ids["C"], ids["I"]}
    americas = Principal(actor="t", role=Role.regional_lead, regions=frozenset({"americas"}))
    assert seen(americas) == set()
    # Members read no inbound mail, not even replies from their own organisation.
    member = Principal(
        actor="t",
        role=Role.member,
        organization_id=world.organizations["paris_network"].id,
        contact_id=world.contacts["I"].id,
    )
    assert seen(member) == set()

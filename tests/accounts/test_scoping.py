"""The one scoping function decides what each kind of principal sees and may place."""

import pytest
from sqlmodel import Session, col

from app.accounts.principal import Principal, Role
from app.accounts.scoping import visible_deliveries, visible_regions
from app.core.errors import NotFound, ValidationFailed
from app.delivery.models import Delivery
from app.members import service
from app.members.schemas import ContactUpdate, OrganizationCreate, OrganizationFilter
from tests.factories import make_contact, make_organization, make_user
from tests.reports.world import make_delivery, make_sent_campaign

AFRICA_LEAD = Principal(actor="test:lead", role=Role.regional_lead, regions=frozenset({"africa"}))


def test_regional_lead_sees_only_her_regions(session: Session) -> None:
    kenya = make_organization(session, name="In Kenya", country="KEN")
    france = make_organization(session, name="In France", country="FRA")
    page = service.list_organizations(session, AFRICA_LEAD, OrganizationFilter())
    assert [o.name for o in page.items] == ["In Kenya"]
    assert page.total == 1
    assert service.get_organization(session, AFRICA_LEAD, kenya.id or 0).id == kenya.id
    with pytest.raises(NotFound):
        service.get_organization(session, AFRICA_LEAD, france.id or 0)
    contact = make_contact(session, france)
    with pytest.raises(NotFound):
        service.get_contact(session, AFRICA_LEAD, contact.id or 0)


def test_member_sees_only_its_organisation(session: Session) -> None:
    own = make_organization(session, name="Own", country="KEN")
    make_organization(session, name="Other", country="KEN")
    member = Principal(actor="test:member", role=Role.member, organization_id=own.id)
    assert [
        o.name for o in service.list_organizations(session, member, OrganizationFilter()).items
    ] == ["Own"]


def test_regional_lead_cannot_create_or_move_outside_her_regions(session: Session) -> None:
    with pytest.raises(ValidationFailed) as refused:
        service.create_organization(
            session, AFRICA_LEAD, OrganizationCreate(name="Paris NGO", country="FRA")
        )
    assert refused.value.field == "country"
    created = service.create_organization(
        session, AFRICA_LEAD, OrganizationCreate(name="Dakar NGO", country="SEN")
    )
    with pytest.raises(ValidationFailed):
        service.apply_organization_changes(session, AFRICA_LEAD, created, {"country": "FRA"})
    assert created.country_iso3 == "SEN"


def test_staff_cannot_resubscribe_someone_who_unsubscribed(session: Session) -> None:
    org = make_organization(session, name="Consent", country="KEN")
    contact = make_contact(session, org, subscription_status="unsubscribed")
    staff = Principal(actor="test:staff", role=Role.secretariat)
    with pytest.raises(Exception, match="only they can subscribe again"):
        service.update_contact(
            session, staff, contact.id or 0, ContactUpdate(subscription_status="subscribed")
        )
    assert contact.subscription_status == "unsubscribed"
    colleague = Principal(
        actor="test:colleague", role=Role.member, organization_id=org.id, contact_id=-1
    )
    with pytest.raises(Exception, match="only they can subscribe again"):
        service.update_contact(
            session, colleague, contact.id or 0, ContactUpdate(subscription_status="subscribed")
        )
    member = Principal(
        actor="test:member", role=Role.member, organization_id=org.id, contact_id=contact.id
    )
    service.update_contact(
        session, member, contact.id or 0, ContactUpdate(subscription_status="subscribed")
    )
    assert contact.subscription_status == "subscribed"


def test_deliveries_and_regions_follow_the_organisations_in_view(session: Session) -> None:
    author = Principal(actor="test:author", role=Role.secretariat, user_id=make_user(session).id)
    campaign = make_sent_campaign(session, author, regions=["africa", "europe"])
    kenya = make_delivery(session, campaign, make_contact(session, make_organization(session)))
    france_org = make_organization(session, name="In France", country="FRA")
    france = make_delivery(session, campaign, make_contact(session, france_org))
    erased = make_delivery(session, campaign, make_contact(session, france_org))
    erased.contact_id = None
    session.flush()
    ours = col(Delivery.campaign_id) == campaign.id
    staff = Principal(actor="test:staff", role=Role.secretariat)
    member = Principal(actor="test:member", role=Role.member, organization_id=france_org.id)

    def delivery_ids(principal: Principal) -> set[int | None]:
        return {d.id for d in session.scalars(visible_deliveries(principal).where(ours))}

    assert delivery_ids(staff) == {kenya.id, france.id, erased.id}
    assert delivery_ids(AFRICA_LEAD) == {kenya.id}
    assert delivery_ids(member) == {france.id}

    def region_slugs(principal: Principal) -> list[str]:
        return sorted(region.slug for region in session.scalars(visible_regions(principal)))

    assert region_slugs(staff) == ["africa", "americas", "asia-pacific", "europe", "mena"]
    assert region_slugs(AFRICA_LEAD) == ["africa"]
    assert region_slugs(member) == ["europe"]
    nobody = Principal(actor="test:nobody", role=Role.member)
    assert delivery_ids(nobody) == set()
    assert region_slugs(nobody) == []

"""What a worker does with one Celery hint: claim a batch, render, send, record.

1. Claim up to SEND_BATCH_SIZE due deliveries with a lease (a short transaction of its
   own, committed before any SMTP).
2. Load what the messages need in one read: the recipients' names, organisations and
   countries, the variants compiled once per campaign and language (cached in the
   process), and who may no longer be mailed (checked again now, just before sending).
3. Send each over the reused connection. Every CHECKPOINT messages, make the sends
   durable, record the outcomes for the rows still owned, renew the lease on the rest,
   and stop (returning the rest to the queue) if the campaign is no longer sending.

A delivery is `sent` only after the relay's 250. A crash between the 250 and the
checkpoint leaves the row leased; the scan returns it to the queue when the lease
expires, and it is sent again with the same Message-ID: the bounded duplicate.
"""

import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any, NamedTuple

from sqlalchemy import bindparam
from sqlalchemy import select as sa_select
from sqlalchemy.exc import DBAPIError
from sqlmodel import Session, col

from app.campaigns import lifecycle
from app.campaigns.audience import ExclusionReason, current_exclusions
from app.campaigns.models import Campaign, CampaignStatus, CampaignVariant
from app.campaigns.rendering import CompiledVariant, TemplateProblem, compile_variant
from app.campaigns.tokens import CountryFacts, recipient_context
from app.core.db import among_ids_parameter, connection_scope, session_scope
from app.core.settings import Settings, get_settings
from app.core.types import utcnow
from app.countries.models import Country
from app.delivery import store
from app.delivery.dkim import DkimSigner
from app.delivery.links import delivery_links
from app.delivery.messenger import (
    Done,
    Messenger,
    OutboxMessenger,
    OutgoingMessage,
    PermanentFailure,
    SendFailure,
    SmtpMessenger,
    TemporaryFailure,
)
from app.delivery.mime import AlertEnvelope, build_alert
from app.delivery.models import DeliveryState
from app.delivery.rate_limit import rate_limiter_for, wait_for_turn
from app.delivery.suppressions import suppressed_addresses
from app.members.models import Contact, Organization

log = logging.getLogger(__name__)

CHECKPOINT = 50  # record results at least this often (the promise)
# This many sends in a row finding the relay down pause the campaign (the scan probes
# the relay and resumes it); their tries do not count toward SEND_MAX_ATTEMPTS.
RELAY_DOWN_THRESHOLD = 5
RELAY_RETRY = timedelta(seconds=10)
# Tries to record a checkpoint when the database connection is lost (see _checkpoint),
# with pauses of 0.5, 1, 2, 4 and 8 s between them: long enough to ride out a database
# restart or failover, well inside the lease.
CHECKPOINT_TRIES = 6
CHECKPOINT_RETRY_PAUSE_SECONDS = 0.5


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


@dataclass
class BatchReport:
    claimed: int = 0
    sent: int = 0
    retried: int = 0
    failed: int = 0
    suppressed: int = 0
    released: int = 0
    paused_for_relay: bool = False
    outcomes: list[store.Outcome] = field(default_factory=list, repr=False)


@dataclass(frozen=True)
class _Recipient:
    email: str  # the contact's address now; the alert goes to the launch's (claim.email)
    name: str
    role: str
    organization_name: str
    organization_acronym: str | None
    country: CountryFacts


def send_campaign_batch(
    campaign_id: int,
    *,
    worker: str | None = None,
    messenger: Messenger | None = None,
    settings: Settings | None = None,
    clock: Callable[[], datetime] = utcnow,
    on_claimed: Callable[[int, int], None] | None = None,
) -> BatchReport:
    """Claim, send and record one batch. `on_claimed(campaign_id, count)` runs right
    after the claim commits (the task uses it to wake another worker)."""
    settings = settings or get_settings()
    worker = worker or worker_name()
    report = BatchReport()
    with connection_scope() as connection:
        claims = store.claim_batch(
            connection,
            campaign_id,
            worker=worker,
            size=settings.send_batch_size,
            lease_seconds=settings.send_lease_seconds,
            now=clock(),
        )
    report.claimed = len(claims)
    if not claims:
        return report
    if on_claimed is not None:
        on_claimed(campaign_id, len(claims))
    with session_scope(writes=False) as session:
        variants, topics = _campaign_for_sending(session, campaign_id)
        recipients = _recipients(session, [c.contact_id for c in claims if c.contact_id])
        excluded = current_exclusions(
            session, [c.contact_id for c in claims if c.contact_id], topics=topics
        )
        excluded.update(_suppressed_launch_addresses(session, claims, recipients))
    own_messenger = messenger is None
    messenger = messenger or shared_messenger(settings)
    signer = DkimSigner.from_settings(settings)
    limiter = rate_limiter_for(settings)
    domain = store.mail_domain()
    outcomes = _Outcomes(clock, settings.send_max_attempts)
    handled_since_checkpoint = 0
    last_renewal = time.monotonic()  # the claim set the lease
    lease_margin = settings.send_lease_seconds / 3
    position = -1
    try:
        for position, claim in enumerate(claims):
            recipient = recipients.get(claim.contact_id or 0)
            reason = "contact deleted" if recipient is None else excluded.get(claim.contact_id or 0)
            if reason is not None:
                outcomes.add(store.Outcome(claim.id, DeliveryState.suppressed, reason))
            else:
                assert recipient is not None
                wait_for_turn(limiter)
                _send_one(claim, recipient, variants, messenger, signer, settings, domain, outcomes)
            handled_since_checkpoint += 1
            relay_down = outcomes.relay_down_in_a_row >= RELAY_DOWN_THRESHOLD
            if relay_down:
                with session_scope() as session:
                    campaign = session.get_one(Campaign, campaign_id)
                    if lifecycle.pause_for_relay(
                        session,
                        campaign,
                        f"The mail relay is not answering: {outcomes.last_relay_error}",
                    ):
                        report.paused_for_relay = True
            # A slow relay must not let the lease run out mid-batch (the scan would hand
            # the rows to another worker and they would go twice), so the lease on the
            # rest is renewed once a third of it has passed; not at every checkpoint,
            # which rewrote every remaining row several times a batch.
            lease_running_out = time.monotonic() - last_renewal > lease_margin
            if (
                relay_down
                or lease_running_out
                or handled_since_checkpoint >= CHECKPOINT
                or position == len(claims) - 1
            ):
                remaining = [c.id for c in claims[position + 1 :]]
                if lease_running_out:
                    last_renewal = time.monotonic()
                messenger.flush()  # every outcome is known after it
                if not relay_down:
                    outcomes.settle_relay_down(lambda: _relay_answers(messenger))
                recorded = outcomes.take()
                still_sending = _checkpoint(
                    campaign_id,
                    recorded,
                    outcomes.take_refused_contacts(),
                    remaining if lease_running_out else [],
                    worker,
                    settings,
                    clock,
                )
                report.outcomes.extend(recorded)
                handled_since_checkpoint = 0
                if not still_sending and remaining:
                    with session_scope() as session:
                        store.release(session, remaining, worker=worker)
                    report.released = len(remaining)
                    break
    except BaseException:
        _save_what_is_known(
            campaign_id,
            messenger,
            outcomes,
            untried=[c.id for c in claims[position + 1 :]],
            close=own_messenger,
            worker=worker,
            settings=settings,
            clock=clock,
        )
        raise
    for outcome in report.outcomes:
        if outcome.state is DeliveryState.sent:
            report.sent += 1
        elif outcome.state is DeliveryState.queued:
            report.retried += 1
        elif outcome.state is DeliveryState.failed:
            report.failed += 1
        else:
            report.suppressed += 1
    return report


def _save_what_is_known(
    campaign_id: int,
    messenger: Messenger,
    outcomes: "_Outcomes",
    *,
    untried: list[int],
    close: bool,
    worker: str,
    settings: Settings,
    clock: Callable[[], datetime],
) -> None:
    """A batch stopped by an error (Redis gone from under the rate limit, a signing
    failure, a shutdown): record the relay's answers already read, so that those
    recipients are not mailed again when the lease runs out, and give back the rows
    not tried yet. Best effort: the caller re-raises the error that stopped the batch,
    and whatever is not recorded here returns to the queue when the lease expires."""
    try:
        if close:
            # Mid-conversation, the connection's state is unknown: closing reads the
            # relay's answer to the message in flight, and the next batch opens a
            # fresh connection (the outbox keeps what it was given).
            messenger.close()
        else:
            messenger.flush()
    except Exception:
        log.exception("Could not finish the conversation with the relay after an error")
    try:
        _checkpoint(
            campaign_id,
            outcomes.take(),
            outcomes.take_refused_contacts(),
            [],
            worker,
            settings,
            clock,
        )
        with session_scope() as session:
            store.release(session, untried, worker=worker)
    except Exception:
        log.exception(
            "Could not record a stopped batch's outcomes; its rows return when the lease expires"
        )


class _Outcomes:
    """What became of each message since the last checkpoint, as the messenger tells
    it (a relay's 250 may come while the next message is under way)."""

    def __init__(self, clock: Callable[[], datetime], max_attempts: int) -> None:
        self.clock = clock
        self._max_attempts = max_attempts
        self._pending: list[store.Outcome] = []
        # The contacts the relay refused for good: hard bounces.
        self.refused_contacts: list[int] = []
        self.relay_down_in_a_row = 0
        self.last_relay_error = ""
        # "Relay down" outcomes since the last 250, as positions in _pending: if the
        # relay then accepts a message, it was not down, and they were these messages'
        # own temporary failures (a 421 for one domain, a message that breaks the
        # connection), which must count toward the limit instead of retrying forever.
        self._relay_down_since_last_250: list[tuple[int, store.ClaimedDelivery, str]] = []

    def add(self, outcome: store.Outcome) -> None:
        self._pending.append(outcome)

    def take(self) -> list[store.Outcome]:
        taken, self._pending = self._pending, []
        self._relay_down_since_last_250 = []
        return taken

    def settle_relay_down(self, relay_answers: Callable[[], bool]) -> None:
        """Failures taken for the relay being down that no 250 followed (the message
        was alone, or last): if the relay answers now, they were the messages' own."""
        if self._relay_down_since_last_250 and relay_answers():
            self._count_relay_down_as_their_own(self.clock())

    def _count_relay_down_as_their_own(self, now: datetime) -> None:
        for position, claim, error in self._relay_down_since_last_250:
            self._pending[position] = self._temporary(claim, error, now)
        self._relay_down_since_last_250 = []

    def _temporary(
        self, claim: store.ClaimedDelivery, failure: str, now: datetime
    ) -> store.Outcome:
        """A temporary failure of this message: retried with backoff up to the limit."""
        if claim.attempts >= self._max_attempts:
            return store.Outcome(claim.id, DeliveryState.failed, f"gave up: {failure}")
        return store.Outcome(
            claim.id, DeliveryState.queued, failure, retry_at=now + backoff(claim.attempts)
        )

    def take_refused_contacts(self) -> list[int]:
        taken, self.refused_contacts = self.refused_contacts, []
        return taken

    def teller(self, claim: store.ClaimedDelivery) -> Done:
        """The `done` for one message: its outcome from the relay's answer."""

        def done(failure: SendFailure | None) -> None:
            now = self.clock()
            if failure is None:
                self.relay_down_in_a_row = 0
                self._count_relay_down_as_their_own(now)  # the relay is up after all
                self.add(store.Outcome(claim.id, DeliveryState.sent, at=now))
            elif isinstance(failure, PermanentFailure):
                self.relay_down_in_a_row = 0
                self.add(store.Outcome(claim.id, DeliveryState.failed, str(failure)))
                if claim.contact_id:
                    self.refused_contacts.append(claim.contact_id)
            elif failure.relay_down:
                self.relay_down_in_a_row += 1
                self.last_relay_error = str(failure)
                self._relay_down_since_last_250.append((len(self._pending), claim, str(failure)))
                self.add(
                    store.Outcome(
                        claim.id,
                        DeliveryState.queued,
                        str(failure),
                        retry_at=now + RELAY_RETRY,
                        refund_attempt=True,
                    )
                )
            else:
                self.relay_down_in_a_row = 0
                self.add(self._temporary(claim, str(failure), now))

        return done


def _relay_answers(messenger: Messenger) -> bool:
    """Whether the relay takes a new connection now. A messenger that cannot tell (no
    `probe`) is taken at its word that the relay was down."""
    probe = getattr(messenger, "probe", None)
    if probe is None:
        return False
    try:
        probe()
    except (TemporaryFailure, PermanentFailure):
        return False
    return True


def _send_one(
    claim: store.ClaimedDelivery,
    recipient: _Recipient,
    variants: dict[str, CompiledVariant],
    messenger: Messenger,
    signer: DkimSigner | None,
    settings: Settings,
    domain: str,
    outcomes: _Outcomes,
) -> None:
    variant = variants.get(claim.language)
    if variant is None:  # the variant was removed after launch: nothing to send
        outcomes.add(store.Outcome(claim.id, DeliveryState.failed, "no variant in that language"))
        return
    links = delivery_links(claim.token, tracking=variant.tracks)
    try:
        rendered = variant.render(
            recipient_context(
                language=claim.language,
                contact_name=recipient.name,
                contact_role=recipient.role,
                organization_name=recipient.organization_name,
                organization_acronym=recipient.organization_acronym,
                country=recipient.country,
                links=links,
            )
        )
        raw = build_alert(
            AlertEnvelope(
                from_header=settings.mail_from,
                to_name=recipient.name,
                to_address=claim.email,
                subject=rendered.subject,
                message_id=claim.message_id,
                date=outcomes.clock(),
                list_id=f"Coalition for the ICC action alerts <alerts.{domain}>",
                unsubscribe_url=links.unsubscribe,
                unsubscribe_mailto=f"mailto:unsubscribe+{claim.token}@{domain}",
            ),
            text=rendered.text,
            html=rendered.html,
        )
    except (TemplateProblem, ValueError) as problem:  # this recipient's data, not the relay
        outcomes.add(store.Outcome(claim.id, DeliveryState.failed, f"not built: {problem}"))
        return
    if signer is not None:
        raw = signer.sign(raw)
    messenger.send(
        OutgoingMessage(
            envelope_from=f"bounces+{claim.token}@{domain}",
            to=claim.email,
            raw=raw,
            subject=rendered.subject,
            text=rendered.text,
            html=rendered.html,
        ),
        outcomes.teller(claim),
    )


def backoff(attempts: int) -> timedelta:
    """30 s, 1 min, 2 min, ... up to an hour between tries."""
    return timedelta(seconds=min(30 * 2 ** max(attempts - 1, 0), 3600))


def _checkpoint(
    campaign_id: int,
    outcomes: list[store.Outcome],
    permanent_contacts: list[int],
    renew_ids: list[int],
    worker: str,
    settings: Settings,
    clock: Callable[[], datetime],
) -> bool:
    """Record the outcomes (the messenger was flushed: they are durable), renew the
    lease on `renew_ids`; return whether the campaign is still sending.

    A database connection lost while recording (a restart, a failover, an idle
    connection killed) is tried again on a new one: the messages are out, and dropping
    their outcomes would send each of them a second time once the lease ran out. The
    outcomes touch only rows this worker still owns, so a second try after a commit
    that did land writes none of them again (at worst a hard bounce counts twice)."""
    for attempt in range(1, CHECKPOINT_TRIES + 1):
        try:
            return _record_checkpoint(
                campaign_id, outcomes, permanent_contacts, renew_ids, worker, settings, clock
            )
        except DBAPIError as error:
            if not error.connection_invalidated or attempt == CHECKPOINT_TRIES:
                raise
            pause = CHECKPOINT_RETRY_PAUSE_SECONDS * 2 ** (attempt - 1)
            log.warning(
                "Connection lost recording a checkpoint (try %d); trying again in %.1f s",
                attempt,
                pause,
            )
            time.sleep(pause)
    raise AssertionError("unreachable")


def _record_checkpoint(
    campaign_id: int,
    outcomes: list[store.Outcome],
    permanent_contacts: list[int],
    renew_ids: list[int],
    worker: str,
    settings: Settings,
    clock: Callable[[], datetime],
) -> bool:
    with connection_scope() as connection:
        checkpoint = store.record_results(
            connection,
            outcomes,
            worker=worker,
            campaign_id=campaign_id,
            renew_ids=renew_ids,
            lease_seconds=settings.send_lease_seconds,
            refused_contacts=permanent_contacts,
            now=clock(),
        )
    return checkpoint.campaign_status == CampaignStatus.sending


class _CountryRow(NamedTuple):
    """The columns of a recipient's country that the message reads (CountryFacts)."""

    iso3: str
    name: str
    region_slug: str
    rome_statute_status: str
    apic_status: str
    kampala_status: str
    implementing_legislation: str


def _suppressed_launch_addresses(
    session: Session, claims: list[store.ClaimedDelivery], recipients: dict[int, _Recipient]
) -> dict[int, str]:
    """The contacts whose address changed since launch and whose launch address, the
    one the alert goes to, has been suppressed since (a bounce or complaint names the
    address mailed). The check by contact covers only the address they have now."""
    moved = {
        claim.email: claim.contact_id
        for claim in claims
        if claim.contact_id in recipients
        and recipients[claim.contact_id].email.strip().lower() != claim.email.strip().lower()
    }
    return {
        moved[email]: ExclusionReason.suppressed.value
        for email in suppressed_addresses(session, list(moved))
    }


def _recipients(session: Session, contact_ids: list[int]) -> dict[int, _Recipient]:
    """The batch's recipients with their organisations and countries, in one query of
    plain rows: ORM objects for the batch's countries cost a quarter of this step."""
    if not contact_ids:
        return {}
    statements = _batch_statements(session.get_bind().dialect.name)
    rows = session.connection().execute(statements.recipients, {"recipient_ids": contact_ids})
    # A batch's recipients live in a few dozen countries: one row each, shared.
    countries: dict[str, _CountryRow] = {}
    recipients = {}
    for contact_id, email, name, role, organization, acronym, *country in rows:
        country_row = countries.get(country[0])
        if country_row is None:
            country_row = countries[country[0]] = _CountryRow(*country)
        recipients[contact_id] = _Recipient(email, name, role, organization, acronym, country_row)
    return recipients


def _campaign_for_sending(
    session: Session, campaign_id: int
) -> tuple[dict[str, CompiledVariant], list[str]]:
    """The campaign's variants, compiled once per campaign version however many
    batches follow, with the click and open counting it asks for; and its topics.

    Read as plain rows: loading the campaign as an ORM object with its relationships
    cost 5 ms a batch, more than the batch's recipients."""
    rows = (
        session.connection()
        .execute(
            _batch_statements(session.get_bind().dialect.name).campaign,
            {"sending_campaign": campaign_id},
        )
        .all()
    )
    if not rows:
        raise LookupError(f"campaign {campaign_id} does not exist")
    topics, track_clicks, track_opens = rows[0][:3]
    variants = tuple((language, subject, body) for *_, language, subject, body in rows if language)
    return _compiled(campaign_id, variants, track_clicks, track_opens), list(topics or [])


@dataclass(frozen=True)
class _BatchStatements:
    campaign: Any
    recipients: Any


@lru_cache(maxsize=4)
def _batch_statements(dialect: str) -> _BatchStatements:
    """What every batch reads, built once per process (SQLAlchemy then reuses the
    compiled statements), and run in Core: the ORM's handling of a statement cost more
    than the statement."""
    return _BatchStatements(
        # The campaign's flags beside each of its variants (in one round trip).
        campaign=sa_select(
            col(Campaign.topics),
            col(Campaign.track_clicks),
            col(Campaign.track_opens),
            col(CampaignVariant.language),
            col(CampaignVariant.subject),
            col(CampaignVariant.body),
        )
        .outerjoin(CampaignVariant, col(CampaignVariant.campaign_id) == col(Campaign.id))
        .where(col(Campaign.id) == bindparam("sending_campaign"))
        .order_by(col(CampaignVariant.language)),
        # SQLAlchemy's own select: sqlmodel's is typed for at most four columns.
        recipients=sa_select(
            col(Contact.id),
            col(Contact.email),
            col(Contact.name),
            col(Contact.role),
            col(Organization.name),
            col(Organization.acronym),
            col(Country.iso3),
            col(Country.name),
            col(Country.region_slug),
            col(Country.rome_statute_status),
            col(Country.apic_status),
            col(Country.kampala_status),
            col(Country.implementing_legislation),
        )
        .join(Organization, col(Organization.id) == col(Contact.organization_id))
        .join(Country, col(Country.iso3) == col(Organization.country_iso3))
        .where(among_ids_parameter(dialect, col(Contact.id), "recipient_ids")),
    )


@lru_cache(maxsize=32)
def _compiled(
    campaign_id: int,
    variants: tuple[tuple[str, str, str], ...],
    track_clicks: bool,
    track_opens: bool,
) -> dict[str, CompiledVariant]:
    return {
        language: compile_variant(
            language=language,
            subject=subject,
            body=body,
            track_clicks=track_clicks,
            track_opens=track_opens,
        )
        for language, subject, body in variants
    }


_shared_messengers: dict[tuple[int, int, str, str], Messenger] = {}


def shared_messenger(settings: Settings) -> Messenger:
    """One messenger per process and thread, kept between batches, so that its SMTP
    connection serves batch after batch instead of being opened for each one (keyed by
    process id too: a connection must never cross a fork)."""
    key = (os.getpid(), threading.get_ident(), settings.mail_backend, settings.smtp_url)
    messenger = _shared_messengers.get(key)
    if messenger is None:
        messenger = _shared_messengers[key] = messenger_for(settings)
    return messenger


def messenger_for(settings: Settings) -> Messenger:
    if settings.mail_backend == "smtp":
        return SmtpMessenger(settings)
    return OutboxMessenger(session_scope)

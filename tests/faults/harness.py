"""Faults during a campaign: real `coalition worker` and `coalition scheduler` processes,
a Redis of their own, PostgreSQL, and an SMTP sink that keeps every message, with one
kind of fault injected while they send (issue 9, item 4).

Each `run_<scenario>(workdir, postgres_url, scale) -> Figures` prepares an installation
in the (empty, scratch) database at `postgres_url`, launches an alert, injects its
fault, waits for the alert to be sent, and counts what the sink got by Message-ID:

- recipients: delivery rows of the alert; received: distinct Message-IDs the sink got;
- missing: rows whose message never arrived (must be 0);
- duplicates: messages that arrived more than once, beyond the first (must be at most
  `duplicate_bound`, the messages that can be in flight at the faults: a checkpoint's
  worth, CHECKPOINT messages, per process hit);
- same_message_id: every message carried its delivery row's Message-ID, addressed to
  that row's recipient (so a duplicate is the same message, which mail clients fold);
- recovery_seconds: defined per scenario in its docstring;
- total_seconds: from the workers' start to the alert being `sent`.

`scale` is "short" (CI: about 1,000 recipients, one fault of each kind, short stops)
or "full" (`make reliability`: over 5,000 recipients and the issue's fault sizes).
Nothing here needs pytest: a failure raises `ScenarioFailed`, a missing program
`ServiceMissing`.
"""

import os
import random
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import redis
from sqlalchemy import Engine, create_engine, func, text
from sqlmodel import Session, col, select

from app.accounts import service as accounts
from app.accounts.models import User
from app.accounts.principal import Role
from app.accounts.schemas import UserCreate
from app.campaigns import lifecycle
from app.campaigns import service as campaigns
from app.campaigns.models import Campaign, CampaignStatus
from app.campaigns.schemas import CampaignCreate
from app.core import jobs, migrations
from app.core.audit import AuditEntry
from app.core.db import create_db_engine
from app.core.types import utcnow
from app.countries.treaty_data import load_countries, read_treaty_data
from app.delivery.models import Delivery, DeliveryState
from app.delivery.sender import CHECKPOINT
from app.demo.seed import seed_demo_registry
from tests.delivery.smtp_sink import ReceivedMessage, SmtpSink, free_port, running_smtp_sink
from tests.factories import STAFF

COALITION = str(Path(sys.executable).parent / "coalition")
# libpq reads PGAPPNAME: the workers' connections are the ones pg_terminate aims at.
WORKER_APPLICATION_NAME = "coalition-faults-worker"
CONCURRENCY = 2  # worker processes in each `coalition worker`
BATCH_SIZE = 50
LEASE_SECONDS = 5

ALERT = {
    "title": "Fault test alert",
    "action_type": "contact_officials",
    "default_language": "en",
    "variants": [
        {"language": "en", "subject": "Act, {{ contact.first_name }}", "body": "Hello"},
        {"language": "fr", "subject": "Agissez, {{ contact.first_name }}", "body": "Bonjour"},
    ],
}


class ScenarioFailed(AssertionError):
    """The installation did not get where it should within the time allowed."""


class ServiceMissing(RuntimeError):
    """A program the scenario needs is not installed."""


@dataclass(frozen=True)
class Scale:
    organizations: int  # about four contacts each
    kills: int  # SIGKILLs of the worker
    redis_down: float  # seconds
    relay_down: float  # seconds (long enough for the alert to pause itself and resume)
    storm_seconds: float  # at most this long of pg_terminate_backend
    scheduler_lead: float  # the alert is due this long after both processes are up
    scheduler_down: float  # the scheduler stays dead this long after the alert is due


SCALES = {
    "short": Scale(
        organizations=320,
        kills=1,
        redis_down=5,
        relay_down=12,
        storm_seconds=6,
        scheduler_lead=4,
        scheduler_down=4,
    ),
    "full": Scale(
        organizations=1650,
        kills=3,
        redis_down=20,
        relay_down=30,
        storm_seconds=20,
        scheduler_lead=6,
        scheduler_down=15,
    ),
}


@dataclass
class Figures:
    scenario: str
    recipients: int = 0
    received: int = 0
    missing: int = 0
    duplicates: int = 0
    duplicate_bound: int = 0
    same_message_id: bool = False
    recovery_seconds: float = 0.0
    total_seconds: float = 0.0
    campaign_sent: bool = False
    notes: str = ""

    def problems(self) -> list[str]:
        """What the issue forbids, in words (empty when all is well)."""
        found = []
        if self.missing:
            found.append(f"{self.missing} recipients missing")
        if self.duplicates > self.duplicate_bound:
            found.append(f"{self.duplicates} duplicates, more than {self.duplicate_bound}")
        if not self.same_message_id:
            found.append("a message with another Message-ID than its delivery row's")
        if not self.campaign_sent:
            found.append("the alert is not sent (or its rows are not all sent)")
        return found


# --- the installation ----------------------------------------------------------------


@dataclass
class Installation:
    engine: Engine
    campaign_id: int
    recipients: int = 0

    def count(self, state: DeliveryState) -> int:
        with Session(self.engine) as session:
            return int(
                session.scalar(
                    select(func.count()).where(
                        col(Delivery.campaign_id) == self.campaign_id, col(Delivery.state) == state
                    )
                )
                or 0
            )

    def status(self) -> CampaignStatus:
        with Session(self.engine) as session:
            return session.get_one(Campaign, self.campaign_id).status

    def is_sent(self) -> bool:
        return self.status() is CampaignStatus.sent

    def launches(self) -> int:
        """How many times the alert was launched (its audit log says)."""
        with Session(self.engine) as session:
            return int(
                session.scalar(
                    select(func.count()).where(
                        col(AuditEntry.target_type) == "campaign",
                        col(AuditEntry.target_id) == str(self.campaign_id),
                        col(AuditEntry.action) == "campaign.launched",
                    )
                )
                or 0
            )

    def message_ids(self) -> dict[str, str]:
        """Each delivery row's Message-ID and recipient."""
        with Session(self.engine) as session:
            rows = session.execute(
                select(col(Delivery.message_id), col(Delivery.email)).where(
                    col(Delivery.campaign_id) == self.campaign_id
                )
            ).all()
        return dict(rows)


@contextmanager
def _no_hints() -> Iterator[None]:
    """Launching from here must not reach a broker (this process has none configured):
    the scan wakes the workers within seconds."""
    previous = jobs._dispatcher
    jobs.use_dispatcher(lambda _name, _args: None)
    try:
        yield
    finally:
        jobs.use_dispatcher(previous)


def prepare(
    url: str,
    organizations: int,
    *,
    send_at: datetime | None = None,
    launch: bool = True,
    alert: dict[str, Any] = ALERT,
) -> Installation:
    """A migrated database with a seeded registry (about four contacts per
    organisation) and one approved `alert`: launched now, scheduled for `send_at`, or
    (launch=False) left approved."""
    migrations.upgrade(url)
    engine = create_db_engine(url)
    with Session(engine) as session, _no_hints():
        load_countries(session, list(read_treaty_data()))
        seed_demo_registry(session, organizations=organizations)
        author, approver = (
            accounts.create_user(
                session,
                STAFF,
                UserCreate(email=email, role=Role.secretariat, password="a long password 123"),
            )
            for email in ("author@example.org", "approver@example.org")
        )
        campaign = campaigns.create_campaign(
            session, accounts.principal_for(author), CampaignCreate.model_validate(alert)
        )
        lifecycle.approve(session, accounts.principal_for(approver), campaign)
        if launch:
            lifecycle.launch(session, accounts.principal_for(author), campaign, send_at=send_at)
        session.commit()
        installation = Installation(engine, campaign.id or 0)
    installation.recipients = installation.count(DeliveryState.queued)
    return installation


def schedule(installation: Installation, send_at: datetime) -> None:
    """Schedule the approved alert (the author launches it with a time)."""
    with Session(installation.engine) as session, _no_hints():
        campaign = session.get_one(Campaign, installation.campaign_id)
        author = accounts.principal_for(session.get_one(User, campaign.author_id))
        lifecycle.launch(session, author, campaign, send_at=send_at)
        session.commit()


def audience_size(installation: Installation) -> int:
    """Recipients once launched (the snapshot)."""
    with Session(installation.engine) as session:
        return int(
            session.scalar(
                select(func.count()).where(col(Delivery.campaign_id) == installation.campaign_id)
            )
            or 0
        )


# --- processes -------------------------------------------------------------------------


def base_env(database_url: str, **settings: str) -> dict[str, str]:
    """This process's environment without the test settings, plus the installation's."""
    env = {
        key: value for key, value in os.environ.items() if not key.startswith(("TEST_", "PYTEST"))
    }
    env.update(
        DATABASE_URL=database_url,
        DEMO_MODE="1",
        SEND_LEASE_SECONDS=str(LEASE_SECONDS),
        SEND_BATCH_SIZE=str(BATCH_SIZE),
        PUBLIC_BASE_URL="https://alerts.example.org",
        PGAPPNAME=WORKER_APPLICATION_NAME,
    )
    env.update(settings)
    return env


@contextmanager
def process(*arguments: str, env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    child = start(*arguments, env=env, log=log)
    try:
        yield child
    finally:
        kill(child)


def start(*arguments: str, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """`coalition <arguments>` in a process group of its own (SIGKILL reaches the pool)."""
    with log.open("ab") as output:
        return subprocess.Popen(
            [COALITION, *arguments],
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def kill(child: subprocess.Popen[bytes], sig: int = signal.SIGKILL) -> None:
    if child.poll() is None:
        with suppress(ProcessLookupError):
            os.killpg(child.pid, sig)
        child.wait(timeout=30)


def wait_for(condition: Callable[[], bool], *, timeout: float, what: str, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    tail = log.read_text(errors="replace")[-3000:] if log.exists() else ""
    raise ScenarioFailed(f"timed out waiting for {what}\n--- process log ---\n{tail}")


_NO_PERSISTENCE = ("--save", "", "--appendonly", "no")


class PrivateRedis:
    """A Redis of the scenario's own, so that stopping it disturbs nothing else."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.child: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        server = shutil.which("redis-server")
        if server is None:
            raise ServiceMissing("redis-server is not installed (Debian package redis-server)")
        self.child = subprocess.Popen(
            [server, *("--port", str(self.port), "--bind", "127.0.0.1"), *_NO_PERSISTENCE],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        client = redis.Redis(port=self.port, socket_connect_timeout=1)
        deadline = time.monotonic() + 10
        try:
            while True:
                try:
                    client.ping()
                    return
                except redis.RedisError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.1)
        finally:
            client.close()

    def stop(self) -> None:
        if self.child is not None:
            self.child.terminate()
            self.child.wait(timeout=10)
            self.child = None


@contextmanager
def private_redis(port: int) -> Iterator[PrivateRedis]:
    server = PrivateRedis(port)
    server.start()
    try:
        yield server
    finally:
        server.stop()


class Mailbox:
    """Everything the sinks on one port got, across restarts of the sink. Each sink's
    list is read when counting, never copied: a connection thread may still add a
    message as its sink goes down (the relay took it, so it counts)."""

    def __init__(self) -> None:
        self.sinks: list[SmtpSink] = []

    @contextmanager
    def sink(self, port: int, *, defer_every: int = 0, close_every: int = 0) -> Iterator[SmtpSink]:
        with running_smtp_sink(port=port, defer_every=defer_every, close_every=close_every) as sink:
            self.sinks.append(sink)
            yield sink

    def count(self) -> int:
        return sum(len(sink.messages) for sink in self.sinks)

    def messages(self) -> list[ReceivedMessage]:
        return [message for sink in self.sinks for message in list(sink.messages)]

    def seconds_to_next(self, *, timeout: float, log: Path) -> float:
        """Seconds until the sink gets a message it had not got when this was called."""
        before, started = self.count(), time.monotonic()
        wait_for(lambda: self.count() > before, timeout=timeout, what="the next message", log=log)
        return time.monotonic() - started


_MESSAGE_ID = re.compile(rb"^Message-ID:[ \t]*(<[^>\r\n]+>)", re.IGNORECASE | re.MULTILINE)


def message_id_of(message: ReceivedMessage) -> str:
    headers = message.data.split(b"\r\n\r\n", 1)[0]
    found = _MESSAGE_ID.search(headers)
    return found.group(1).decode() if found else str(message.parsed()["Message-ID"])


def tally(figures: Figures, installation: Installation, messages: list[ReceivedMessage]) -> None:
    """Fill in the counts from the delivery rows and what the sink got."""
    expected = installation.message_ids()
    received = Counter(message_id_of(message) for message in messages)
    figures.recipients = len(expected)
    figures.received = len(set(received) & set(expected))
    figures.missing = len(set(expected) - set(received))
    figures.duplicates = sum(n - 1 for n in received.values() if n > 1)
    figures.same_message_id = all(
        expected.get(message_id_of(message)) == message.rcpt_to[0] for message in messages
    )
    figures.campaign_sent = installation.is_sent() and installation.count(
        DeliveryState.sent
    ) == len(expected)


@dataclass
class Rig:
    """One scenario's installation, Redis, sink port, environment and processes."""

    workdir: Path
    installation: Installation
    env: dict[str, str]
    redis: PrivateRedis
    smtp_port: int
    mailbox: Mailbox = field(default_factory=Mailbox)
    children: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def log(self) -> Path:
        return self.workdir / "processes.log"

    def start(self, *arguments: str) -> subprocess.Popen[bytes]:
        child = start(*arguments, env=self.env, log=self.log)
        self.children.append(child)
        return child

    def worker(self) -> subprocess.Popen[bytes]:
        return self.start("worker", "--concurrency", str(CONCURRENCY))

    def scheduler(self) -> subprocess.Popen[bytes]:
        return self.start("scheduler", "--state-file", str(self.workdir / "beat-state"))

    def log_has(self, text: str) -> bool:
        return self.log.exists() and text in self.log.read_text(errors="replace")

    def wait(self, condition: Callable[[], bool], *, timeout: float, what: str) -> None:
        wait_for(condition, timeout=timeout, what=what, log=self.log)

    def wait_received(self, count: int, timeout: float = 180) -> None:
        self.wait(lambda: self.mailbox.count() >= count, timeout=timeout, what=f"{count} messages")

    def wait_sent(self, timeout: float = 300) -> None:
        self.wait(self.installation.is_sent, timeout=timeout, what="the alert to be sent")


@contextmanager
def rig(
    workdir: Path,
    postgres_url: str,
    organizations: int,
    *,
    launch: bool = True,
    **settings: str,
) -> Iterator[Rig]:
    """An installation in the empty database at `postgres_url`, its own Redis, a port
    for the sink (started by the scenario), and every process stopped at the end."""
    workdir.mkdir(parents=True, exist_ok=True)
    redis_port, smtp_port = free_port(), free_port()
    env = base_env(
        postgres_url,
        CELERY_BROKER_URL=f"redis://127.0.0.1:{redis_port}/0",
        REDIS_URL=f"redis://127.0.0.1:{redis_port}/1",
        MAIL_BACKEND="smtp",
        SMTP_URL=f"smtp://127.0.0.1:{smtp_port}",
        SMTP_TIMEOUT_SECONDS="2",
        **settings,
    )
    installation = prepare(postgres_url, organizations, launch=launch)
    running = Rig(workdir, installation, env, PrivateRedis(redis_port), smtp_port)
    running.redis.start()
    try:
        yield running
    finally:
        for child in running.children:
            kill(child)
        running.redis.stop()
        installation.engine.dispose()


def _finish(figures: Figures, running: Rig, started: float) -> Figures:
    figures.total_seconds = round(time.monotonic() - started, 1)
    tally(figures, running.installation, running.mailbox.messages())
    return figures


# --- the scenarios ---------------------------------------------------------------------


def run_sigkill(workdir: Path, postgres_url: str, scale: str) -> Figures:
    """The worker (its whole process group: supervisor, Celery, pool) killed with
    SIGKILL at random points of the campaign (`kills` times), a new one started at once.

    Recovery: the longest wait, over the kills, from a SIGKILL to the first message the
    sink gets after it (the new worker's start-up included)."""
    plan = SCALES[scale]
    seed = random.randrange(1_000_000)
    chooser = random.Random(seed)
    # One random point in each of `kills` equal stretches of 10-85 % of the alert.
    stretch = 0.75 / plan.kills
    shares = [
        chooser.uniform(0.1 + i * stretch, 0.1 + (i + 1) * stretch) for i in range(plan.kills)
    ]
    figures = Figures("sigkill", duplicate_bound=plan.kills * CONCURRENCY * CHECKPOINT)
    with rig(workdir, postgres_url, plan.organizations) as running:
        recipients = running.installation.recipients
        recoveries = []
        with running.mailbox.sink(running.smtp_port):
            started = time.monotonic()
            running.scheduler()
            worker = running.worker()
            for share in shares:
                running.wait_received(int(recipients * share))
                kill(worker)  # SIGKILL, mid-batch
                worker = running.worker()
                recoveries.append(running.mailbox.seconds_to_next(timeout=120, log=running.log))
            running.wait_sent()
            figures.recovery_seconds = round(max(recoveries), 1)
            figures.notes = (
                f"{plan.kills} SIGKILL at {', '.join(f'{s:.0%}' for s in shares)} "
                f"(seed {seed}); recoveries {', '.join(f'{r:.1f}' for r in recoveries)} s"
            )
            return _finish(figures, running, started)


def run_redis_stop(workdir: Path, postgres_url: str, scale: str) -> Figures:
    """The broker (Redis) stopped a quarter of the way through for `redis_down`
    seconds, then started again, empty: every hint it held is lost.

    Recovery: from Redis answering again to the first message the sink gets after it."""
    plan = SCALES[scale]
    figures = Figures("redis_stop", duplicate_bound=CONCURRENCY * CHECKPOINT)
    with (
        rig(workdir, postgres_url, plan.organizations) as running,
        running.mailbox.sink(running.smtp_port),
    ):
        started = time.monotonic()
        running.scheduler()
        running.worker()
        running.wait_received(running.installation.recipients // 4)
        running.redis.stop()
        before = running.mailbox.count()
        time.sleep(plan.redis_down)
        during = running.mailbox.count() - before
        running.redis.start()
        figures.recovery_seconds = round(
            running.mailbox.seconds_to_next(timeout=120, log=running.log), 1
        )
        running.wait_sent()
        figures.notes = (
            f"Redis down {plan.redis_down:.0f} s at 25 %; "
            f"{during} messages went out while it was down"
        )
        return _finish(figures, running, started)


def run_relay(workdir: Path, postgres_url: str, scale: str) -> Figures:
    """The relay answering 451 to one recipient in five and 421 (hanging up) to one
    MAIL in seven until half the alert is out, then down altogether for `relay_down`
    seconds: the alert must pause itself, and resume once the relay answers.

    Recovery: from the relay answering again to the first message it gets."""
    plan = SCALES[scale]
    figures = Figures("relay", duplicate_bound=CONCURRENCY * CHECKPOINT)
    # A recipient may meet several 451s: tries must not run out before the relay heals.
    with rig(workdir, postgres_url, plan.organizations, SEND_MAX_ATTEMPTS="20") as running:
        installation = running.installation
        started = time.monotonic()
        running.scheduler()
        running.worker()
        with running.mailbox.sink(running.smtp_port, defer_every=5, close_every=7) as flaky:
            running.wait_received(installation.recipients // 2)
        hang_ups, deferred = flaky.mails_seen // 7, flaky.recipients_seen // 5
        down_at = time.monotonic()
        running.wait(
            lambda: installation.status() is CampaignStatus.paused,
            timeout=60,
            what="the alert to pause itself",
        )
        paused_after = time.monotonic() - down_at
        time.sleep(max(0.0, down_at + plan.relay_down - time.monotonic()))
        outage = time.monotonic() - down_at
        with running.mailbox.sink(running.smtp_port):
            figures.recovery_seconds = round(
                running.mailbox.seconds_to_next(timeout=120, log=running.log), 1
            )
            running.wait_sent()
        figures.notes = (
            f"{deferred} 451s, {hang_ups} 421 hang-ups; relay down {outage:.0f} s, "
            f"alert paused itself after {paused_after:.1f} s"
        )
        return _finish(figures, running, started)


def _terminate_worker_backends(
    postgres_url: str, stop: threading.Event, hits: Counter[str], database: str
) -> None:
    """pg_terminate_backend on the workers' connections, as often as it finds one in
    the middle of a writing transaction (a claim or a checkpoint committing); one idle
    one (a pooled connection) each second when it finds none."""
    engine = create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            last = time.monotonic()
            while not stop.is_set():
                rows = connection.execute(
                    text(
                        "SELECT pid, backend_xid IS NOT NULL FROM pg_stat_activity"
                        " WHERE datname = :database AND pid <> pg_backend_pid()"
                        " AND application_name = :worker"
                        " AND (backend_xid IS NOT NULL OR :idle_too)"
                        " ORDER BY backend_xid IS NULL LIMIT 1"
                    ),
                    {
                        "database": database,
                        "worker": WORKER_APPLICATION_NAME,
                        "idle_too": time.monotonic() - last > 1,
                    },
                ).all()
                for pid, writing in rows:
                    if connection.scalar(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid}):
                        hits["writing" if writing else "idle"] += 1
                        last = time.monotonic()
                time.sleep(0.005)
    finally:
        engine.dispose()


def run_pg_terminate(workdir: Path, postgres_url: str, scale: str) -> Figures:
    """From a tenth of the alert on, for up to `storm_seconds` (or until 80 % is out),
    a thread kills the workers' PostgreSQL connections with pg_terminate_backend while
    they are in a writing transaction (claims, checkpoints committing), and an idle
    pooled one whenever a second passes without one.

    Recovery: from the storm's end to the first message the sink gets after it.
    Duplicate bound: a checkpoint's worth per connection killed while writing."""
    plan = SCALES[scale]
    figures = Figures("pg_terminate")
    database = postgres_url.rsplit("/", 1)[-1].split("?", 1)[0]
    with rig(workdir, postgres_url, plan.organizations) as running:
        recipients = running.installation.recipients
        hits: Counter[str] = Counter()
        stop = threading.Event()
        storm = threading.Thread(
            target=_terminate_worker_backends, args=(postgres_url, stop, hits, database)
        )
        with running.mailbox.sink(running.smtp_port):
            started = time.monotonic()
            running.scheduler()
            running.worker()
            running.wait_received(recipients // 10)
            storm.start()
            storm_started = time.monotonic()
            try:
                # At least one connection killed mid-transaction, or it tested nothing.
                running.wait(
                    lambda: (
                        hits["writing"] > 0
                        and (
                            running.mailbox.count() >= recipients * 0.8
                            or time.monotonic() - storm_started > plan.storm_seconds
                        )
                    ),
                    timeout=plan.storm_seconds + 30,
                    what="a connection killed mid-transaction",
                )
            finally:
                stop.set()
                storm.join()
            storm_seconds = time.monotonic() - storm_started
            if running.installation.is_sent():
                figures.recovery_seconds = 0.0
            else:
                figures.recovery_seconds = round(
                    running.mailbox.seconds_to_next(timeout=120, log=running.log), 1
                )
            running.wait_sent()
            figures.duplicate_bound = hits["writing"] * CHECKPOINT
            figures.notes = (
                f"{hits['writing']} connections killed mid-transaction, {hits['idle']} idle, "
                f"over {storm_seconds:.0f} s"
            )
            return _finish(figures, running, started)


def run_scheduler(workdir: Path, postgres_url: str, scale: str) -> Figures:
    """Once the worker and the scheduler are up, the alert is scheduled
    `scheduler_lead` seconds ahead; the scheduler (`coalition
    scheduler`, Celery beat, whose periodic scan launches due alerts) is killed with
    SIGKILL shortly before it is due and started again `scheduler_down` seconds after.
    The alert must launch once (one `campaign.launched` in its audit log) and be sent
    fully, exactly once (no duplicates at all: no worker was disturbed).

    Recovery: from the scheduler's restart to the first message the sink gets."""
    plan = SCALES[scale]
    figures = Figures("scheduler", duplicate_bound=0)
    with rig(workdir, postgres_url, plan.organizations, launch=False) as running:
        installation = running.installation
        with running.mailbox.sink(running.smtp_port):
            started = time.monotonic()
            running.worker()
            scheduler = running.scheduler()
            # Both at work before the alert is scheduled: a scan ran, the worker is up.
            running.wait(
                lambda: running.log_has("delivery.scan[") and running.log_has("ready."),
                timeout=120,
                what="the worker and the scheduler to start",
            )
            due = time.monotonic() + plan.scheduler_lead
            schedule(installation, utcnow() + timedelta(seconds=plan.scheduler_lead))
            kill_at = due - random.uniform(0.2, 1.5)
            time.sleep(max(0.0, kill_at - time.monotonic()))
            kill(scheduler)
            killed_before_due = installation.status() is CampaignStatus.scheduled
            time.sleep(max(0.0, due + plan.scheduler_down - time.monotonic()))
            launched_while_down = installation.status() is not CampaignStatus.scheduled
            running.scheduler()
            figures.recovery_seconds = round(
                running.mailbox.seconds_to_next(timeout=120, log=running.log), 1
            )
            running.wait_sent()
            launches = installation.launches()
            figures.notes = (
                f"killed {due - kill_at:.1f} s before due (still scheduled: "
                f"{killed_before_due}), restarted {plan.scheduler_down:.0f} s after due; "
                f"launched while down: {launched_while_down}; launches: {launches}"
            )
            _finish(figures, running, started)
            if launches != 1:
                figures.campaign_sent = False
                figures.notes += " (must be 1)"
            return figures


SCENARIOS: dict[str, Callable[[Path, str, str], Figures]] = {
    "sigkill": run_sigkill,
    "redis_stop": run_redis_stop,
    "relay": run_relay,
    "pg_terminate": run_pg_terminate,
    "scheduler": run_scheduler,
}

"""Send throughput: our pipeline against Postfix's smtp-source, into the same smtp-sink.

    python -m bench.send [--organizations 2500] [--workers 2] [--dkim] [--pairs 3]

Needs PostgreSQL (BENCH_POSTGRES_URL, default the development server), Redis
(BENCH_REDIS_URL) and Postfix's `smtp-sink` and `smtp-source` (Debian package
`postfix`). It creates a scratch database, seeds the demo registry (about four
contacts per organisation), and then, for each of `--pairs` pairs, writes a personalised
alert in four languages, starts `coalition worker` processes as production runs them,
launches and measures, with smtp-source run right before and right after:

- launch to first and to last 250 reply (from the delivery rows' `sent_at`);
- our rate, and smtp-source's rate (`-d -s 4 -m N -l 5000`) against the same sink;
- the workers' peak resident memory (VmHWM of every worker process).

The figures are the median pair's (see PAIRS).

Prints figures; asserts nothing. Not part of the test suite.
"""

import argparse
import math
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy import create_engine, func
from sqlmodel import Session, col, select

from app.accounts.principal import Principal
from bench.figures import POSTGRES, REDIS, Context, Figure, print_table, use_environment
from tests.conftest import scratch_postgres_database

ROOT = Path(__file__).resolve().parents[1]
COALITION = str(Path(sys.executable).parent / "coalition")
SINK_PORT = int(os.environ.get("BENCH_SINK_PORT", "25250"))
WORKERS = 2  # Celery processes: one per core
MESSAGE_SIZE = 5000  # smtp-source -l: about the size of one of our alerts

BODY = """Dear {{ contact.first_name }},

{{ country.name }} ({{ region.name }}) is a party to the Rome Statute; its status on the
Agreement on Privileges and Immunities is: **{{ country.apic_status_text }}**.

{% if country.apic_status != "party" %}
Ask the ministry of foreign affairs to ratify the Agreement before the Assembly.
{% endif %}

1. Write to the ministry.
2. Ask for a meeting with the legal adviser.
3. [Report your action]({{ links.report }}).

Thank you, and greetings to everyone at {{ organization.name }}.
"""


@dataclass
class Figures:
    recipients: int
    snapshot_seconds: float
    first_seconds: float
    last_seconds: float
    rate: float
    peak_mb: float
    # CPU seconds (user, system) spent from launch to the last 250, by kind of process.
    cpu: dict[str, tuple[float, float]]


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
# Who the CPU time went to: the machine's two cores carry all of them.
PROCESS_KINDS = {
    "postgres": "PostgreSQL",
    "smtp-sink": "smtp-sink",
    "redis-server": "Redis",
    "coalition": "workers",
    "celery": "workers",
    "python": "workers",
}


def cpu_seconds_by_kind(worker_pids: set[int]) -> dict[str, tuple[float, float]]:
    """User and system CPU time of every process of each kind (from /proc)."""
    totals = dict.fromkeys(sorted(set(PROCESS_KINDS.values())), (0.0, 0.0))
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        command = stat[stat.index("(") + 1 : stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2 :].split()
        kind = PROCESS_KINDS.get(command.split(":")[0].split()[0])
        if kind == "workers" and int(entry.name) not in worker_pids:
            continue  # another Python process (this one, an editor's language server)
        if kind is not None:
            user, system = totals[kind]
            totals[kind] = (
                user + int(fields[11]) / CLOCK_TICKS,
                system + int(fields[12]) / CLOCK_TICKS,
            )
    return totals


def tool(name: str) -> str:
    found = shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/lib/postfix/sbin")
    if found is None:
        sys.exit(f"{name} not found: install Debian's postfix package")
    return found


@contextmanager
def smtp_sink() -> Iterator[None]:
    sink = subprocess.Popen(
        [tool("smtp-sink"), "-u", "nobody", f"127.0.0.1:{SINK_PORT}", "1024"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    time.sleep(0.5)
    try:
        yield
    finally:
        sink.terminate()
        sink.wait(timeout=10)


def reference_rate(messages: int) -> float:
    started = time.perf_counter()
    subprocess.run(
        [
            tool("smtp-source"),
            "-d",
            "-s",
            "4",
            "-m",
            str(messages),
            "-l",
            str(MESSAGE_SIZE),
            f"127.0.0.1:{SINK_PORT}",
        ],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return messages / (time.perf_counter() - started)


def worker_environment(url: str) -> dict[str, str]:
    """This process's environment for workers on `url`, without DKIM_*: an earlier run
    in this process may have left its key in os.environ (use_environment), and a full
    run's "DKIM off" rows at 100,000 were signed."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("DKIM_")}
    env["DATABASE_URL"] = url
    return env


def prepare(url: str, organizations: int, dkim: bool = False) -> dict[str, str]:
    """A migrated database with the demo registry (about 3.2 subscribed contacts per
    organisation) and the demo users; the environment of production workers on it."""
    env = worker_environment(url)
    env.update(
        CELERY_BROKER_URL=REDIS,
        REDIS_URL=REDIS,
        MAIL_BACKEND="smtp",
        SMTP_URL=f"smtp://127.0.0.1:{SINK_PORT}",
        PUBLIC_BASE_URL="https://alerts.example.org",
    )
    env.setdefault("SECRET_KEY", "bench-send-" + "x" * 32)
    env.pop("DEMO_MODE", None)
    for step in (
        ["db", "upgrade"],
        ["countries", "load"],
        ["demo", "seed", "--organizations", str(organizations)],
        ["demo", "users"],
    ):
        # The demo commands refuse to run outside demo mode; the workers run without it.
        subprocess.run(
            [COALITION, *step], env={**env, "DEMO_MODE": "1"}, check=True, stdout=subprocess.DEVNULL
        )
    return with_dkim(env) if dkim else env


def with_dkim(env: dict[str, str]) -> dict[str, str]:
    """The same environment, signing every message with a new RSA-2048 key."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return {
        **env,
        "DKIM_DOMAIN": "example.org",
        "DKIM_SELECTOR": "bench",
        "DKIM_PRIVATE_KEY": key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode(),
    }


def signing_rate(env: dict[str, str], seconds: float = 1.0) -> float:
    """DKIM signatures a second on one core, with the workers' own signer and key, over
    a message of about our alerts' size: signing alone, on every core, caps our rate."""
    from app.delivery.dkim import DkimSigner

    signer = DkimSigner(
        domain=env["DKIM_DOMAIN"],
        selector=env["DKIM_SELECTOR"],
        private_key_pem=env["DKIM_PRIVATE_KEY"].encode(),
    )
    message = (
        b"From: Coalition <alerts@example.org>\r\nTo: <someone@example.org>\r\n"
        b"Subject: ceiling\r\nMessage-ID: <ceiling@example.org>\r\n\r\n" + b"x" * 70 * 90
    )
    signed = 0
    started = time.process_time()
    while (elapsed := time.process_time() - started) < seconds:
        signer.sign(message)
        signed += 1
    return signed / elapsed


def demo_principal(session: Session, email: str) -> Principal:
    """The principal of one of the demo users (`coalition demo users`)."""
    from app.accounts import service as accounts

    user = accounts.find_user_by_email(session, email)
    if user is None:
        raise LookupError(f"no user {email}: run `coalition demo users` first")
    return accounts.principal_for(user)


def write_alert(env: dict[str, str]) -> int:
    """A four-language alert to every active member, approved and ready to launch."""
    use_environment(env)
    from app.campaigns import lifecycle
    from app.campaigns import service as campaigns
    from app.campaigns.schemas import CampaignCreate
    from app.core.db import session_scope

    variants = [
        {
            "language": language,
            "subject": f"{{{{ country.name }}}}: APIC ({language})",
            "body": BODY,
        }
        for language in ("en", "fr", "es", "ar")
    ]
    with session_scope() as session:
        writer = demo_principal(session, "secretariat@example.org")
        admin = demo_principal(session, "admin@example.org")
        campaign = campaigns.create_campaign(
            session,
            writer,
            CampaignCreate.model_validate(
                {
                    "title": "Benchmark alert",
                    "action_type": "contact_officials",
                    "default_language": "en",
                    "variants": variants,
                    "audience": {},
                }
            ),
        )
        lifecycle.approve(session, admin, campaign)
        return campaign.id or 0


def launch(campaign_id: int) -> None:
    from app.campaigns import lifecycle
    from app.campaigns.models import Campaign
    from app.core.db import session_scope

    with session_scope() as session:
        writer = demo_principal(session, "secretariat@example.org")
        lifecycle.launch(session, writer, session.get_one(Campaign, campaign_id))


def process_tree(parents: list[int]) -> set[int]:
    """The worker processes: the supervisor, Celery, and its pool."""
    pids = set(parents)
    for parent in parents:
        for child in Path("/proc").glob("[0-9]*"):
            try:
                status = (child / "status").read_text()
            except OSError:
                continue
            if f"PPid:\t{parent}\n" in status:
                pids.add(int(child.name))
    for pid in list(pids):
        for grandchild in Path("/proc").glob("[0-9]*"):
            try:
                if f"PPid:\t{pid}\n" in (grandchild / "status").read_text():
                    pids.add(int(grandchild.name))
            except OSError:
                continue
    return pids


def peak_memory_mb(pids: set[int]) -> float:
    """The largest VmHWM among the worker processes."""
    peak = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    peak = max(peak, int(line.split()[1]))
        except OSError:
            continue
    return peak / 1024


def wait_for_workers(env: dict[str, str], processes: int, timeout: float = 120) -> None:
    """Until the Celery worker answers a ping with its pool up (a launch before that
    would measure the worker's start-up, not the pipeline)."""
    use_environment(env)
    from workers.celery_app import create_celery_app

    app = create_celery_app()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        replies = app.control.ping(timeout=1.0)
        if replies:
            stats = app.control.inspect(timeout=1.0).stats() or {}
            pools = [len(s.get("pool", {}).get("processes", [])) for s in stats.values()]
            if sum(pools) >= processes:
                return
        time.sleep(0.5)
    sys.exit("the Celery workers did not come up: run `coalition worker` by hand")


def wait_until_sent(session: Session, campaign_id: int) -> tuple[Any, Any, Any, int]:
    """Polls until the campaign has nothing left to send; then (launched_at, first and
    last sent_at, messages sent)."""
    from app.campaigns.models import Campaign, CampaignStatus
    from app.delivery.models import Delivery, DeliveryState

    while True:
        status = session.scalar(select(Campaign.status).where(col(Campaign.id) == campaign_id))
        left = session.scalar(
            select(func.count()).where(
                col(Delivery.campaign_id) == campaign_id,
                col(Delivery.state).in_([DeliveryState.queued, DeliveryState.sending]),
            )
        )
        if not left or status is not CampaignStatus.sending:
            break
        session.rollback()
        time.sleep(0.2)
    launched = session.scalar(select(Campaign.launched_at).where(col(Campaign.id) == campaign_id))
    first, last, sent = session.execute(
        select(func.min(Delivery.sent_at), func.max(Delivery.sent_at), func.count()).where(
            col(Delivery.campaign_id) == campaign_id,
            col(Delivery.state) == DeliveryState.sent,
        )
    ).one()
    return launched, first, last, sent


def measure(env: dict[str, str], campaign_id: int, workers: int) -> Figures:

    redis.Redis.from_url(REDIS).flushdb()
    children = [
        subprocess.Popen(
            [COALITION, "worker", "--concurrency", str(workers)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
    ]
    engine = create_engine(env["DATABASE_URL"])
    try:
        wait_for_workers(env, workers)
        # This process launches as the web server does, which imports the Celery app
        # at start-up (app/main.py), not in the launch.
        from app.core import jobs

        jobs.warm_up()
        worker_pids = process_tree([child.pid for child in children])
        cpu_before = cpu_seconds_by_kind(worker_pids)
        snapshot_started = time.perf_counter()
        launch(campaign_id)
        snapshot_seconds = time.perf_counter() - snapshot_started
        with Session(engine) as session:
            launched, first, last, sent = wait_until_sent(session, campaign_id)
        cpu_after = cpu_seconds_by_kind(worker_pids)
        peak = peak_memory_mb(worker_pids)
    finally:
        for child in children:
            os.killpg(child.pid, signal.SIGTERM)
            child.wait(timeout=30)
        engine.dispose()
    if launched is None or first is None or last is None:
        sys.exit("nothing was sent: see the worker (run `coalition worker` by hand)")
    elapsed = (last - launched).total_seconds()
    return Figures(
        recipients=sent,
        snapshot_seconds=snapshot_seconds,
        first_seconds=(first - launched).total_seconds(),
        last_seconds=elapsed,
        rate=sent / elapsed if elapsed else 0.0,
        peak_mb=peak,
        cpu={
            kind: (
                cpu_after[kind][0] - cpu_before[kind][0],
                cpu_after[kind][1] - cpu_before[kind][1],
            )
            for kind in cpu_after
        },
    )


def profile_in_process(env: dict[str, str], campaign_id: int) -> None:
    """Launch, then send every batch in this process under cProfile, and print where the
    time goes (one process, no Celery: the cost of the pipeline itself)."""
    import cProfile
    import pstats

    use_environment(env)
    from app.core.settings import get_settings
    from app.delivery.sender import send_campaign_batch

    get_settings.cache_clear()
    started = time.perf_counter()
    launch(campaign_id)
    launched = time.perf_counter()
    profiler = cProfile.Profile()
    sent = 0
    profiler.enable()
    while True:
        report = send_campaign_batch(campaign_id)
        sent += report.sent
        if not report.claimed:
            break
    profiler.disable()
    finished = time.perf_counter()
    print(
        f"\nin-process profile: launch {launched - started:.2f} s, {sent} sent in "
        f"{finished - launched:.2f} s ({sent / (finished - launched):.0f} messages/s "
        "under the profiler)"
    )
    stats = pstats.Stats(profiler)
    stats.sort_stats("tottime").print_stats(25)
    stats.sort_stats("cumulative").print_stats(35)


# Demo-seeded registries hold about 3.2 subscribed contacts per organisation.
RECIPIENTS_PER_ORGANIZATION = 3.19
SIZES = (10_000, 100_000)
QUICK_SIZES = (1_000,)
PEAK_MEMORY_GOAL_MB = 250


def run(context: Context) -> list[Figure]:
    """Each size with and without DKIM (one registry per size, a new alert per run)."""
    figures: list[Figure] = []
    for size in QUICK_SIZES if context.quick else SIZES:
        organizations = math.ceil(size / RECIPIENTS_PER_ORGANIZATION)
        with scratch_postgres_database(context.postgres, "bench_send") as url, smtp_sink():
            plain = prepare(url, organizations)
            for dkim in (False, True):
                env = with_dkim(plain) if dkim else plain
                pairs = measure_pairs(env, WORKERS, 1 if context.quick else PAIRS)
                signing = signing_rate(env) if dkim else None
                report(pairs, organizations, WORKERS, dkim, signing)
                figures.extend(send_figures(pairs, dkim, signing=signing))
    return figures


# smtp-source alone moved between 2,000 and 14,600 messages/s from one run to the next
# on this shared machine (a tight loop of system calls, more exposed to the host than our
# workers are), so one run of each decides the ratio as much as the pipeline does. Each
# pair is smtp-source, our send, smtp-source again, all with the same count; the pair's
# reference is the faster smtp-source run, so that a slow moment never flatters our
# ratio. The figures are the median pair's, with every pair's ratio beside them.
PAIRS = 3


@dataclass(frozen=True)
class Pair:
    ours: Figures
    references: tuple[float, float]  # smtp-source's messages per second, before and after

    @property
    def reference(self) -> float:
        return max(self.references)

    @property
    def ratio(self) -> float:
        return self.ours.rate / self.reference


def measure_pairs(env: dict[str, str], workers: int, pairs: int = PAIRS) -> list[Pair]:
    """`pairs` times: smtp-source, then a new alert to the same audience sent by our
    workers, then smtp-source again with the count we sent."""
    measured = []
    for _ in range(pairs):
        campaign_id = write_alert(env)
        before = reference_rate(_audience_size(env, campaign_id))
        ours = measure(env, campaign_id, workers)
        measured.append(Pair(ours, (before, reference_rate(ours.recipients))))
    return measured


def _audience_size(env: dict[str, str], campaign_id: int) -> int:
    """How many the alert will reach (the audience preview's total), for the
    smtp-source run before it."""
    use_environment(env)
    from app.campaigns.audience import AudienceFilter, audience_preview
    from app.campaigns.models import Campaign
    from app.core.db import session_scope

    with session_scope(writes=False) as session:
        campaign = session.get_one(Campaign, campaign_id)
        preview = audience_preview(
            session,
            demo_principal(session, "secretariat@example.org"),
            AudienceFilter.model_validate(campaign.audience),
            topics=campaign.topics,
        )
        return preview.total


def median_pair(pairs: list[Pair]) -> Pair:
    return sorted(pairs, key=lambda pair: pair.ratio)[len(pairs) // 2]


def signing_ceiling(signing: float | None, workers: int, reference: float) -> str:
    """What signing alone allows: every worker signing and doing nothing else."""
    if signing is None:
        return ""
    return (
        f"; signing alone on {workers} cores ({signing:,.0f} signatures/s each) caps ours at "
        f"{signing * workers:,.0f} msg/s, a ratio of {signing * workers / reference:.3f}"
    )


def send_figures(
    pairs: list[Pair], dkim: bool, workers: int = WORKERS, signing: float | None = None
) -> list[Figure]:
    chosen = median_pair(pairs)
    ours = chosen.ours
    what = f"{ours.recipients:,} recipients, DKIM {'RSA-2048' if dkim else 'off'}"
    cpu = ", ".join(
        f"{kind} {(user + system) * 1e6 / ours.recipients:.0f}"
        for kind, (user, system) in ours.cpu.items()
    )
    ratios = ", ".join(f"{pair.ratio:.3f}" for pair in pairs)
    firsts = sorted(pair.ours.first_seconds for pair in pairs)
    return [
        Figure(
            "send",
            f"rate / smtp-source -d -s 4, {what}",
            chosen.ratio,
            "",
            at_least=0.25,
            reference=f"{chosen.reference:,.0f} msg/s",
            note=f"median of {len(pairs)} pairs (smtp-source, ours, smtp-source; the faster "
            f"smtp-source run counts): ratios {ratios}; "
            f"ours {ours.rate:,.0f} msg/s with {workers} worker processes; "
            f"CPU µs/message: {cpu}{signing_ceiling(signing, workers, chosen.reference)}",
        ),
        Figure(
            "send",
            f"launch to first message, {what}",
            firsts[len(firsts) // 2],
            "s",
            at_most=1.0,
            note=f"median of {len(pairs)} launches ({', '.join(f'{f:.2f}' for f in firsts)} s); "
            f"the launch transaction (snapshot) took {ours.snapshot_seconds:.2f} s in the "
            "median pair",
        ),
        Figure(
            "send",
            f"worker peak memory, {what}",
            max(pair.ours.peak_mb for pair in pairs),
            "MB",
            at_most=PEAK_MEMORY_GOAL_MB,
            note="largest VmHWM among the worker processes, over every pair",
        ),
    ]


def report(
    pairs: list[Pair], organizations: int, workers: int, dkim: bool, signing: float | None = None
) -> None:
    print(
        f"\nsend benchmark: {organizations} organisations, {workers} worker processes, "
        f"DKIM {'RSA-2048' if dkim else 'off'}, {len(pairs)} pairs"
    )
    for number, pair in enumerate(pairs, 1):
        ours = pair.ours
        print(
            f"  pair {number}: {ours.recipients} recipients, snapshot "
            f"{ours.snapshot_seconds:.2f} s, first 250 {ours.first_seconds:.2f} s, last "
            f"{ours.last_seconds:.2f} s; ours {ours.rate:.0f}/s, smtp-source "
            f"{pair.references[0]:.0f}/s before and {pair.references[1]:.0f}/s after, "
            f"ratio {pair.ratio:.3f}, peak {ours.peak_mb:.0f} MB"
        )
    chosen = median_pair(pairs)
    print(f"  median ratio               {chosen.ratio:.3f}   (goal >= 0.25)")
    if signing is not None:
        print(f"  ceiling{signing_ceiling(signing, workers, chosen.reference)[1:]}")
    print("  CPU per message in the median pair, launch to last 250 (of which system):")
    for kind, (user, system) in chosen.ours.cpu.items():
        per_message = 1e6 / chosen.ours.recipients
        print(
            f"    {kind:<24} {(user + system) * per_message:5.0f} us"
            f"   ({system * per_message:.0f} us)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--organizations", type=int, default=2500)
    parser.add_argument("--workers", type=int, default=WORKERS, help="Celery processes")
    parser.add_argument("--dkim", action="store_true", help="sign with RSA-2048")
    parser.add_argument(
        "--profile", action="store_true", help="send in this process under cProfile instead"
    )
    parser.add_argument(
        "--pairs", type=int, default=PAIRS, help="runs of smtp-source, ours, smtp-source"
    )
    args = parser.parse_args()
    with scratch_postgres_database(POSTGRES, "bench_send") as url, smtp_sink():
        env = prepare(url, args.organizations, args.dkim)
        if args.profile:
            profile_in_process(env, write_alert(env))
            return
        pairs = measure_pairs(env, args.workers, args.pairs)
        signing = signing_rate(env) if args.dkim else None
    report(pairs, args.organizations, args.workers, args.dkim, signing)
    print_table(
        send_figures(pairs, args.dkim, args.workers, signing=signing), title="Send benchmark"
    )


if __name__ == "__main__":
    main()

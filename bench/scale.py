"""Scale data: a registry a hundred times the coalition's, loaded in bulk, and one
launched alert with its deliveries and responses for the report queries (issue 8).

    python -m bench.scale [--organizations 250000] [--contacts-per-organization 4]
                          [--deliveries 1000000] [--events 3000000] [--quick] [--keep]

`prepare_database(url)` migrates an empty PostgreSQL database as production does;
`generate(url, ...)` loads it with PostgreSQL COPY (psycopg's `cursor.copy()`), every
table on its own connection at once, with the tables' secondary indexes, unique and
foreign-key constraints dropped for the load and created again afterwards (which also
checks that the data keeps them). Rows are built in Python from one seeded
`random.Random`, with the demo registry's vocabulary (app/demo/vocabulary.py) for
names, weights and languages, and follow what the app itself writes:

- organisations over the five regions and every country, weighted as the demo seed
  weights them; types, membership statuses, focus areas, working languages, custom
  fields, merged archives, and an application for each applicant;
- contacts: names of the country's people, addresses unique across the registry (on
  reserved domains only), roles, languages, topic opt-outs, consent, and subscription
  and bounce states (mostly subscribed; some unsubscribed, paused, bounced);
- one alert (variants in five languages, every region) launched ten days ago to
  `deliveries` contacts, as the launch snapshot writes them (Message-ID, token,
  language chosen as the audience query chooses it), sent over the following hour or
  so; a few failed. The responses (`events` rows) tell the same story as the
  registry: each recipient whose contact is now unsubscribed or bounced has the
  event that made it so (and a suppression for a hard bounce); reports of actions
  from a share of the organisations reached, each with its `acted` event; opens and
  clicks (with link numbers, several per person, some marked as a mail scanner's)
  make up the rest.

Sequences are set after the load and every table is analysed at the end.
"""

import argparse
import hashlib
import importlib
import json
import multiprocessing
import os
import pkgutil
import secrets
import subprocess
import sys
import threading
import time
import traceback
from array import array
from bisect import bisect
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import cache, cached_property
from itertools import accumulate
from pathlib import Path
from queue import Empty
from random import Random
from typing import Any

import psycopg
import pycountry
from psycopg import sql
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)
from sqlalchemy.engine import make_url

from bench.figures import POSTGRES, Figure, console, print_table
from tests.conftest import scratch_postgres_database

os.environ.setdefault("SECRET_KEY", "bench-" + "x" * 40)

from app.campaigns.topics import Topic
from app.demo import vocabulary as vocab
from app.demo.seed import (
    _JOIN_YEAR_WEIGHTS,
    ACRONYM_RATE,
    CONSENT_RATE,
    EN_DASH,
    EXTRA_ENGLISH_RATE,
    FIRST_JOINED,
    HARD_BOUNCE_RATE,
    LAST_DAY,
    MEMBERSHIP_STATUS_WEIGHTS,
    NO_FOCAL_POINT_RATE,
    NOTE_RATE,
    PAUSED_RATE,
    PERSONAL_EMAIL_RATE,
    RESERVED_DOMAINS,
    SECOND_LANGUAGE_FIRST_RATE,
    SOFT_BOUNCE_RATE,
    TWO_FOCAL_POINTS_RATE,
    UNSUBSCRIBED_RATE,
    WEBSITE_RATE,
    _acronym,
    _ascii_word,
    _ascii_words,
    _romanize,
    _short_country_name,
)
from app.members.models import MembershipStatus, OrganizationType
from app.tracking.models import ReportedActionType

ROOT = Path(__file__).resolve().parents[1]
COALITION = str(Path(sys.executable).parent / "coalition")
DEFAULT_SEED = 2026

# Issue 8: 250,000 organisations and 1,000,000 contacts in under two minutes.
FULL = {"organizations": 250_000, "deliveries": 1_000_000, "events": 3_000_000}
QUICK = {"organizations": 5_000, "deliveries": 20_000, "events": 60_000}
GOAL_SECONDS = 120.0

CHUNK = 2_000  # organisations (or deliveries) per block written to COPY
WORKERS = 2  # processes generating the registry (the machine has two cores)

REGISTRY_TABLES = (
    "organizations",
    "organization_focus_areas",
    "organization_languages",
    "contacts",
    "contact_topic_opt_outs",
    "membership_applications",
)
RESPONSE_TABLES = ("deliveries", "response_events", "action_reports", "suppressions")

# --- what the registry looks like, beyond the demo seed's rates --------------------------

TOPIC_OPT_OUT_RATE = 0.05
ADDRESS_RATE = 0.4
MERGED_RATE = 0.3  # of archived organisations: merged into another of their country
CUSTOM_FIELDS: tuple[tuple[str, str, str, list[str]], ...] = (
    # key, label, type, choices
    ("staff_size", "Staff (full-time)", "number", []),
    ("national_coalition", "National coalition", "choice", ["member", "observer", "none"]),
    ("details_verified_on", "Contact details verified on", "date", []),
)
MOTIVATIONS = (
    "We work on accountability for international crimes and want to join the campaign "
    "for universal ratification.",
    "Our lawyers represent victims; we would like to coordinate with other members in the region.",
    "We document violations and train journalists on international justice.",
)

# --- the alert and its responses -----------------------------------------------------------

ALERT_LANGUAGES = ("en", "fr", "es", "pt", "ar")
LAUNCHED_DAYS_AGO = 10
SEND_RATE = 250.0  # messages per second, about what the send benchmark reaches
FAILED_HARD_SHARE = 0.4  # of hard-bounced recipients: refused at send (the rest bounce later)
TEMPORARY_FAILURE_RATE = 0.002  # gave up after repeated 4xx
ACTING_ORGANIZATION_RATE = 0.12  # of the organisations reached
SECOND_REPORT_RATE = 0.1
OPENER_RATE = 0.6  # of deliveries delivered
CLICKER_RATE = 0.2
SCANNER_RATE = 0.04  # deliveries whose every link a mail gateway followed on arrival
AUTOMATED_OPENER_RATE = 0.03
OPEN_SHARE = 0.7  # of the events left after the ones the registry's states call for
UNSUBSCRIBE_WAYS, UNSUBSCRIBE_WEIGHTS = ("one-click", "link", "preferences"), (0.5, 0.9)
OPEN_SCANNERS = ("scanner: Barracuda", "scanner: Mimecast", "HEAD request", "no user agent")
BURST_WINDOW = 2
ENGAGED_WITH = (
    "Ministry of Foreign Affairs, legal adviser",
    "Ministry of Justice",
    "Parliamentary foreign affairs committee",
    "Office of the Attorney General",
    "Permanent mission in The Hague",
    "National human rights commission",
    "Members of parliament",
    "",
)
REPORT_NOTES = (
    "Sent the model letter; a meeting is planned next month.",
    "Met the legal adviser, who promised to raise it with the minister.",
    "Joint statement with three other members, published in the national press.",
    "Radio interview on the Agreement and the Assembly.",
    "",
    "",
)
REPORTED_ACTION_WEIGHTS = {
    ReportedActionType.wrote_to_officials: 0.35,
    ReportedActionType.met_officials: 0.2,
    ReportedActionType.parliamentary_engagement: 0.1,
    ReportedActionType.public_statement: 0.1,
    ReportedActionType.media: 0.08,
    ReportedActionType.event: 0.07,
    ReportedActionType.signed_on: 0.05,
    ReportedActionType.other: 0.05,
}
REPORTED_ACTIONS = tuple(action.value for action in REPORTED_ACTION_WEIGHTS)
REPORTED_ACTION_CUMULATIVE = tuple(accumulate(REPORTED_ACTION_WEIGHTS.values()))[:-1]
ALERT_BODY = """Dear {{ contact.first_name }},

The Assembly of States Parties meets next month. {{ country.name }} ({{ region.name }})
is a party to the Rome Statute; its status on the Agreement on Privileges and
Immunities is: **{{ country.apic_status_text }}**.

1. Read the [model letter](https://coalition.example.org/apic/model-letter).
2. Check the [ratification table](https://coalition.example.org/apic/status).
3. See the [Assembly's agenda](https://asp.example.org/agenda).
4. Tell us what you did: [report your action]({{ links.report }}).

Thank you, and greetings to everyone at {{ organization.name }}.
"""


@dataclass
class ScaleData:
    """What `generate` loaded, and how long it took."""

    url: str
    organizations: int
    contacts: int
    deliveries: int
    events: int
    action_reports: int
    campaign_id: int | None
    registry_seconds: float  # organisations and contacts, with their tables and indexes
    responses_seconds: float  # deliveries, events, action reports, suppressions
    rows: dict[str, int] = field(default_factory=dict)  # per table
    # Where the registry's time went: generating and copying, building indexes.
    registry_phases: dict[str, float] = field(default_factory=dict)
    responses_phases: dict[str, float] = field(default_factory=dict)
    # The machine's one-minute load average before and after the registry's load: the
    # machine has two cores, and other work on it slows the figures down.
    load_average: tuple[float, float] = (0.0, 0.0)
    # CPU seconds by whom ("Python": this process and its generators, "PostgreSQL": the
    # server processes of the COPYs and index builds): what the load costs on an idle
    # machine, whatever else ran beside it.
    registry_cpu: dict[str, float] = field(default_factory=dict)
    responses_cpu: dict[str, float] = field(default_factory=dict)


# --- preparing a database ------------------------------------------------------------------


def prepare_database(url: str) -> None:
    """Migrate an empty database and load the countries, as an installation does."""
    env = {**os.environ, "DATABASE_URL": url}
    for step in (["db", "upgrade"], ["countries", "load"]):
        subprocess.run([COALITION, *step], env=env, check=True, stdout=subprocess.DEVNULL, cwd=ROOT)


def _conninfo(url: str) -> str:
    """psycopg's connection string for a SQLAlchemy URL."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


# --- generating --------------------------------------------------------------------------------


def generate(
    url: str,
    *,
    organizations: int,
    contacts_per_organization: float = 4,
    deliveries: int,
    events: int,
    progress: bool = True,
    seed: int = DEFAULT_SEED,
) -> ScaleData:
    """Load `organizations` organisations with about `contacts_per_organization`
    contacts each (exactly their product in all), and, when `deliveries` > 0, one alert
    launched to that many of the contacts with `events` response events.

    The database must be migrated (`prepare_database`) with an empty registry.
    """
    if organizations < 1:
        raise ValueError("organizations must be at least 1")
    if contacts_per_organization < 1:
        raise ValueError("contacts_per_organization must be at least 1")
    contacts = round(organizations * contacts_per_organization)
    if not 0 <= deliveries <= contacts:
        raise ValueError(f"deliveries must be between 0 and the {contacts:,} contacts")
    if events < 0 or (events and not deliveries):
        raise ValueError("events need deliveries to answer")
    rng = Random(seed)
    conninfo = _conninfo(url)
    with (
        psycopg.connect(conninfo, autocommit=True) as admin,
        _progress(progress) as bars,
    ):
        existing = admin.execute("SELECT count(*) FROM organizations").fetchone()
        if existing and existing[0]:
            raise RuntimeError(
                f"the registry already has {existing[0]:,} organisations: "
                "generate() loads into an empty one (prepare_database on a new database)"
            )
        data = ScaleData(url, organizations, contacts, 0, 0, 0, None, 0.0, 0.0)

        load_before = os.getloadavg()[0]
        started, cpu_started = time.perf_counter(), time.process_time()
        admin_cpu = _backend_cpu(admin)
        registry = _Registry(seed, _countries(admin), organizations, contacts)
        _insert_custom_fields(admin)
        with _constraints_dropped(
            admin, conninfo, REGISTRY_TABLES, data.registry_phases, data.registry_cpu
        ):
            loaded = time.perf_counter()
            data.rows |= registry.load(conninfo, bars, data.registry_cpu)
            data.registry_phases["generate and COPY"] = time.perf_counter() - loaded
        _set_sequences(admin, REGISTRY_TABLES)
        _analyse(admin, REGISTRY_TABLES, data.registry_phases)
        data.registry_seconds = time.perf_counter() - started
        _add(data.registry_cpu, "Python", time.process_time() - cpu_started)
        _add(data.registry_cpu, "PostgreSQL", _backend_cpu(admin) - admin_cpu)
        data.load_average = (load_before, os.getloadavg()[0])
        if progress:
            console.print(
                f"registry: {data.registry_seconds:.1f} s ({_seconds(data.registry_phases)}; "
                f"CPU {_seconds(data.registry_cpu)})"
            )

        if deliveries:
            started, cpu_started = time.perf_counter(), time.process_time()
            admin_cpu = _backend_cpu(admin)
            responses = _Responses(rng, url, admin, deliveries, events)
            with _constraints_dropped(
                admin, conninfo, RESPONSE_TABLES, data.responses_phases, data.responses_cpu
            ):
                loaded = time.perf_counter()
                data.rows |= responses.load(conninfo, bars, data.responses_cpu)
                data.responses_phases["generate and COPY"] = time.perf_counter() - loaded
            responses.update_contacts(admin)
            _set_sequences(admin, RESPONSE_TABLES)
            _analyse(admin, (*RESPONSE_TABLES, "campaigns"), data.responses_phases)
            data.campaign_id = responses.campaign_id
            data.deliveries = data.rows["deliveries"]
            data.events = data.rows["response_events"]
            data.action_reports = data.rows["action_reports"]
            data.responses_seconds = time.perf_counter() - started
            _add(data.responses_cpu, "Python", time.process_time() - cpu_started)
            _add(data.responses_cpu, "PostgreSQL", _backend_cpu(admin) - admin_cpu)
    return data


def _add(totals: dict[str, float], key: str, value: float) -> None:
    totals[key] = totals.get(key, 0.0) + value


def _analyse(
    admin: psycopg.Connection[Any], tables: Sequence[str], phases: dict[str, float]
) -> None:
    """Planner statistics for the new rows (autovacuum would take its time)."""
    started = time.perf_counter()
    for table in tables:
        admin.execute(sql.SQL("ANALYZE {}").format(sql.Identifier(table)))
    phases["ANALYZE"] = time.perf_counter() - started


@contextmanager
def _progress(enabled: bool) -> Iterator[Progress]:
    bars = Progress(
        TextColumn("{task.description:<28}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        disable=not enabled,
        transient=False,
    )
    with bars:
        yield bars


class _Copy:
    """One table's COPY on a connection of its own, fed blocks of text lines."""

    def __init__(
        self,
        connections: ExitStack,
        streams: ExitStack,
        conninfo: str,
        table: str,
        columns: Sequence[str],
    ) -> None:
        self.table = table
        self.rows = 0
        self.connection = connections.enter_context(psycopg.connect(conninfo))
        self.connection.execute("SET synchronous_commit = off")
        statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
            sql.Identifier(table), sql.SQL(", ").join(map(sql.Identifier, columns))
        )
        self._copy = streams.enter_context(self.connection.cursor().copy(statement))

    def write(self, lines: list[str]) -> None:
        if lines:
            self._copy.write("".join(lines))
            self.rows += len(lines)


@contextmanager
def _copies(
    conninfo: str, tables: Mapping[str, Sequence[str]], cpu: dict[str, float]
) -> Iterator[dict[str, _Copy]]:
    """A COPY per table at once, each committed once every block is written; adds the
    CPU time of their PostgreSQL processes to cpu["PostgreSQL"]."""
    with ExitStack() as connections:
        with ExitStack() as streams:
            copies = {
                table: _Copy(connections, streams, conninfo, table, columns)
                for table, columns in tables.items()
            }
            yield copies
        for copy in copies.values():  # every COPY has ended
            copy.connection.commit()
            _add(cpu, "PostgreSQL", _backend_cpu(copy.connection))


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def _backend_cpu(connection: psycopg.Connection[Any]) -> float:
    """CPU seconds the connection's PostgreSQL process has used (0 when the server is
    not on this machine)."""
    try:
        stat = Path(f"/proc/{connection.info.backend_pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


# --- indexes and constraints around the load --------------------------------------------------


@contextmanager
def _constraints_dropped(
    admin: psycopg.Connection[Any],
    conninfo: str,
    tables: Sequence[str],
    phases: dict[str, float],
    cpu: dict[str, float],
) -> Iterator[None]:
    """Drop the tables' secondary indexes, unique and foreign-key constraints (not the
    primary keys); create them again, with the same names and definitions, once the
    rows are in: one sort per index instead of a million insertions, and one join per
    foreign key instead of a look-up per row. Creating them checks the rows as COPY
    would have."""
    started = time.perf_counter()
    constraints = admin.execute(
        """
        SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid), contype
        FROM pg_constraint
        WHERE conrelid = ANY(%s::regclass[]) AND contype IN ('u', 'f')
        ORDER BY contype, conrelid::regclass::text, conname
        """,
        (list(tables),),
    ).fetchall()
    indexes = admin.execute(
        """
        SELECT indrelid::regclass::text, indexrelid::regclass::text,
               pg_get_indexdef(indexrelid)
        FROM pg_index
        WHERE indrelid = ANY(%s::regclass[]) AND NOT indisprimary
          AND NOT EXISTS (
            SELECT 1 FROM pg_constraint
            WHERE conindid = indexrelid AND contype IN ('p', 'u', 'x')
          )
        ORDER BY 1, 2
        """,
        (list(tables),),
    ).fetchall()
    # Foreign keys first ('f' sorts before 'u'): one may lean on a unique constraint.
    for table, name, _definition, _kind in constraints:
        admin.execute(
            sql.SQL("ALTER TABLE {} DROP CONSTRAINT {}").format(
                sql.Identifier(table), sql.Identifier(name)
            )
        )
    for _table, name, _definition in indexes:
        admin.execute(sql.SQL("DROP INDEX {}").format(sql.Identifier(name)))
    phases["drop indexes and constraints"] = time.perf_counter() - started
    yield
    started = time.perf_counter()
    timings = _restore(conninfo, indexes, [c for c in constraints if c[3] == "u"], cpu)
    phases["create indexes and unique constraints (two at a time)"] = time.perf_counter() - started
    for name in sorted(timings, key=timings.__getitem__, reverse=True)[:2]:
        phases[f"of which {name}"] = timings[name]
    started = time.perf_counter()
    _restore(conninfo, [], [c for c in constraints if c[3] == "f"], cpu)
    phases["check foreign keys"] = time.perf_counter() - started


def _restore(
    conninfo: str,
    indexes: Sequence[tuple[str, str, str]],
    constraints: Sequence[tuple[str, str, str, str]],
    cpu: dict[str, float],
) -> dict[str, float]:
    """Build the indexes and check the constraints two at a time, on two connections
    (the machine has two cores), the slowest first: GIN indexes (trigram search), then
    the largest tables'. Returns the seconds each took, by name."""
    sizes = {table: _table_size(conninfo, table) for table, *_ in (*indexes, *constraints)}
    ordered = sorted(indexes, key=lambda i: (" USING gin " not in i[2], -sizes[i[0]]))
    statements: list[tuple[str, sql.SQL | sql.Composed]] = [
        (name, sql.SQL(definition)) for _t, name, definition in ordered
    ]
    statements += [
        (
            name,
            sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} {}").format(
                sql.Identifier(table), sql.Identifier(name), sql.SQL(definition)
            ),
        )
        for table, name, definition, _kind in constraints
    ]
    if not statements:
        return {}
    with ExitStack() as stack:
        workers = [
            stack.enter_context(psycopg.connect(conninfo, autocommit=True)) for _ in range(2)
        ]
        for worker in workers:
            worker.execute("SET maintenance_work_mem = '512MB'")
        timings = _run_two_at_a_time(workers, list(statements))
        for worker in workers:
            _add(cpu, "PostgreSQL", _backend_cpu(worker))
    return timings


def _table_size(conninfo: str, table: str) -> int:
    with psycopg.connect(conninfo) as connection:
        row = connection.execute("SELECT pg_relation_size(%s::regclass)", (table,)).fetchone()
        return row[0] if row else 0


def _run_two_at_a_time(
    workers: list[psycopg.Connection[Any]],
    statements: list[tuple[str, sql.SQL | sql.Composed]],
) -> dict[str, float]:
    """Each connection takes the next statement when its last one is done."""
    lock = threading.Lock()
    errors: list[BaseException] = []
    timings: dict[str, float] = {}

    def work(connection: psycopg.Connection[Any]) -> None:
        while True:
            with lock:
                if not statements or errors:
                    return
                name, statement = statements.pop(0)
            try:
                started = time.perf_counter()
                connection.execute(statement)
                timings[name] = time.perf_counter() - started
            except BaseException as error:  # re-raised in the caller
                with lock:
                    errors.append(error)
                return

    threads = [threading.Thread(target=work, args=(worker,)) for worker in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return timings


def _set_sequences(admin: psycopg.Connection[Any], tables: Sequence[str]) -> None:
    """COPY gave the ids; the sequences go on from the largest."""
    with_ids = admin.execute(
        "SELECT table_name FROM information_schema.columns "
        "WHERE table_schema = 'public' AND column_name = 'id' AND table_name = ANY(%s)",
        (list(tables),),
    ).fetchall()
    for (table,) in with_ids:
        admin.execute(
            sql.SQL(
                "SELECT setval(pg_get_serial_sequence({table_text}, 'id'), "
                "coalesce(max(id), 0) + 1, false) FROM {table}"
            ).format(table_text=sql.Literal(table), table=sql.Identifier(table))
        )


# --- the registry ------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Country:
    iso3: str
    iso2: str | None
    name: str
    region: str
    weight: float

    def short_name(self, language: str) -> str:
        return _short_country_name(self.iso3, self.iso2, self.name, language)

    @cached_property
    def code(self) -> str:
        return (self.iso2 or self.iso3).lower()

    @cached_property
    def mail_providers(self) -> tuple[str, ...]:
        """Personal addresses: "mail.<country>.example.org" and the like."""
        return tuple(f"mail.{self.code}.{domain}" for domain in RESERVED_DOMAINS)

    def after_in(self) -> str:
        name = self.short_name("en")
        return f"the {name}" if self.iso3 in vocab.ENGLISH_THE else name


def _countries(admin: psycopg.Connection[Any]) -> list[_Country]:
    rows = admin.execute("SELECT iso3, name, region_slug FROM countries ORDER BY iso3").fetchall()
    if not rows:
        raise RuntimeError("no countries: run prepare_database (coalition countries load) first")
    countries = []
    for iso3, name, region in rows:
        record = pycountry.countries.get(alpha_3=iso3)
        countries.append(
            _Country(
                iso3,
                record.alpha_2 if record else None,
                name,
                region,
                float(vocab.COUNTRY_WEIGHTS.get(iso3, 1)),
            )
        )
    return countries


def _insert_custom_fields(admin: psycopg.Connection[Any]) -> None:
    for key, label, kind, choices in CUSTOM_FIELDS:
        admin.execute(
            "INSERT INTO custom_field_definitions (key, label, field_type, choices, required, "
            "created_at) VALUES (%s, %s, %s, %s, false, now()) ON CONFLICT (key) DO NOTHING",
            (key, label, kind, json.dumps(choices)),
        )


def _weighted(rng: Random, weights: dict[Any, float], k: int) -> list[Any]:
    return rng.choices(list(weights), weights=list(weights.values()), k=k)


def _moment(day: date, seconds: int) -> str:
    hours, rest = divmod(seconds, 3600)
    return f"{day.isoformat()} {hours:02d}:{rest // 60:02d}:{rest % 60:02d}+00"


# Days as ISO text by ordinal, and the seconds of office hours (07:00 to 20:00 UTC) as
# text: looked up rather than formatted a million times.
FIRST_ORDINAL = date(1990, 1, 1).toordinal()
LAST_ORDINAL = LAST_DAY.toordinal()
_DAYS = [
    date.fromordinal(o).isoformat() for o in range(FIRST_ORDINAL, date(2028, 1, 1).toordinal())
]
_OFFICE_SECONDS = [
    f"{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}+00" for s in range(7 * 3600, 20 * 3600)
]
CONSENT_FROM = date(2025, 1, 1).toordinal()  # with no joining date
CONSENTS_START = date(2008, 1, 1).toordinal()
HARD_BOUNCES_FROM = date(2024, 1, 1).toordinal()
SOFT_BOUNCES_FROM = date(2025, 6, 1).toordinal()
PAUSES_FROM = date(2027, 1, 1).toordinal()
GENERIC_MAILBOXES = ("communications", "info", "media", "press")
VERIFIED_FROM = date(2023, 1, 1).toordinal()


EPOCH_ORDINAL = date(1970, 1, 1).toordinal()


def _epoch_text(seconds: float) -> str:
    """A moment (seconds since the epoch, UTC) as COPY takes it, to the microsecond."""
    day, rest = divmod(seconds, 86_400.0)
    whole = int(rest)
    micro = int((rest - whole) * 1_000_000)
    return (
        f"{_DAYS[int(day) + EPOCH_ORDINAL - FIRST_ORDINAL]} "
        f"{whole // 3600:02d}:{whole // 60 % 60:02d}:{whole % 60:02d}.{micro:06d}+00"
    )


def _day(ordinal: int) -> str:
    return _DAYS[ordinal - FIRST_ORDINAL]


def _office_hours(ordinal: int, fraction: float) -> str:
    """A moment of that day's office hours, `fraction` of the way through."""
    return f"{_DAYS[ordinal - FIRST_ORDINAL]} {_OFFICE_SECONDS[int(fraction * 46_800)]}"


def _timestamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S.%f+00")


# People's names: (name as written, its ASCII letters for addresses).
_Names = list[tuple[str, str]]


@dataclass(frozen=True)
class _NamePool:
    women: _Names
    men: _Names
    families_of_women: _Names
    families_of_men: _Names
    family_first: bool


def _checked(names: Sequence[str], *, romanize: bool = False) -> _Names:
    pool = []
    for name in names:
        written = _romanize(name) if romanize else name
        if not written or any(c in written for c in "\t\n\r\\"):
            continue
        pool.append((written, _ascii_word(written)))
    return pool


@cache
def _name_pool(style: str) -> _NamePool:
    """The given and family names of one naming style (a Faker locale's own lists, or one
    of the demo vocabulary's romanised lists)."""
    if style.startswith("@"):
        women, men, families = vocab.NAME_LISTS[style]
        return _NamePool(
            _checked(women),
            _checked(men),
            _checked(families or women),
            _checked(families or men),
            style in vocab.FAMILY_NAME_FIRST,
        )
    provider = importlib.import_module(f"faker.providers.person.{_faker_locale(style)}").Provider
    romanize = style in vocab.TRANSLITERATED
    if style in vocab.ROMANIZED:
        women = getattr(provider, "first_romanized_names_female", None) or (
            provider.first_romanized_names
        )
        men = getattr(provider, "first_romanized_names_male", None) or (
            provider.first_romanized_names
        )
        families_w = families_m = provider.last_romanized_names
    else:
        women = getattr(provider, "first_names_female", None) or provider.first_names
        men = getattr(provider, "first_names_male", None) or provider.first_names
        families_w = getattr(provider, "last_names_female", None) or provider.last_names
        families_m = getattr(provider, "last_names_male", None) or provider.last_names
    return _NamePool(
        _checked(list(women), romanize=romanize),
        _checked(list(men), romanize=romanize),
        _checked(list(families_w), romanize=romanize),
        _checked(list(families_m), romanize=romanize),
        style in vocab.FAMILY_NAME_FIRST,
    )


def _faker_locale(style: str) -> str:
    """The Faker person provider for a locale, or the nearest one Faker has (it_CH has
    none: it_IT's names; en_AU: en_GB's)."""
    import faker.providers.person

    available = {module.name for module in pkgutil.iter_modules(faker.providers.person.__path__)}
    language = style.partition("_")[0]
    candidates = [style, f"{language}_{language.upper()}", "en_GB" if language == "en" else ""]
    candidates += sorted(name for name in available if name.startswith(f"{language}_"))
    return next((name for name in candidates if name in available), "en_US")


@cache
def _name_pools(iso3: str, region: str, language: str) -> tuple[_NamePool, ...]:
    style = vocab.PERSON_NAME_STYLES.get(iso3) or vocab.REGION_PERSON_NAME_STYLES.get(
        region, "en_GB"
    )
    if isinstance(style, dict):
        style = style.get(language) or next(iter(style.values()))
    styles = style if isinstance(style, tuple) else (style,)
    return tuple(_name_pool(s) for s in styles)


class _Registry:
    """Organisations and everything hanging off them, from one random stream."""

    def __init__(
        self, seed: int, countries: list[_Country], organizations: int, contacts: int
    ) -> None:
        self.seed = seed
        self.rng = rng = Random(seed)
        self.organizations = organizations
        self.contacts = contacts
        self.now = _timestamp(datetime.now(UTC))
        self.plan = self._plan(countries, organizations)
        self.contact_counts = self._contact_counts(organizations, contacts)
        self.first_contacts = array("l", [1])
        for count in self.contact_counts[:-1]:
            self.first_contacts.append(self.first_contacts[-1] + count)
        self.types = _weighted(rng, vocab.ORGANIZATION_TYPE_WEIGHTS, organizations)
        self.statuses = _weighted(rng, MEMBERSHIP_STATUS_WEIGHTS, organizations)
        self.taken_names: dict[tuple[str, str], int] = {}
        self.taken_domains: set[str] = set()
        self.taken_addresses: set[str] = set()
        self.last_in_country: dict[str, int] = {}
        # (first day, number of days) of joining years, drawn by the demo's weights.
        self.join_years = [
            (
                max(date(year, 1, 1), FIRST_JOINED).toordinal(),
                min(date(year, 12, 31), LAST_DAY).toordinal()
                - max(date(year, 1, 1), FIRST_JOINED).toordinal()
                + 1,
            )
            for year in rng.choices(
                list(_JOIN_YEAR_WEIGHTS), weights=list(_JOIN_YEAR_WEIGHTS.values()), k=4096
            )
        ]
        self.consent_methods = [method for method, _ in vocab.CONSENT_METHODS]
        self.consent_weights = list(accumulate(weight for _, weight in vocab.CONSENT_METHODS))
        self.focus = [(tag, rate) for tag, (rate, _) in vocab.FOCUS_AREAS.items()]
        self.topics = [topic.value for topic in Topic]
        self.other_roles = ["communications", "legal", "other", "director"]
        self.other_role_weights = list(accumulate((0.35, 0.25, 0.3, 0.1)))

    # -- where --------------------------------------------------------------------------

    def _plan(self, countries: list[_Country], count: int) -> list[_Country]:
        """Each organisation's country: regions in the demo's proportions, countries by
        weight within them, and every country with a civil society at least once when
        there are enough organisations to go round."""
        rng = self.rng
        by_region: dict[str, list[_Country]] = {}
        for country in countries:
            if country.weight > 0:
                by_region.setdefault(country.region, []).append(country)
        regions = [r for r in vocab.REGION_WEIGHTS if r in by_region]
        regions += sorted(r for r in by_region if r not in vocab.REGION_WEIGHTS)
        weights = [vocab.REGION_WEIGHTS.get(r, 0.05) for r in regions]
        quotas = [count * w / sum(weights) for w in weights]
        counts = [int(q) for q in quotas]
        for i in sorted(range(len(regions)), key=lambda i: counts[i] - quotas[i])[
            : count - sum(counts)
        ]:
            counts[i] += 1
        plan: list[_Country] = []
        for region, n in zip(regions, counts, strict=True):
            members = by_region[region]
            chosen = list(members) if n >= 2 * len(members) else []
            chosen += rng.choices(members, weights=[c.weight for c in members], k=n - len(chosen))
            plan += chosen
        rng.shuffle(plan)
        return plan

    def _contact_counts(self, organizations: int, contacts: int) -> "array[int]":
        """1 or more per organisation, spread around the mean, `contacts` in all."""
        rng = self.rng
        mean = contacts / organizations
        counts = array(
            "H", (max(1, round(rng.gauss(mean, 0.4 * mean))) for _ in range(organizations))
        )
        difference = contacts - sum(counts)
        while difference:
            i = rng.randrange(organizations)
            if difference > 0:
                counts[i] += 1
                difference -= 1
            elif counts[i] > 1:
                counts[i] -= 1
                difference += 1
        return counts

    # -- loading ------------------------------------------------------------------------

    def load(self, conninfo: str, bars: Progress, cpu: dict[str, float]) -> dict[str, int]:
        tables = {
            "organizations": (
                "id", "name", "acronym", "country_iso3", "type", "membership_status",
                "joined_on", "website", "address", "notes", "custom_fields", "merged_into_id",
                "created_at", "updated_at",
            ),
            "organization_focus_areas": ("organization_id", "focus_area"),
            "organization_languages": ("organization_id", "position", "language"),
            "contacts": (
                "id", "organization_id", "name", "email", "role", "language",
                "subscription_status", "paused_until", "consent_at", "consent_method",
                "bounce_status", "hard_bounce_count", "soft_bounce_count", "last_bounced_at",
                "created_at", "updated_at",
            ),
            "contact_topic_opt_outs": ("contact_id", "topic"),
            "membership_applications": (
                "id", "organization_id", "contact_id", "motivation", "submitted_at",
            ),
        }  # fmt: skip
        organizations_bar = bars.add_task("organisations", total=self.organizations)
        contacts_bar = bars.add_task("contacts", total=self.contacts)
        groups = self._groups(WORKERS)
        self._warm_up()
        context = multiprocessing.get_context("fork")
        queue = context.Queue()
        # Forked, the workers inherit everything planned so far; each generates the
        # organisations of its countries and writes them on connections of its own.
        workers = [
            context.Process(
                target=self._work, args=(number, indexes, conninfo, tables, queue), daemon=True
            )
            for number, indexes in enumerate(groups)
        ]
        for worker in workers:
            worker.start()
        rows: dict[str, int] = dict.fromkeys(tables, 0)
        done = [0, 0]
        running = len(workers)
        try:
            while running:
                try:
                    message = queue.get(timeout=5)
                except Empty:
                    dead = [w.exitcode for w in workers if w.exitcode not in (None, 0)]
                    if dead:
                        raise RuntimeError(f"a generating process died ({dead})") from None
                    continue
                if message[0] == "progress":
                    done[0] += message[1]
                    done[1] += message[2]
                    bars.update(organizations_bar, completed=done[0])
                    bars.update(contacts_bar, completed=done[1])
                elif message[0] == "done":
                    for table, count in message[1].items():
                        rows[table] += count
                    for key, seconds in message[2].items():
                        _add(cpu, key, seconds)
                    running -= 1
                else:
                    raise RuntimeError(f"a generating process failed:\n{message[1]}")
        finally:
            for worker in workers:
                if worker.is_alive() and running:
                    worker.terminate()
                worker.join()
        return rows

    def _warm_up(self) -> None:
        """Fill the caches (names of people and countries) once, before the fork."""
        for country in set(self.plan):
            for language in {*vocab.working_languages(country.iso3), "en"}:
                _name_pools(country.iso3, country.region, language)
                if language in vocab.NAME_LANGUAGES:
                    country.short_name(language)
            country.after_in()
            _ = country.mail_providers

    def _groups(self, count: int) -> list[list[int]]:
        """The organisations (indexes) in `count` groups of whole countries, as even as
        can be: names and addresses are kept unique within a country, so each group
        needs no other's."""
        by_country: dict[str, list[int]] = {}
        for index, country in enumerate(self.plan):
            by_country.setdefault(country.iso3, []).append(index)
        groups: list[list[int]] = [[] for _ in range(count)]
        for iso3 in sorted(by_country, key=lambda c: (-len(by_country[c]), c)):
            min(groups, key=len).extend(by_country[iso3])
        for group in groups:
            group.sort()
        return [group for group in groups if group]

    def _work(
        self,
        number: int,
        indexes: list[int],
        conninfo: str,
        tables: Mapping[str, Sequence[str]],
        queue: Any,
    ) -> None:
        try:
            self.rng = Random(f"{self.seed}:{number}")
            rows: dict[str, int]
            cpu: dict[str, float] = {}
            started = time.process_time()
            with _copies(conninfo, tables, cpu) as copies:
                for start in range(0, len(indexes), CHUNK):
                    blocks: dict[str, list[str]] = {table: [] for table in tables}
                    chunk = indexes[start : start + CHUNK]
                    for index in chunk:
                        self._organization(index, blocks)
                    for table, lines in blocks.items():
                        copies[table].write(lines)
                    queue.put(("progress", len(chunk), len(blocks["contacts"])))
                rows = {table: copy.rows for table, copy in copies.items()}
            _add(cpu, "Python", time.process_time() - started)
            queue.put(("done", rows, cpu))
        except BaseException:
            queue.put(("error", traceback.format_exc()))

    # -- one organisation ---------------------------------------------------------------

    def _organization(self, index: int, blocks: dict[str, list[str]]) -> None:
        rng = self.rng
        random = rng.random
        organization_id = index + 1
        country = self.plan[index]
        org_type = self.types[index]
        status = self.statuses[index]

        languages = list(vocab.working_languages(country.iso3))
        if len(languages) > 1 and random() < SECOND_LANGUAGE_FIRST_RATE:
            languages[0], languages[1] = languages[1], languages[0]
        if "en" not in languages and random() < EXTRA_ENGLISH_RATE:
            languages.append("en")
        name_language = next((lang for lang in languages if lang in vocab.NAME_LANGUAGES), "en")
        focus = [tag for tag, rate in self.focus if random() < rate][:5] or [
            rng.choice(self.focus)[0]
        ]
        name = self._unique_name(org_type, name_language, country, focus)
        acronym = _acronym_of(name) if random() < ACRONYM_RATE else None
        domain = self._domain(name, acronym, country)
        joined_on: date | None = None
        if status is not MembershipStatus.applicant:
            first, days = self.join_years[int(random() * len(self.join_years))]
            joined_on = date.fromordinal(first + int(random() * days))
        merged_into = r"\N"
        if status is MembershipStatus.archived and random() < MERGED_RATE:
            earlier = self.last_in_country.get(country.iso3)
            if earlier is not None:
                merged_into = str(earlier)
        self.last_in_country[country.iso3] = organization_id
        website = f"https://www.{domain}" if random() < WEBSITE_RATE else r"\N"
        address = (
            f"P.O. Box {rng.randrange(100, 99_999)}, {country.short_name('en')}"
            if random() < ADDRESS_RATE
            else r"\N"
        )
        notes = rng.choice(vocab.NOTES) if random() < NOTE_RATE else r"\N"
        blocks["organizations"].append(
            f"{organization_id}\t{name}\t{acronym or chr(92) + 'N'}\t{country.iso3}\t"
            f"{org_type.value}\t{status.value}\t"
            f"{joined_on.isoformat() if joined_on else chr(92) + 'N'}\t{website}\t{address}\t"
            f"{notes}\t{self._custom_fields()}\t{merged_into}\t{self.now}\t{self.now}\n"
        )
        focus_lines = blocks["organization_focus_areas"]
        for tag in focus:
            focus_lines.append(f"{organization_id}\t{tag}\n")
        language_lines = blocks["organization_languages"]
        for position, language in enumerate(languages):
            language_lines.append(f"{organization_id}\t{position}\t{language}\n")

        first_contact = contact_id = self.first_contacts[index]
        for role in self._roles(self.contact_counts[index]):
            self._contact(contact_id, organization_id, role, country, languages, domain,
                          joined_on, blocks)  # fmt: skip
            contact_id += 1
        if status is MembershipStatus.applicant:
            submitted = LAST_DAY - timedelta(days=rng.randrange(120))
            blocks["membership_applications"].append(
                f"{organization_id}\t{organization_id}\t{first_contact}\t"
                f"{rng.choice(MOTIVATIONS)}\t{_moment(submitted, rng.randrange(25_200, 72_000))}\n"
            )

    def _custom_fields(self) -> str:
        """JSON as the app stores it (numbers as numbers, dates as ISO text)."""
        rng = self.rng
        random = rng.random
        values = []
        if random() < 0.6:
            values.append(f'"staff_size": {max(1, round(rng.lognormvariate(2.0, 1.0)))}')
        if random() < 0.7:
            choices = CUSTOM_FIELDS[1][3]
            values.append(f'"national_coalition": "{choices[int(random() * len(choices))]}"')
        if random() < 0.4:
            values.append(f'"details_verified_on": "{_day(VERIFIED_FROM + int(random() * 1400))}"')
        return "{" + ", ".join(values) + "}"

    def _unique_name(
        self, org_type: OrganizationType, language: str, country: _Country, focus: list[str]
    ) -> str:
        """A name no other organisation of the country has (a number when the
        patterns run out, as the demo seed does)."""
        name = ""
        for attempt in range(4):
            name = self._name(org_type if attempt < 2 else OrganizationType.ngo, language,
                              country, focus)  # fmt: skip
            key = (name, country.iso3)
            if key not in self.taken_names:
                self.taken_names[key] = 1
                return name
        number = self.taken_names[(name, country.iso3)] + 1
        while (f"{name} ({number})", country.iso3) in self.taken_names:
            number += 1
        self.taken_names[(name, country.iso3)] = number
        numbered = f"{name} ({number})"
        self.taken_names[(numbered, country.iso3)] = 1
        return numbered

    def _name(
        self, org_type: OrganizationType, language: str, country: _Country, focus: list[str]
    ) -> str:
        rng = self.rng
        fixed = vocab.TYPE_NAMES.get(org_type, {}).get(language)
        if org_type is OrganizationType.network and rng.random() < 0.35:
            fixed = vocab.NATIONAL_COALITION_NAMES[language]
        elif fixed is not None and rng.random() >= 0.6:
            fixed = None
        if fixed:
            template = rng.choice(fixed)
            name = template.format(country=country.short_name(language))
            if "{country}" in template or language == "en":
                return name
            return self._with_country(name, language, country, 0.4)
        kinds = vocab.NETWORK_KINDS if org_type is OrganizationType.network else vocab.NGO_KINDS
        kind, gender = rng.choice(kinds[language])
        if rng.random() < 0.3:
            masculine, feminine = rng.choice(vocab.QUALIFIERS[language])
            qualifier = feminine if gender == "f" else masculine
            kind = f"{qualifier} {kind}" if language == "en" else f"{kind} {qualifier}"
        if rng.random() < 0.7:
            purpose = vocab.FOCUS_AREAS[rng.choice(focus)][1][language]
        else:
            purpose = rng.choice(vocab.GENERAL_PURPOSES)[language]
        name = f"{kind} {rng.choice(vocab.PURPOSE_LINKS[language])} {purpose}"
        return self._with_country(name, language, country, 0.5 if language == "en" else 0.3)

    def _with_country(self, name: str, language: str, country: _Country, rate: float) -> str:
        draw = self.rng.random()
        if draw >= rate:
            return name
        if language == "en":
            if draw < rate / 2:
                return f"{country.short_name('en')} {name}"
            return f"{name} in {country.after_in()}"
        if language == "es" and draw < rate / 2:
            return f"{name} en {country.short_name('es')}"
        return f"{name}{EN_DASH}{country.short_name(language)}"

    def _domain(self, name: str, acronym: str | None, country: _Country) -> str:
        """The organisation's mail and web domain: a subdomain of a reserved one, its own."""
        base = self.rng.choices(RESERVED_DOMAINS, cum_weights=(0.7, 0.85, 1.0))[0]
        slug = _acronym_slug(acronym) if acronym else _name_slug(name)
        taken = self.taken_domains
        # The country's code in it keeps it apart from every other country's.
        stem = f"{slug}-{country.code}"
        domain = f"{stem}.{base}"
        number = 1
        while domain in taken:
            number += self.rng.randrange(1, 50)
            domain = f"{stem}{number}.{base}"
        taken.add(domain)
        return domain

    # -- contacts -----------------------------------------------------------------------

    def _roles(self, count: int) -> list[str]:
        """A focal point (rarely none, or two), often a director, then the others."""
        random = self.rng.random
        draw = random()
        if draw < NO_FOCAL_POINT_RATE:
            roles = []
        elif draw < NO_FOCAL_POINT_RATE + TWO_FOCAL_POINTS_RATE and count > 1:
            roles = ["focal_point", "focal_point"]
        else:
            roles = ["focal_point"]
        if len(roles) < count and random() < 0.5:
            roles.append("director")
        weights, total = self.other_role_weights, self.other_role_weights[-1]
        while len(roles) < count:
            roles.append(self.other_roles[bisect(weights, random() * total)])
        return roles

    def _contact(
        self,
        contact_id: int,
        organization_id: int,
        role: str,
        country: _Country,
        languages: list[str],
        domain: str,
        joined_on: date | None,
        blocks: dict[str, list[str]],
    ) -> None:
        # The hot loop (a million times): indexes from random() rather than
        # rng.choice and rng.randrange, which cost three times as much.
        rng = self.rng
        random = rng.random
        language = languages[0] if random() < 0.75 else languages[int(random() * len(languages))]
        pools = _name_pools(country.iso3, country.region, language)
        pool = pools[0] if len(pools) == 1 else pools[int(random() * len(pools))]
        if random() < 0.55:
            given_names, family_names = pool.women, pool.families_of_women
        else:
            given_names, family_names = pool.men, pool.families_of_men
        first, first_ascii = given_names[int(random() * len(given_names))]
        last, last_ascii = family_names[int(random() * len(family_names))]
        written = f"{last} {first}" if pool.family_first else f"{first} {last}"
        given = first_ascii or "contact"
        family = last_ascii if last_ascii != first_ascii else ""

        taken = self.taken_addresses
        draw = random()
        if draw < PERSONAL_EMAIL_RATE:
            local = f"{given}.{family}" if family else given
            # A national mail provider: unique within the country is unique everywhere.
            providers = country.mail_providers
            shared = providers[0 if draw < 0.4 * PERSONAL_EMAIL_RATE else 1 + (random() < 0.5)]
            email = f"{local}@{shared}"
            number = 1
            while email in taken:
                number += 1 + int(random() * 20)
                email = f"{local}{number}@{shared}"
        else:
            if role == "communications" and random() < 0.2:
                local = GENERIC_MAILBOXES[int(random() * len(GENERIC_MAILBOXES))]
            else:
                draw = random()
                if not family or draw >= 0.95:
                    local = given
                elif draw < 0.55:
                    local = f"{given}.{family}"
                elif draw < 0.75:
                    local = f"{given[0]}{family}"
                elif draw < 0.9:
                    local = f"{given}_{family}"
                else:
                    local = f"{family}.{given}"
            # Unique within the organisation's own domain, and so everywhere.
            email = f"{local}@{domain}"
            number = 1
            while email in taken:
                number += 1
                email = f"{local}{number}@{domain}"
        taken.add(email)

        draw = random()
        paused_until = r"\N"
        if draw < UNSUBSCRIBED_RATE:
            subscription = "unsubscribed"
        elif draw < UNSUBSCRIBED_RATE + PAUSED_RATE:
            subscription = "paused"
            if random() < 0.5:
                paused_until = _day(PAUSES_FROM + int(random() * 180))
        else:
            subscription = "subscribed"
        if random() < CONSENT_RATE:
            earliest = (
                CONSENT_FROM if joined_on is None else max(joined_on.toordinal(), CONSENTS_START)
            )
            consent_at = _office_hours(
                earliest + int(random() * (LAST_ORDINAL - earliest + 1)), random()
            )
            consent_method = self.consent_methods[
                bisect(self.consent_weights, random() * self.consent_weights[-1])
            ]
        else:
            consent_at = consent_method = r"\N"
        # Someone who unsubscribed is not mailed, and so bounces no more.
        draw = random() if subscription != "unsubscribed" else 1.0
        if draw < HARD_BOUNCE_RATE:
            day = HARD_BOUNCES_FROM + int(random() * (LAST_ORDINAL - HARD_BOUNCES_FROM))
            bounce = (
                f"hard\t{1 + int(random() * 3)}\t{int(random() * 3)}\t"
                f"{_office_hours(day, random())}"
            )
        elif draw < HARD_BOUNCE_RATE + SOFT_BOUNCE_RATE:
            day = SOFT_BOUNCES_FROM + int(random() * (LAST_ORDINAL - SOFT_BOUNCES_FROM))
            bounce = f"soft\t0\t{1 + int(random() * 4)}\t{_office_hours(day, random())}"
        else:
            bounce = "ok\t0\t0\t\\N"
        now = self.now
        blocks["contacts"].append(
            f"{contact_id}\t{organization_id}\t{written}\t{email}\t{role}\t{language}\t"
            f"{subscription}\t{paused_until}\t{consent_at}\t{consent_method}\t{bounce}\t"
            f"{now}\t{now}\n"
        )
        if random() < TOPIC_OPT_OUT_RATE:
            for topic in rng.sample(self.topics, 1 + int(random() * 3)):
                blocks["contact_topic_opt_outs"].append(f"{contact_id}\t{topic}\n")


@cache
def _acronym_of(name: str) -> str | None:
    return _acronym(name)


@cache
def _acronym_slug(acronym: str) -> str:
    return _ascii_word(acronym) or "member"


@cache
def _name_slug(name: str) -> str:
    words = [w for w in _ascii_words(name) if w not in vocab.ACRONYM_STOPWORDS][:4]
    return "-".join(words)[:50].strip("-") or "member"


# --- the alert and its responses ---------------------------------------------------------------


class _Responses:
    """One alert launched to `deliveries` contacts, and what came back."""

    def __init__(
        self, rng: Random, url: str, admin: psycopg.Connection[Any], deliveries: int, events: int
    ) -> None:
        self.rng = rng
        self.deliveries = deliveries
        self.events = events
        now = datetime.now(UTC).replace(microsecond=0)
        launched_at = (now - timedelta(days=LAUNCHED_DAYS_AGO)).replace(second=0)
        self.send_seconds = max(60.0, deliveries / SEND_RATE)
        finished_at = launched_at + timedelta(seconds=self.send_seconds + 5)
        self.now, self.launched = now.timestamp(), launched_at.timestamp()
        self.launched_text = _epoch_text(self.launched)
        self.campaign_id, self.link_count = _launched_alert(url, launched_at, finished_at)
        self.nonce = secrets.token_hex(6)
        self.contact_updates: list[str] = []
        first = admin.execute("SELECT coalesce(max(id), 0) FROM deliveries").fetchone()
        self.first_delivery_id = (first[0] if first else 0) + 1

    def _recipients(self, admin: psycopg.Connection[Any]) -> list[tuple[str, ...]]:
        """The contacts the alert went to: rows (id, organisation, email, language,
        subscription, bounce). Contacts now paused or in archived organisations were
        probably not mailed; they are taken last, when everyone else is."""
        languages = sql.Literal(list(ALERT_LANGUAGES))
        query = sql.SQL(
            """
            COPY (
                SELECT c.id, c.organization_id, c.email,
                    CASE WHEN c.language = ANY({languages}) THEN c.language ELSE coalesce(
                        (SELECT l.language FROM organization_languages l
                         WHERE l.organization_id = c.organization_id
                           AND l.language = ANY({languages})
                         ORDER BY l.position LIMIT 1), 'en') END,
                    c.subscription_status, c.bounce_status,
                    (c.subscription_status = 'paused' OR o.membership_status = 'archived')
                FROM contacts c JOIN organizations o ON o.id = c.organization_id
                ORDER BY c.id
            ) TO STDOUT
            """
        ).format(languages=languages)
        chunks: list[bytes] = []
        with admin.cursor().copy(query) as copy:
            for block in copy:
                chunks.append(bytes(block))
        rows = [tuple(line.split("\t")) for line in b"".join(chunks).decode().splitlines()]
        rng = self.rng
        keys = [(row[6] == "t", rng.random()) for row in rows]
        order = sorted(range(len(rows)), key=keys.__getitem__)[: self.deliveries]
        order.sort()
        return [rows[i] for i in order]

    def load(self, conninfo: str, bars: Progress, cpu: dict[str, float]) -> dict[str, int]:
        with psycopg.connect(conninfo, autocommit=True) as reader:
            recipients = self._recipients(reader)
            _add(cpu, "PostgreSQL", _backend_cpu(reader))
        plan = _ResponsePlan(self.rng, recipients, self.events, self.link_count)
        tables = {
            "deliveries": (
                "id", "campaign_id", "contact_id", "email", "language", "message_id", "token",
                "state", "attempts", "last_error", "created_at", "sent_at",
            ),
            "response_events": (
                "delivery_id", "campaign_id", "contact_id", "kind", "occurred_at", "automated",
                "automated_reason", "link_number", "detail",
            ),
            "action_reports": (
                "delivery_id", "campaign_id", "organization_id", "contact_id", "action_type",
                "action_date", "engaged_with", "note", "created_at",
            ),
            "suppressions": ("email_hash", "reason", "created_at"),
        }  # fmt: skip
        deliveries_bar = bars.add_task("deliveries", total=len(recipients))
        events_bar = bars.add_task("response events", total=plan.total_events)
        with _copies(conninfo, tables, cpu) as copies:
            written = 0
            for start in range(0, len(recipients), CHUNK * 5):
                blocks: dict[str, list[str]] = {table: [] for table in tables}
                end = min(start + CHUNK * 5, len(recipients))
                for index in range(start, end):
                    self._delivery(index, recipients[index], plan, blocks)
                for table, lines in blocks.items():
                    copies[table].write(lines)
                written += len(blocks["response_events"])
                bars.update(deliveries_bar, completed=end)
                bars.update(events_bar, completed=written)
            rows = {table: copy.rows for table, copy in copies.items()}
        return rows

    def _delivery(
        self,
        index: int,
        recipient: tuple[str, ...],
        plan: "_ResponsePlan",
        blocks: dict[str, list[str]],
    ) -> None:
        # Times are seconds since the epoch here (floats), turned into text by look-up.
        rng = self.rng
        random = rng.random
        contact_id, organization_id, email, language, _subscription, _bounce, _late = recipient
        delivery_id = self.first_delivery_id + index
        campaign = self.campaign_id
        sent = self.launched + 1 + index * self.send_seconds / self.deliveries + random()
        fate = plan.fates[index]
        message_id = f"<alert.{campaign}.{contact_id}.{self.nonce}@alerts.example.org>"
        if fate == _FAILED_HARD:
            state = f"failed\t1\t550 5.1.1 <{email}>: Recipient address rejected: User unknown"
            sent_at = r"\N"
            self.contact_updates.append(f"{contact_id}\t{_epoch_text(sent)}\t\\N\n")
        elif fate == _FAILED_TEMPORARY:
            state = "failed\t5\t421 4.4.2 Connection timed out (gave up after 5 attempts)"
            sent_at = r"\N"
        else:
            state = "sent\t1\t\\N"
            sent_at = _epoch_text(sent)
        blocks["deliveries"].append(
            f"{delivery_id}\t{campaign}\t{contact_id}\t{email}\t{language}\t{message_id}\t"
            f"{secrets.token_hex(16)}\t{state}\t{self.launched_text}\t{sent_at}\n"
        )
        events = blocks["response_events"]
        prefix = f"{delivery_id}\t{campaign}\t{contact_id}\t"
        if fate == _BOUNCED_HARD:
            at = _epoch_text(min(self.now, sent + 5 + random() * 1800))
            events.append(f"{prefix}bounced_hard\t{at}\tf\t\\N\t\\N\t550 5.1.1 user unknown\n")
            digest = hashlib.sha256(email.strip().lower().encode()).hexdigest()
            blocks["suppressions"].append(f"{digest}\thard_bounce\t{at}\n")
            self.contact_updates.append(f"{contact_id}\t{at}\t{at}\n")
        elif fate == _BOUNCED_SOFT:
            at = _epoch_text(min(self.now, sent + 5 + random() * 7200))
            events.append(f"{prefix}bounced_soft\t{at}\tf\t\\N\t\\N\t452 4.2.2 mailbox full\n")
            self.contact_updates.append(f"{contact_id}\t{at}\t{at}\n")
        elif fate == _UNSUBSCRIBED:
            at = _epoch_text(self._later(sent, 9.0))
            via = UNSUBSCRIBE_WAYS[bisect(UNSUBSCRIBE_WEIGHTS, random())]
            events.append(f"{prefix}unsubscribed\t{at}\tf\t\\N\t\\N\t{via}\n")
            self.contact_updates.append(f"{contact_id}\t\\N\t{at}\n")

        opens = plan.opens[index]
        if opens:
            automated = "f\t\\N"
            if random() < AUTOMATED_OPENER_RATE:
                automated = f"t\t{OPEN_SCANNERS[int(random() * len(OPEN_SCANNERS))]}"
            moment = sent
            for _ in range(opens):
                moment = self._later(moment, 8.0)
                events.append(f"{prefix}opened\t{_epoch_text(moment)}\t{automated}\t\\N\t\\N\n")
        if plan.scanned[index]:
            moment = sent + 0.5 + 7.5 * random()
            reason = f"every link within {BURST_WINDOW} s"
            for number in range(1, self.link_count + 1):
                moment += 0.02 + 0.38 * random()
                events.append(
                    f"{prefix}clicked\t{_epoch_text(moment)}\tt\t{reason}\t{number}\t\\N\n"
                )
        clicks = plan.clicks[index]
        if clicks:
            moment = sent
            for _ in range(clicks):
                moment = self._later(moment, 8.3)
                number = 1 + min(int(rng.expovariate(1.2)), self.link_count - 1)
                events.append(f"{prefix}clicked\t{_epoch_text(moment)}\tf\t\\N\t{number}\t\\N\n")
        for _ in range(plan.reports[index]):
            moment = self._later(sent, 10.5)
            at = _epoch_text(moment)
            action = REPORTED_ACTIONS[bisect(REPORTED_ACTION_CUMULATIVE, random())]
            acted_on = _epoch_text(max(self.launched, moment - 86_400 * int(random() * 3)))[:10]
            events.append(f"{prefix}acted\t{at}\tf\t\\N\t\\N\t{action}\n")
            blocks["action_reports"].append(
                f"{delivery_id}\t{campaign}\t{organization_id}\t{contact_id}\t{action}\t"
                f"{acted_on}\t{rng.choice(ENGAGED_WITH)}\t{rng.choice(REPORT_NOTES)}\t{at}\n"
            )

    def _later(self, after: float, log_median_seconds: float) -> float:
        """A moment after `after` (median e^x seconds, a long tail), never in the future."""
        moment = after + 11 + self.rng.lognormvariate(log_median_seconds, 1.4)
        if moment > self.now:  # later than now: some time between then and now instead
            moment = after + (self.now - after) * self.rng.random()
        return moment

    def update_contacts(self, admin: psycopg.Connection[Any]) -> None:
        """The contacts' bounce and unsubscribe times are those of this alert's events."""
        if not self.contact_updates:
            return
        with admin.transaction():
            admin.execute(
                "CREATE TEMPORARY TABLE scale_contact_times "
                "(id integer, last_bounced_at timestamptz, updated_at timestamptz) ON COMMIT DROP"
            )
            with admin.cursor().copy("COPY scale_contact_times FROM STDIN") as copy:
                copy.write("".join(self.contact_updates))
            admin.execute(
                """
                UPDATE contacts SET
                    last_bounced_at = coalesce(t.last_bounced_at, contacts.last_bounced_at),
                    updated_at = coalesce(t.updated_at, contacts.updated_at)
                FROM scale_contact_times t WHERE t.id = contacts.id
                """
            )


# What happened to a delivery, from its contact's state now.
_SENT, _FAILED_HARD, _FAILED_TEMPORARY, _BOUNCED_HARD, _BOUNCED_SOFT, _UNSUBSCRIBED = range(6)


class _ResponsePlan:
    """How many events of each kind each delivery gets, `events` in all: first the ones
    the registry's states call for (bounces, unsubscribes) and the action reports, then
    opens and clicks for the rest."""

    def __init__(
        self, rng: Random, recipients: list[tuple[str, ...]], events: int, link_count: int
    ) -> None:
        n = len(recipients)
        self.fates = array("B", bytes(n))
        self.opens = array("I", bytes(4 * n))
        self.clicks = array("I", bytes(4 * n))
        self.scanned = array("B", bytes(n))
        self.reports = array("H", bytes(2 * n))
        budget = events
        delivered: list[int] = []
        for i, row in enumerate(recipients):
            subscription, bounce = row[4], row[5]
            if bounce == "hard":
                fate = _FAILED_HARD if rng.random() < FAILED_HARD_SHARE else _BOUNCED_HARD
            elif bounce == "soft":
                fate = _BOUNCED_SOFT
            elif subscription == "unsubscribed":
                fate = _UNSUBSCRIBED
            elif rng.random() < TEMPORARY_FAILURE_RATE:
                fate = _FAILED_TEMPORARY
            else:
                fate = _SENT
            if fate in (_BOUNCED_HARD, _BOUNCED_SOFT, _UNSUBSCRIBED):
                if budget:
                    budget -= 1
                else:
                    fate = _SENT  # too few events to tell every story
            self.fates[i] = fate
            if fate not in (_FAILED_HARD, _FAILED_TEMPORARY, _BOUNCED_HARD):
                delivered.append(i)

        # Action reports: a share of the organisations reached, through one of their
        # recipients (sometimes twice).
        by_organization: dict[str, list[int]] = {}
        for i in delivered:
            by_organization.setdefault(recipients[i][1], []).append(i)
        reached = list(by_organization)
        acting = rng.sample(
            reached, min(len(reached), round(len(reached) * ACTING_ORGANIZATION_RATE))
        )
        for organization in acting:
            if budget < 2:
                break
            reporter = rng.choice(by_organization[organization])
            self.reports[reporter] += 1
            budget -= 1
            if rng.random() < SECOND_REPORT_RATE and budget > 2:
                self.reports[rng.choice(by_organization[organization])] += 1
                budget -= 1

        # Scanners: every link of a message on arrival.
        scanners = min(round(len(delivered) * SCANNER_RATE), budget // (2 * link_count or 1))
        for i in rng.sample(delivered, scanners):
            self.scanned[i] = 1
        budget -= scanners * link_count

        # Opens and clicks: one each per person who opened or clicked, the rest spread
        # over them (so that some open many times).
        opens = round(budget * OPEN_SHARE)
        clicks = budget - opens
        self._spread(rng, self.opens, delivered, OPENER_RATE, opens)
        self._spread(rng, self.clicks, delivered, CLICKER_RATE, clicks)
        self.total_events = events

    @staticmethod
    def _spread(
        rng: Random, counts: "array[int]", among: list[int], rate: float, total: int
    ) -> None:
        if not total or not among:
            return
        people = rng.sample(among, min(len(among), max(1, round(len(among) * rate)), total))
        for i in people:
            counts[i] = 1
        extra = total - len(people)
        # Heavier for a few: each extra event goes to someone picked from the people,
        # biased towards the first of them (a random sample: nobody in particular).
        size = len(people)
        expovariate = rng.expovariate
        for _ in range(extra):
            counts[people[int(expovariate(3.0) * size) % size]] += 1


def _launched_alert(url: str, launched_at: datetime, finished_at: datetime) -> tuple[int, int]:
    """An alert written, approved, launched and finished through the app's own services
    (the delivery rows aside), in five languages to the whole registry; returns its id
    and how many tracked links its variants have."""
    from sqlmodel import Session, col, select

    from app.accounts.models import User
    from app.accounts.principal import Principal, Role
    from app.campaigns import lifecycle
    from app.campaigns import service as campaigns
    from app.campaigns.models import CampaignStatus
    from app.campaigns.rendering import tracked_links
    from app.campaigns.schemas import CampaignCreate
    from app.core.audit import record_audit
    from app.core.db import create_db_engine

    engine = create_db_engine(url)
    try:
        with Session(engine) as session:
            users = []
            for email, name in (
                ("scale.writer@example.org", "Scale data writer"),
                ("scale.approver@example.org", "Scale data approver"),
            ):
                user = session.scalars(select(User).where(col(User.email) == email)).first()
                if user is None:
                    user = User(email=email, full_name=name, role=Role.secretariat)
                    session.add(user)
                    session.flush()
                users.append(Principal(actor=f"user:{user.id}", role=Role.secretariat,
                                       user_id=user.id))  # fmt: skip
            writer, approver = users
            variants = [
                {
                    "language": language,
                    "subject": f"{{{{ country.name }}}}: ratify the APIC ({language})",
                    "body": ALERT_BODY,
                }
                for language in ALERT_LANGUAGES
            ]
            campaign = campaigns.create_campaign(
                session,
                writer,
                CampaignCreate.model_validate(
                    {
                        "title": "Ratify the APIC before the Assembly (scale data)",
                        "action_type": "contact_officials",
                        "default_language": "en",
                        "variants": variants,
                        "audience": {},
                        "tracking": {"clicks": True, "opens": True},
                    }
                ),
            )
            lifecycle.approve(session, approver, campaign)
            campaign.launched_at = launched_at
            campaign.finished_at = finished_at
            campaign.status = CampaignStatus.sent
            campaign.updated_at = finished_at
            for action, status in (("launched", "sending"), ("sent", "sent")):
                record_audit(
                    session,
                    actor=writer.actor if action == "launched" else "system:scheduler",
                    action=f"campaign.{action}",
                    target_type="campaign",
                    target_id=campaign.id,
                    before={"status": "approved" if action == "launched" else "sending"},
                    after={"status": status},
                    note="scale data (bench/scale.py)",
                )
            session.commit()
            links = len(tracked_links(ALERT_BODY))
            return campaign.id or 0, links
    finally:
        engine.dispose()


# --- the benchmark ----------------------------------------------------------------------------


def figures(data: ScaleData) -> list[Figure]:
    rows = data.rows
    registry = [
        Figure(
            "scale",
            f"load {data.organizations:,} organisations and {data.contacts:,} contacts",
            data.registry_seconds,
            "s",
            at_most=GOAL_SECONDS,
            note=(
                f"COPY, with {rows.get('organization_focus_areas', 0):,} focus areas, "
                f"{rows.get('organization_languages', 0):,} languages, "
                f"{rows.get('contact_topic_opt_outs', 0):,} topic opt-outs; "
                f"{_seconds(data.registry_phases)}; CPU {_seconds(data.registry_cpu)}; "
                f"load average {data.load_average[0]:.1f} before, {data.load_average[1]:.1f} "
                f"after ({os.cpu_count()} cores)"
            ),
        )
    ]
    if data.campaign_id is not None:
        registry.append(
            Figure(
                "scale",
                f"load {data.deliveries:,} deliveries and {data.events:,} events",
                data.responses_seconds,
                "s",
                note=(
                    f"campaign {data.campaign_id}: {data.action_reports:,} action reports, "
                    f"{rows.get('suppressions', 0):,} suppressions; "
                    f"{_seconds(data.responses_phases)}; CPU {_seconds(data.responses_cpu)}"
                ),
            )
        )
    return registry


def _seconds(parts: dict[str, float]) -> str:
    return ", ".join(f"{name} {seconds:.1f} s" for name, seconds in parts.items())


def run(context: Any) -> list[Figure]:
    sizes = QUICK if context.quick else FULL
    url: str = context.resources.enter_context(
        scratch_postgres_database(context.postgres, "bench_scale")
    )
    data = generate_apart(url, sizes)
    context.databases["scale"] = url
    context.facts["scale"] = data
    return figures(data)


def generate_apart(url: str, sizes: dict[str, int]) -> ScaleData:
    """prepare_database and generate, in a new process. generate() forks its generating
    processes, and a fork of a process that has run other benchmarks may inherit a lock
    one of their threads held: full runs hung there, here and in bench/registry.py."""
    spawn = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=spawn) as fresh:
        return fresh.submit(_prepare_and_generate, url, sizes).result()


def _prepare_and_generate(url: str, sizes: dict[str, int]) -> ScaleData:
    prepare_database(url)
    return generate(
        url,
        organizations=sizes["organizations"],
        deliveries=sizes["deliveries"],
        events=sizes["events"],
    )


@contextmanager
def _kept_database(server_url: str) -> Iterator[str]:
    """Like scratch_postgres_database, but left in place for the other benchmarks."""
    name = f"bench_scale_{secrets.token_hex(4)}"
    with psycopg.connect(_conninfo(server_url), autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    yield make_url(server_url).set(database=name).render_as_string(hide_password=False)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--organizations", type=int)
    parser.add_argument("--contacts-per-organization", type=float, default=4)
    parser.add_argument("--deliveries", type=int)
    parser.add_argument("--events", type=int)
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--quick", action="store_true", help="5,000 organisations")
    parser.add_argument("--keep", action="store_true", help="keep the database and print its URL")
    args = parser.parse_args(argv)
    sizes = dict(QUICK if args.quick else FULL)
    for name in sizes:
        if getattr(args, name) is not None:
            sizes[name] = getattr(args, name)
    database: Callable[[str], Any] = (
        _kept_database if args.keep else lambda url: scratch_postgres_database(url, "bench_scale")
    )
    with database(POSTGRES) as url:
        prepare_database(url)
        data = generate(
            url,
            contacts_per_organization=args.contacts_per_organization,
            seed=args.seed,
            organizations=sizes["organizations"],
            deliveries=sizes["deliveries"],
            events=sizes["events"],
        )
        print_table(figures(data), title="Scale data")
        for name, count in data.rows.items():
            console.print(f"  {name:<28} {count:>12,}")
        if args.keep:
            console.print(f"kept: {url}")


if __name__ == "__main__":
    main()

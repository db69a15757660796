"""The `coalition` command: database, data, demo, members, and the web server."""

from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from sqlmodel import Session

from app.accounts.principal import Role, cli_principal
from app.core import migrations
from app.core.db import session_scope
from app.core.settings import get_settings
from app.countries.regions import RegionSlug
from app.inbound.cli import mail_cli

cli = typer.Typer(
    help="Coalition for the ICC: member registry and action alerts.", no_args_is_help=True
)
db_cli = typer.Typer(help="Database schema.", no_args_is_help=True)
countries_cli = typer.Typer(help="The country treaty-status table.", no_args_is_help=True)
demo_cli = typer.Typer(help="Demonstration data.", no_args_is_help=True)
members_cli = typer.Typer(help="Member organisations and contacts.", no_args_is_help=True)
cli.add_typer(db_cli, name="db")
cli.add_typer(countries_cli, name="countries")
cli.add_typer(demo_cli, name="demo")
cli.add_typer(members_cli, name="members")
users_cli = typer.Typer(
    help="Sign-in accounts: staff, regional leads, members.", no_args_is_help=True
)
cli.add_typer(users_cli, name="users")
campaigns_cli = typer.Typer(help="Action alerts.", no_args_is_help=True)
cli.add_typer(campaigns_cli, name="campaigns")
cli.add_typer(mail_cli, name="mail")

console = Console(stderr=True)


@db_cli.command("upgrade")
def db_upgrade(revision: str = "head") -> None:
    """Migrate the database to the newest schema (or to REVISION)."""
    migrations.upgrade(revision=revision)
    console.print(f"[green]Database at {revision}[/green]")


@db_cli.command("downgrade")
def db_downgrade(revision: Annotated[str, typer.Argument(help="e.g. -1 or base")]) -> None:
    """Step the schema back (development only: data in dropped tables is lost)."""
    migrations.downgrade(revision=revision)
    console.print(f"[yellow]Database at {revision}[/yellow]")


@countries_cli.command("load")
def countries_load(
    update: Annotated[
        bool,
        typer.Option(help="Also apply the file's status to existing countries, with history"),
    ] = False,
    file: Annotated[Path | None, typer.Option(help="CSV in the shipped file's format")] = None,
) -> None:
    """Load the shipped country treaty table. Running it again changes nothing."""
    from app.countries.treaty_data import TREATY_DATA_FILE, load_countries, read_treaty_data

    records = list(read_treaty_data(file or TREATY_DATA_FILE))
    with session_scope() as session:
        report = load_countries(session, records, update_existing=update)
    console.print(
        f"Countries: {report.created} created, {report.updated} updated, "
        f"{report.unchanged} unchanged"
        + (
            f", [yellow]{report.differing} differ from the file (kept; --update applies)[/yellow]"
            if report.differing
            else ""
        )
    )


@members_cli.command("import")
def members_import(
    file: Annotated[
        Path,
        typer.Argument(exists=True, dir_okay=False, readable=True, help="CSV, one row per contact"),
    ],
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Check and count, change nothing")
    ] = False,
) -> None:
    """Create and update organisations and contacts from FILE (docs/import-format.md).

    Exits with 1 if any row was rejected (the other rows are applied), 2 if the file
    itself is unusable.
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
    from rich.table import Table

    from app.core.errors import ValidationFailed
    from app.members.spreadsheet import import_members

    try:
        with (
            file.open("rb") as stream,
            Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                console=console,
                transient=True,
            ) as progress,
        ):
            task = progress.add_task("Importing rows", total=None)

            def advance(done: int, total: int) -> None:
                progress.update(task, completed=done, total=total)

            with session_scope() as session:
                report = import_members(
                    session, OPERATOR, stream, dry_run=dry_run, progress=advance
                )
    except ValidationFailed as error:
        console.print(f"[red]{file}: {error.message}[/red]")
        raise typer.Exit(2) from None

    title = f"{file.name}: {report.rows} rows" + (" (dry run: nothing saved)" if dry_run else "")
    table = Table(title=title)
    for heading in ("", "created", "updated", "unchanged"):
        table.add_column(heading, justify="left" if not heading else "right")
    for label, counts in (("organisations", report.organizations), ("contacts", report.contacts)):
        table.add_row(label, str(counts.created), str(counts.updated), str(counts.unchanged))
    console.print(table)
    if report.rejected:
        plural = "s" if report.rejected > 1 else ""
        rejected = Table(title=f"[red]{report.rejected} row{plural} rejected[/red]")
        rejected.add_column("row", justify="right")
        rejected.add_column("reason")
        for rejection in report.rejected_rows:
            rejected.add_row(str(rejection.row), rejection.reason)
        console.print(rejected)
        raise typer.Exit(1)
    console.print("[green]No rows rejected[/green]")


@members_cli.command("export")
def members_export(
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", dir_okay=False, help="Write here instead of stdout"),
    ] = None,
) -> None:
    """Write every organisation (archived ones too, but not those merged into another)
    and its contacts as CSV, in the format `members import` reads."""
    import sys

    from rich.progress import Progress

    from app.members.schemas import OrganizationFilter
    from app.members.spreadsheet import export_members

    # Plan in a read-only unit of work; the rows are read chunk by chunk in their own.
    with session_scope(writes=False) as session:
        export = export_members(session, OPERATOR, OrganizationFilter(include_archived=True))
    if output is None:
        for chunk in export.csv_chunks():
            sys.stdout.write(chunk)
        sys.stdout.flush()
        return
    with (
        output.open("w", encoding="utf-8", newline="") as target,
        Progress(console=console, transient=True) as progress,
    ):
        task = progress.add_task("Exporting organisations", total=None)

        def advance(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        for chunk in export.csv_chunks(progress=advance):
            target.write(chunk)
    console.print(f"Exported {len(export.organization_ids)} organisations to [bold]{output}[/bold]")


@demo_cli.command("seed")
def demo_seed(
    organizations: Annotated[
        int, typer.Option(min=1, max=100_000, help="How many member organisations to make")
    ] = 2500,
    seed: Annotated[int, typer.Option(help="The same seed makes the same registry")] = 2026,
    force: Annotated[
        bool, typer.Option("--force", help="Add to a registry that already has organisations")
    ] = False,
    if_empty: Annotated[
        bool,
        typer.Option(
            "--if-empty", help="Succeed without seeding when the registry has organisations"
        ),
    ] = False,
) -> None:
    """Fill the registry with generated member organisations and contacts (reserved
    example.org addresses only). Needs the countries loaded first."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
    from rich.table import Table

    from app.core.errors import DomainError
    from app.demo.seed import RegistryNotEmpty, seed_demo_registry

    try:
        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=True,
        ) as progress:
            task = progress.add_task("Seeding organisations", total=organizations)

            def advance(done: int, total: int) -> None:
                progress.update(task, completed=done, total=total)

            with session_scope() as session:
                report = seed_demo_registry(
                    session,
                    organizations=organizations,
                    seed=seed,
                    force=force,
                    progress=advance,
                    actor=OPERATOR.actor,
                )
    except RegistryNotEmpty as error:
        if not if_empty:
            console.print(f"[red]{error.message}[/red]")
            raise typer.Exit(1) from None
        # `make run` seeds only a new database; a second run keeps what is there.
        console.print(f"The registry already has {error.existing} organisation(s): not seeding")
        return
    except DomainError as error:
        console.print(f"[red]{error.message}[/red]")
        raise typer.Exit(1) from None

    table = Table(title=f"Demo registry (seed {seed})")
    table.add_column("Region")
    table.add_column("Organisations", justify="right")
    table.add_column("Contacts", justify="right")
    for region, count in report.organizations_by_region.items():
        table.add_row(region, str(count), str(report.contacts_by_region[region]))
    table.add_row("[bold]total[/bold]", str(report.organizations), str(report.contacts))
    console.print(table)
    console.print(
        f"{report.organizations} organisations in {report.countries} countries, "
        f"{report.contacts} contacts; {report.unsubscribed} unsubscribed, {report.paused} "
        f"paused, {report.hard_bounced} hard-bounced, {report.soft_bounced} soft-bounced"
    )


@users_cli.command("create")
def users_create(
    email: Annotated[str, typer.Option(help="Sign-in address")],
    role: Annotated[Role, typer.Option(help="secretariat, regional_lead or member")],
    region: Annotated[
        list[RegionSlug] | None, typer.Option(help="A regional lead's region (repeatable)")
    ] = None,
    organization: Annotated[int | None, typer.Option(help="A member's organisation id")] = None,
    contact: Annotated[
        int | None, typer.Option(help="A member's contact id (default: the one with --email)")
    ] = None,
    admin: Annotated[bool, typer.Option(help="Secretariat admin (manages users)")] = False,
    full_name: Annotated[str, typer.Option(help="Shown in the pages and the audit log")] = "",
    password: Annotated[
        str | None, typer.Option(help="Staff password; read from standard input if omitted")
    ] = None,
) -> None:
    """Create a user. Staff passwords come from --password or standard input."""
    import sys

    from pydantic import ValidationError

    from app.accounts.schemas import UserCreate
    from app.accounts.service import create_user
    from app.core.errors import DomainError

    if role is not Role.member and password is None:
        password = (
            typer.prompt("Password", hide_input=True, confirmation_prompt=True)
            if sys.stdin.isatty()
            else sys.stdin.readline().rstrip("\n")
        )
    try:
        with session_scope() as session:
            if role is Role.member and contact is None and organization is not None:
                contact = _contact_id_by_email(session, organization, email)
            data = UserCreate(
                email=email,
                role=role,
                regions=list(region or []),
                organization_id=organization,
                contact_id=contact,
                is_admin=admin,
                full_name=full_name,
                password=password,
            )
            user = create_user(session, OPERATOR, data)
            summary = f"User {user.id} created: {user.email} ({user.role.value})"
    except ValidationError as error:
        first = error.errors()[0]
        _fail(f"{'.'.join(str(p) for p in first['loc'])}: {first['msg']}")
    except DomainError as error:
        _fail(f"{error.field_name + ': ' if error.field_name else ''}{error.message}")
    console.print(f"[green]{summary}[/green]")


@users_cli.command("list")
def users_list() -> None:
    """Every user with role, regions and whether active."""
    from rich.table import Table

    from app.accounts.service import list_users

    table = Table("id", "email", "name", "role", "regions", "organisation", "active")
    with session_scope(writes=False) as session:
        for user in list_users(session):
            role = user.role.value + (" (admin)" if user.is_admin else "")
            table.add_row(
                str(user.id),
                user.email,
                user.full_name,
                role,
                ", ".join(user.regions),
                str(user.organization_id or ""),
                "yes" if user.is_active else "no",
            )
    Console().print(table)


def _contact_id_by_email(session: Session, organization_id: int, email: str) -> int | None:
    from sqlmodel import select

    from app.members.models import Contact

    return session.scalar(
        select(Contact.id).where(
            Contact.organization_id == organization_id, Contact.email == email.strip().lower()
        )
    )


def _fail(message: str) -> NoReturn:
    console.print(f"[red]{message}[/red]")
    raise typer.Exit(code=2)


@demo_cli.command("users")
def demo_users() -> None:
    """Create one sign-in per role (demo mode only) and print how to use them."""
    from rich.table import Table

    from app.core.errors import DomainError
    from app.demo.users import ensure_demo_users

    try:
        with session_scope() as session:
            sign_ins = ensure_demo_users(session, OPERATOR)
    except DomainError as error:
        _fail(error.message)
    table = Table("role", "sign in as", "how", title="Demo sign-ins (demo mode only)")
    for sign_in in sign_ins:
        table.add_row(sign_in.role.value, sign_in.email, sign_in.how)
    console.print(table)


@demo_cli.command("alerts")
def demo_alerts() -> None:
    """Write two demo action alerts (demo mode only; only when there are none yet)."""
    from app.core.errors import DomainError
    from app.demo.alerts import ensure_demo_alerts

    try:
        with session_scope() as session:
            created = ensure_demo_alerts(session)
            titles = [f"{campaign.title} ({campaign.status})" for campaign in created]
    except DomainError as error:
        _fail(error.message)
    if not titles:
        console.print("There are alerts already; nothing added.")
    for title in titles:
        console.print(f"Demo alert: {title}")


@cli.command("worker")
def worker(
    concurrency: Annotated[
        int | None,
        typer.Option(help="Processes (default: 1 on the embedded default, 2 otherwise)"),
    ] = None,
    hostname: Annotated[
        str | None,
        typer.Option(
            "--hostname",
            "-n",
            help="Celery node name, unique per worker (default celery@<host name>); "
            "needed only to run several workers on one machine, e.g. -n w2@%h",
        ),
    ] = None,
) -> None:
    """Run a Celery worker that sends alerts (as many as you like, on any machine)."""
    import sys

    settings = get_settings()
    # SQLite has one writer: more processes would only queue on its lock.
    processes = 1 if settings.is_sqlite else (concurrency or 2)
    _supervise(
        [
            sys.executable,
            "-m",
            "celery",
            "--app",
            "workers.celery_app:celery_app",
            "worker",
            "--loglevel=INFO",
            f"--concurrency={processes}",
            "--without-gossip",
            *([f"--hostname={hostname}"] if hostname else []),
        ],
        name="worker",
    )


def _supervise(argv: list[str], *, name: str) -> None:
    """Run a Celery process and start it again when it dies on its own.

    Celery's worker can exit with an "unrecoverable error" when its Redis broker
    restarts (seen here: kombu restoring unacknowledged messages on a dropped
    connection). The database holds all the work, so starting again loses nothing.
    Ctrl-C or SIGTERM stop it for good.
    """
    import signal
    import subprocess
    import time

    stopping = False
    child: subprocess.Popen[bytes] | None = None

    def stop(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True
        if child is not None and child.poll() is None:
            child.send_signal(signum)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    while True:
        child = subprocess.Popen(argv)  # noqa: S603  (our own interpreter and Celery)
        code = child.wait()
        if stopping or code == 0:
            raise typer.Exit(code=0 if stopping else code)
        console.print(f"[yellow]The {name} stopped (exit {code}); starting it again[/yellow]")
        time.sleep(2)


@cli.command("scheduler")
def scheduler(
    state_file: Annotated[
        Path | None, typer.Option(help="Where Celery beat keeps its state (default: var/)")
    ] = None,
) -> None:
    """Run the periodic scan (one per installation): starts scheduled alerts when due,
    recovers the work of dead workers, finishes alerts with nothing left to send."""
    from app.core.settings import DEFAULT_VAR_DIR
    from workers.celery_app import celery_app

    state_file = state_file or DEFAULT_VAR_DIR / "celerybeat-schedule"
    state_file.parent.mkdir(parents=True, exist_ok=True)
    celery_app.start(["beat", "--loglevel=INFO", "--schedule", str(state_file)])


@campaigns_cli.command("watch")
def campaigns_watch(
    campaign_id: Annotated[int, typer.Argument(help="The campaign's id")],
    interval: Annotated[float, typer.Option(help="Seconds between refreshes")] = 1.0,
) -> None:
    """Show a campaign's sending progress until it is no longer sending."""
    import time

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from app.campaigns.models import Campaign, CampaignStatus
    from app.delivery.store import campaign_progress

    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[detail]}"),
        console=console,
    ) as progress:
        task = progress.add_task("Sending", total=None, detail="")
        while True:
            with session_scope(writes=False) as session:
                campaign = session.get(Campaign, campaign_id)
                if campaign is None:
                    _fail(f"No campaign with id {campaign_id}")
                figures = campaign_progress(session, campaign_id)
                status = campaign.status
            done = figures.sent + figures.failed + figures.suppressed
            progress.update(
                task,
                completed=done,
                total=figures.total or None,
                description=f"{campaign.title[:40]} ({status})",
                detail=(
                    f"sent {figures.sent} · failed {figures.failed} · suppressed "
                    f"{figures.suppressed} · {figures.rate}/s"
                ),
            )
            if status not in (CampaignStatus.sending, CampaignStatus.scheduled):
                break
            time.sleep(interval)


@cli.command("serve")
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port")] = 8000,
    workers: Annotated[
        int | None,
        typer.Option(
            help="Server processes (default WEB_WORKERS; 0: automatic, see README)", min=0
        ),
    ] = None,
    reload: Annotated[bool, typer.Option(help="Restart on code changes (one process)")] = False,
) -> None:
    """Run the web application as production does: uvicorn with uvloop and httptools,
    several processes, client addresses from the proxies in FORWARDED_ALLOW_IPS, and
    the access log with the alerts' signed links redacted (app/tracking/router.py)."""
    import uvicorn

    count = serve_workers(workers)
    console.print(
        f"Serving on [bold]http://{host}:{port}/[/bold] with {count} process(es) "
        f"(database: {_safe_url()})"
    )
    uvicorn.run("app.main:create_app", **serve_options(host, port, count, reload=reload))


def serve_workers(workers: int | None) -> int:
    import os

    settings = get_settings()
    count = settings.web_workers if workers is None else workers
    if count:
        return count
    shared = settings.throttle_backend == "redis" and not settings.is_sqlite
    return (os.cpu_count() or 1) if shared else 1


def serve_options(host: str, port: int, workers: int, *, reload: bool = False) -> dict[str, Any]:
    """uvicorn's settings for `coalition serve` (tests check them)."""
    return {
        "factory": True,
        "host": host,
        "port": port,
        # Reloading watches files from one process.
        "workers": 1 if reload else workers,
        "reload": reload,
        "loop": "uvloop",
        "http": "httptools",
        # X-Forwarded-For/-Proto from the proxies FORWARDED_ALLOW_IPS names (uvicorn reads
        # the variable; default 127.0.0.1): sign-in throttling counts the real client.
        "proxy_headers": True,
        "access_log": True,
        # Keep-alive connections from a proxy or a load generator outlive uvicorn's 5 s.
        "timeout_keep_alive": 30,
        # A worker importing the application on a busy machine takes more than uvicorn's
        # 5 s to answer the supervisor's first ping, which would kill it and start again.
        "timeout_worker_healthcheck": 60,
    }


def _safe_url() -> str:
    from sqlalchemy.engine import make_url

    return make_url(get_settings().database_url).render_as_string(hide_password=True)


def main() -> None:
    cli()


# The principal for every change made from the command line.
OPERATOR = cli_principal()

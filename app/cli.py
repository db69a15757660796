"""The `coalition` command: database, data, demo, members, and the web server."""

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from app.accounts.principal import cli_principal
from app.core import migrations
from app.core.db import session_scope
from app.core.settings import get_settings

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


@cli.command("serve")
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port")] = 8000,
    reload: Annotated[bool, typer.Option(help="Restart on code changes")] = False,
) -> None:
    """Run the web application."""
    import uvicorn

    console.print(f"Serving on [bold]http://{host}:{port}/[/bold] (database: {_safe_url()})")
    uvicorn.run("app.main:create_app", factory=True, host=host, port=port, reload=reload)


def _safe_url() -> str:
    from sqlalchemy.engine import make_url

    return make_url(get_settings().database_url).render_as_string(hide_password=True)


def main() -> None:
    cli()


# The principal for every change made from the command line.
OPERATOR = cli_principal()

"""`coalition mail`: read bounces, complaints and replies from a mailbox."""

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer
from rich.console import Console

from app.inbound.parsing import Expectation

if TYPE_CHECKING:
    from app.inbound.mailboxes import FetchSummary

mail_cli = typer.Typer(
    help="Mail that comes back: bounces, complaints and replies.", no_args_is_help=True
)
console = Console(stderr=True)


@mail_cli.command("fetch")
def fetch(
    mbox: Annotated[
        Path | None, typer.Option("--mbox", dir_okay=False, help="An mbox file (only read)")
    ] = None,
    maildir: Annotated[
        Path | None, typer.Option("--maildir", file_okay=False, help="A Maildir (only read)")
    ] = None,
    imap: Annotated[
        str | None,
        typer.Option(
            "--imap",
            help="imaps://user:password@host:993/INBOX: its unseen messages, marked seen "
            "once recorded (without a password in the address, it is asked for)",
        ),
    ] = None,
    kind: Annotated[
        Expectation,
        typer.Option(
            "--kind",
            help="auto: classify each message (complaint, bounce, else a reply); bounces: "
            "a bounce mailbox, where anything but a bounce or complaint is unrecognised",
        ),
    ] = Expectation.auto,
) -> None:
    """Record each message (one transaction each: a bad message does not stop the rest)
    and act on it: bounces mark the contact and suppress the address, complaints
    unsubscribe, replies are kept for staff. Messages received before change nothing.

    Exits with 1 if a message was unreadable or failed, 2 if the mailbox would not open."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from app.accounts.principal import cli_principal
    from app.inbound.mailboxes import (
        ImapAddress,
        ImapFolder,
        Mailbox,
        MailboxUnavailable,
        MaildirFolder,
        MboxFile,
    )
    from app.inbound.mailboxes import fetch as fetch_mailbox

    chosen = [option for option in (mbox, maildir, imap) if option is not None]
    if len(chosen) != 1:
        _fail("Give exactly one of --mbox PATH, --maildir PATH or --imap URL")
    box: Mailbox
    try:
        if mbox is not None:
            box = MboxFile(mbox)
        elif maildir is not None:
            box = MaildirFolder(maildir)
        else:
            address = ImapAddress.parse(imap or "")
            password = address.password
            if password is None:
                password = typer.prompt(f"Password for {address.display()}", hide_input=True)
            box = ImapFolder(address, password)
    except MailboxUnavailable as error:
        _fail(str(error))
    try:
        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            console=console,
            transient=True,
        ) as progress:
            task = progress.add_task("Reading messages", total=len(box))
            summary = fetch_mailbox(
                box,
                actor=cli_principal().actor,
                expect=kind,
                advance=lambda: progress.advance(task),
            )
    finally:
        box.close()
    _print_summary(summary)
    if summary.stopped:
        console.print(f"[red]Stopped: {summary.stopped}[/red]")
        raise typer.Exit(2)
    if summary.unreadable or summary.errors:
        raise typer.Exit(1)


def _print_summary(summary: "FetchSummary") -> None:
    from rich.table import Table

    from app.inbound.models import InboundKind

    table = Table(title=f"{summary.total} messages")
    table.add_column("")
    table.add_column("messages", justify="right")
    rows = [
        ("hard bounces", summary.counts[InboundKind.hard_bounce]),
        ("soft bounces", summary.counts[InboundKind.soft_bounce]),
        ("complaints", summary.counts[InboundKind.complaint]),
        ("replies", summary.counts[InboundKind.reply]),
        ("unrecognised", summary.counts[InboundKind.unrecognised]),
        ("duplicates (received before)", summary.duplicates),
        ("unreadable", summary.unreadable),
        ("errors", summary.errors),
    ]
    for label, count in rows:
        table.add_row(label, str(count))
    console.print(table)
    if summary.not_matched:
        console.print(f"{summary.not_matched} recorded without matching one of our alerts")
    for where, problem in summary.problems:
        console.print(f"[yellow]{where}: {problem}[/yellow]")


def _fail(message: str) -> NoReturn:
    console.print(f"[red]{message}[/red]")
    raise typer.Exit(code=2)

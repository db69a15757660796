"""`coalition mail fetch` on real mbox files and Maildirs, and on an IMAP folder served
over TCP by the test server in imap_server.py (imaplib runs unchanged; imaps:// needs a
certificate the machine would trust, so TLS itself is not exercised here)."""

import mailbox
from pathlib import Path

import pytest
from sqlmodel import Session, col, func, select
from typer.testing import CliRunner

from app.cli import cli
from app.delivery.suppressions import is_suppressed
from app.inbound.mailboxes import ImapAddress, MailboxUnavailable
from app.inbound.models import InboundKind, InboundMessage, InboundSource
from app.members.models import BounceStatus, Contact, SubscriptionStatus
from app.tracking.models import ResponseEvent
from tests.inbound.conftest import Alert, fixture_message
from tests.inbound.imap_server import running_imap_server
from tests.world import World

runner = CliRunner()
NOT_A_MESSAGE = b"this line is no header\nand neither is this one\n"


def mixed_messages(alert: Alert) -> list[bytes]:
    """Two hard bounces (a DSN and Exim's text), a soft one, a complaint, a reply, an
    out-of-office note, something that is no message, and the reply again."""
    d = alert.deliveries
    reply = fixture_message("reply_in_reply_to.eml", d["B"])
    return [
        fixture_message("dsn_hard_5_1_1.eml", d["C"]),
        fixture_message("dsn_soft_4_2_2.eml", d["K"]),
        NOT_A_MESSAGE,
        fixture_message("exim_text_bounce.eml", d["G"]),
        fixture_message("arf_complaint.eml", d["F"]),
        reply,
        fixture_message("auto_reply_out_of_office.eml", d["L"]),
        reply,
    ]


def said(output: str) -> str:
    """The output as one line (rich wraps it at the terminal's width)."""
    return " ".join(output.split())


def counts(output: str) -> dict[str, int]:
    """The summary table's rows: label → number."""
    found = {}
    for line in output.splitlines():
        cells = [cell.strip() for cell in line.strip("│┃ ").split("│")]
        if len(cells) == 2 and cells[1].isdigit():
            found[cells[0]] = int(cells[1])
    return found


EXPECTED_SUMMARY = {
    "hard bounces": 2,
    "soft bounces": 1,
    "complaints": 1,
    "replies": 2,
    "unrecognised": 0,
    "duplicates (received before)": 1,
    "unreadable": 1,
    "errors": 0,
}


def assert_acted_on(session: Session, world: World) -> None:
    session.expire_all()

    def contact(letter: str) -> Contact:
        return session.get_one(Contact, world.contacts[letter].id)

    assert contact("C").bounce_status is BounceStatus.hard
    assert contact("G").bounce_status is BounceStatus.hard
    assert contact("K").bounce_status is BounceStatus.soft
    assert contact("F").subscription_status is SubscriptionStatus.unsubscribed
    assert is_suppressed(session, "c@example.org")
    assert is_suppressed(session, "f@example.org")
    assert session.scalar(select(func.count()).select_from(InboundMessage)) == 6
    assert session.scalar(select(func.count()).select_from(ResponseEvent)) == 6


def test_an_mbox_file_is_read_one_message_at_a_time(
    session: Session, world: World, alert: Alert, tmp_path: Path
) -> None:
    path = tmp_path / "bounces.mbox"
    box = mailbox.mbox(path)
    for raw in mixed_messages(alert):
        box.add(raw)
    box.close()
    content = path.read_bytes()

    result = runner.invoke(cli, ["mail", "fetch", "--mbox", str(path)])
    # One message was not a message: the others were all recorded, and the exit says so.
    assert result.exit_code == 1, result.output
    assert counts(result.output) == EXPECTED_SUMMARY
    assert "message 3: The body is not an email message" in said(result.output)
    assert_acted_on(session, world)
    sources = set(session.scalars(select(InboundMessage.source)).all())
    assert sources == {InboundSource.mbox}
    assert path.read_bytes() == content  # only read

    again = runner.invoke(cli, ["mail", "fetch", "--mbox", str(path)])
    assert counts(again.output)["duplicates (received before)"] == 7
    assert_acted_on(session, world)


def test_a_maildir_is_read_and_left_as_it_was(
    session: Session, world: World, alert: Alert, tmp_path: Path
) -> None:
    box = mailbox.Maildir(tmp_path / "Maildir", create=True)
    for raw in mixed_messages(alert):
        box.add(raw)
    files = sorted(p.relative_to(tmp_path) for p in (tmp_path / "Maildir").rglob("*"))

    result = runner.invoke(cli, ["mail", "fetch", "--maildir", str(tmp_path / "Maildir")])
    assert result.exit_code == 1, result.output
    assert counts(result.output) == EXPECTED_SUMMARY
    assert_acted_on(session, world)
    assert sorted(p.relative_to(tmp_path) for p in (tmp_path / "Maildir").rglob("*")) == files


def test_a_bounce_mailbox_keeps_what_is_not_a_bounce_as_unrecognised(
    session: Session, world: World, alert: Alert, tmp_path: Path
) -> None:
    box = mailbox.Maildir(tmp_path / "Maildir", create=True)
    box.add(fixture_message("reply_in_reply_to.eml", alert.deliveries["B"]))
    box.add(fixture_message("dsn_hard_5_1_1.eml", alert.deliveries["C"]))
    result = runner.invoke(
        cli, ["mail", "fetch", "--maildir", str(tmp_path / "Maildir"), "--kind", "bounces"]
    )
    assert result.exit_code == 0, result.output
    summary = counts(result.output)
    assert (summary["unrecognised"], summary["hard bounces"], summary["replies"]) == (1, 1, 0)


def test_an_imap_folder_gives_its_unseen_messages_and_they_are_marked_seen(
    session: Session, world: World, alert: Alert
) -> None:
    with running_imap_server() as folder:
        already_read = folder.add(fixture_message("dsn_hard_5_1_1.eml", alert.deliveries["I"]))
        already_read.flags.add("\\Seen")
        for raw in mixed_messages(alert):
            folder.add(raw)

        result = runner.invoke(cli, ["mail", "fetch", "--imap", folder.url()])
        assert result.exit_code == 1, result.output
        assert counts(result.output) == EXPECTED_SUMMARY
        assert_acted_on(session, world)
        # Every message it handled is now seen (the unreadable one too: reading it
        # again would not help); the one seen before was not even fetched.
        assert all("\\Seen" in m.flags for m in folder.messages)
        assert session.get_one(Contact, world.contacts["I"].id).bounce_status is (BounceStatus.ok)
        assert set(session.scalars(select(InboundMessage.source)).all()) == {InboundSource.imap}

        again = runner.invoke(cli, ["mail", "fetch", "--imap", folder.url()])
        assert again.exit_code == 0, again.output
        assert "0 messages" in said(again.output)


def test_imap_refusals_are_clear_and_never_show_the_password(alert: Alert) -> None:
    with running_imap_server(password="correct-horse") as folder:
        folder.add(fixture_message("dsn_hard_5_1_1.eml", alert.deliveries["C"]))
        wrong = runner.invoke(cli, ["mail", "fetch", "--imap", folder.url("wrong-horse")])
        assert wrong.exit_code == 2
        assert "Authentication failed" in said(wrong.output)
        assert "wrong-horse" not in wrong.output
        other_folder = folder.url().replace("/INBOX", "/Archive")
        missing = runner.invoke(cli, ["mail", "fetch", "--imap", other_folder])
        assert missing.exit_code == 2
        assert "no such folder" in said(missing.output)
        assert not any("\\Seen" in m.flags for m in folder.messages)


def test_the_password_is_asked_for_when_the_address_has_none(
    session: Session, alert: Alert
) -> None:
    with running_imap_server(password="asked for") as folder:
        folder.add(fixture_message("dsn_hard_5_1_1.eml", alert.deliveries["C"]))
        url = f"imap://{folder.user}@{folder.host}:{folder.port}/INBOX"
        result = runner.invoke(cli, ["mail", "fetch", "--imap", url], input="asked for\n")
        assert result.exit_code == 0, result.output
        assert counts(result.output)["hard bounces"] == 1


@pytest.mark.parametrize(
    "arguments",
    [
        [],
        ["--mbox", "a.mbox", "--maildir", "Maildir"],
        ["--mbox", "/nonexistent/bounces.mbox"],
        ["--maildir", "/nonexistent/Maildir"],
        ["--imap", "https://user@mail.example.org/INBOX"],
        ["--imap", "imaps://mail.example.org/INBOX"],
    ],
)
def test_a_mailbox_that_cannot_be_opened_changes_nothing(
    session: Session, arguments: list[str]
) -> None:
    result = runner.invoke(cli, ["mail", "fetch", *arguments])
    assert result.exit_code == 2, result.output
    assert session.scalar(select(func.count()).select_from(InboundMessage)) == 0


def test_imap_addresses() -> None:
    address = ImapAddress.parse("imaps://bounces%40example.org:p%40ss%2Fword@mail.example.org")
    assert (address.tls, address.host, address.port, address.folder) == (
        True,
        "mail.example.org",
        993,
        "INBOX",
    )
    assert (address.user, address.password) == ("bounces@example.org", "p@ss/word")
    assert address.display() == "imaps://bounces@example.org@mail.example.org:993/INBOX"
    plain = ImapAddress.parse("imap://u@localhost:1143/Bounces%20Folder?starttls=1")
    assert (plain.tls, plain.starttls, plain.port, plain.folder, plain.password) == (
        False,
        True,
        1143,
        "Bounces Folder",
        None,
    )
    with pytest.raises(MailboxUnavailable, match="port"):
        ImapAddress.parse("imap://u@localhost:99999/INBOX")


def test_mailbox_messages_are_recorded_with_their_kind(
    session: Session, world: World, alert: Alert, tmp_path: Path
) -> None:
    box = mailbox.Maildir(tmp_path / "Maildir", create=True)
    box.add(fixture_message("arf_complaint.eml", alert.deliveries["F"]))
    runner.invoke(cli, ["mail", "fetch", "--maildir", str(tmp_path / "Maildir")])
    stored = session.scalars(
        select(InboundMessage).where(col(InboundMessage.kind) == InboundKind.complaint)
    ).one()
    assert (stored.source, stored.contact_id) == (InboundSource.maildir, world.contacts["F"].id)

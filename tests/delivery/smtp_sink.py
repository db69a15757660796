"""A minimal SMTP server for tests: accepts mail on localhost and keeps what it got.

Enough of RFC 5321 for smtplib: EHLO/HELO, AUTH PLAIN, MAIL, RCPT, DATA, RSET, NOOP,
QUIT, and PIPELINING (RFC 2920; commands are read line by line, so a client may send
several at once). Recipients listed in `refuse` get a permanent 550.
"""

import base64
import contextlib
import socket
import socketserver
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default
from typing import Any


@dataclass
class ReceivedMessage:
    mail_from: str
    rcpt_to: list[str]
    data: bytes

    def parsed(self) -> EmailMessage:
        message = message_from_bytes(self.data, policy=default)
        assert isinstance(message, EmailMessage)
        return message


@dataclass
class SmtpSink:
    host: str
    port: int
    refuse: frozenset[str] = frozenset()
    # Answer 451 (try again later) to every n-th recipient (0: never).
    defer_every: int = 0
    # Answer 421 (closing the connection) to every n-th MAIL (0: never).
    close_every: int = 0
    mails_seen: int = 0
    # Offer PIPELINING in the EHLO reply (real relays do; off to test the plain path).
    pipelining: bool = True
    # When given, replies to MAIL wait until it is set (a relay slow to answer).
    answer_mail: threading.Event | None = None
    # Answer NOOP with 421 and hang up, as Postfix does on a connection idle too long.
    closes_on_noop: bool = False
    # Answer RCPT for these with 421 and hang up (a relay limiting one domain's rate).
    closes_on_rcpt: frozenset[str] = frozenset()
    messages: list[ReceivedMessage] = field(default_factory=list)
    recipients_seen: int = 0
    logins: list[tuple[str, str]] = field(default_factory=list)

    def url(self, credentials: str = "") -> str:
        return f"smtp://{credentials}{self.host}:{self.port}"


class _Handler(socketserver.StreamRequestHandler):
    server: "_Server"

    def reply(self, line: str) -> None:
        self.wfile.write(line.encode() + b"\r\n")

    def handle(self) -> None:
        # Each reply goes out at once: with Nagle's algorithm a reply written right after
        # another waits for the client's delayed ACK (40 ms a pipelined message).
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        # A client that goes away (a killed worker) needs no answer.
        self.server.open_connections.add(self.connection)
        try:
            with contextlib.suppress(ConnectionResetError, BrokenPipeError, OSError):
                self._converse()
        finally:
            self.server.open_connections.discard(self.connection)

    def _converse(self) -> None:
        sink = self.server.sink
        mail_from, rcpt_to = "", list[str]()
        self.reply("220 sink ESMTP")
        while line := self.rfile.readline():
            command = line.decode().rstrip("\r\n")
            verb = command.split(" ", 1)[0].upper()
            argument = command[len(verb) :].strip()
            if verb == "EHLO":
                self.reply("250-sink")
                if sink.pipelining:
                    self.reply("250-PIPELINING")
                self.reply("250-AUTH PLAIN")
                self.reply("250 8BITMIME")
            elif verb == "HELO":
                self.reply("250 sink")
            elif verb == "AUTH":
                __mechanism, _, initial = argument.partition(" ")
                if not initial:
                    self.reply("334 ")
                    initial = self.rfile.readline().decode().strip()
                _, user, password = base64.b64decode(initial).decode().split("\0")
                sink.logins.append((user, password))
                self.reply("235 2.7.0 Authentication successful")
            elif verb == "MAIL":
                if sink.answer_mail is not None:
                    sink.answer_mail.wait(timeout=30)
                sink.mails_seen += 1
                if sink.close_every and sink.mails_seen % sink.close_every == 0:
                    self.reply("421 4.3.2 Service shutting down, closing transmission channel")
                    return
                mail_from, rcpt_to = _address(argument), []
                self.reply("250 2.1.0 Ok")
            elif verb == "RCPT":
                address = _address(argument)
                sink.recipients_seen += 1
                if address in sink.closes_on_rcpt:
                    self.reply("421 4.7.0 Too many messages for this domain, closing")
                    return
                if address in sink.refuse:
                    self.reply("550 5.1.1 No such user here")
                elif sink.defer_every and sink.recipients_seen % sink.defer_every == 0:
                    self.reply("451 4.3.0 Try again later")
                else:
                    rcpt_to.append(address)
                    self.reply("250 2.1.5 Ok")
            elif verb == "DATA" and not rcpt_to:
                self.reply("554 5.5.1 Error: no valid recipients")
            elif verb == "DATA":
                self.reply("354 End data with <CR><LF>.<CR><LF>")
                data = bytearray()
                while (chunk := self.rfile.readline()) != b".\r\n":
                    if not chunk:
                        return  # cut off mid-message: nothing was accepted
                    data += chunk[1:] if chunk.startswith(b"..") else chunk
                sink.messages.append(ReceivedMessage(mail_from, rcpt_to, bytes(data)))
                self.reply("250 2.0.0 Ok: queued")
            elif verb == "NOOP" and sink.closes_on_noop:
                self.reply("421 4.4.2 sink Error: timeout exceeded")
                return
            elif verb in ("RSET", "NOOP"):
                self.reply("250 2.0.0 Ok")
            elif verb == "QUIT":
                self.reply("221 2.0.0 Bye")
                return
            else:
                self.reply("502 5.5.2 Command not recognised")


def _address(argument: str) -> str:
    return argument.partition(":")[2].strip().split(" ", 1)[0].strip("<>")


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    sink: SmtpSink

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.open_connections: set[socket.socket] = set()


@contextmanager
def running_smtp_sink(
    refuse: frozenset[str] = frozenset(),
    *,
    port: int = 0,
    defer_every: int = 0,
    close_every: int = 0,
    pipelining: bool = True,
    answer_mail: threading.Event | None = None,
    closes_on_rcpt: frozenset[str] = frozenset(),
) -> Iterator[SmtpSink]:
    """A sink on `port` (0: any free one); `defer_every` answers 451 to every n-th
    recipient, `close_every` 421 to every n-th MAIL (and hangs up); with `answer_mail`,
    MAIL is answered only once that event is set; `closes_on_rcpt` are answered 421
    and the connection hung up."""
    server = _Server(("127.0.0.1", port), _Handler)
    host, bound_port = server.server_address[:2]
    server.sink = SmtpSink(
        host=str(host),
        port=int(bound_port),
        refuse=refuse,
        defer_every=defer_every,
        close_every=close_every,
        pipelining=pipelining,
        answer_mail=answer_mail,
        closes_on_rcpt=closes_on_rcpt,
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.sink
    finally:
        server.shutdown()
        server.server_close()
        # Going down means the clients connected now lose their connection too.
        for connection in list(server.open_connections):
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
        thread.join(timeout=5)


def free_port() -> int:
    """A local TCP port nobody listens on (for a relay that is down, or a server to
    start there later)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])

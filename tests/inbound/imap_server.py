"""A minimal IMAP4rev1 server for tests: one folder, kept in memory, over real TCP.

Enough of RFC 3501 for imaplib and `coalition mail fetch`: CAPABILITY, LOGIN, SELECT,
UID SEARCH UNSEEN, UID FETCH <uid> (BODY.PEEK[]), UID STORE <uid> +FLAGS (\\Seen),
CLOSE, LOGOUT, NOOP. What the client does to the folder (flags) is visible to the
test, like the SMTP sink beside the delivery tests.
"""

import contextlib
import re
import socketserver
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from urllib.parse import quote

_QUOTED_OR_ATOM = re.compile(r'"((?:[^"\\]|\\.)*)"|(\S+)')


@dataclass
class StoredMessage:
    uid: int
    raw: bytes
    flags: set[str] = field(default_factory=set)


@dataclass
class ImapFolderState:
    host: str
    port: int
    user: str
    password: str
    folder: str = "INBOX"
    messages: list[StoredMessage] = field(default_factory=list)
    logins: list[str] = field(default_factory=list)

    def add(self, raw: bytes, *, seen: bool = False) -> StoredMessage:
        message = StoredMessage(uid=100 + len(self.messages), raw=raw)
        if seen:
            message.flags.add("\\Seen")
        self.messages.append(message)
        return message

    def url(self, password: str | None = None) -> str:
        secret = self.password if password is None else password
        return f"imap://{self.user}:{quote(secret, safe='')}@{self.host}:{self.port}/{self.folder}"


def _arguments(text: str) -> list[str]:
    return [
        match[1].replace('\\"', '"').replace("\\\\", "\\") if match[1] is not None else match[2]
        for match in _QUOTED_OR_ATOM.finditer(text)
    ]


class _Handler(socketserver.StreamRequestHandler):
    server: "_Server"

    def send(self, line: str | bytes) -> None:
        self.wfile.write((line.encode() if isinstance(line, str) else line) + b"\r\n")

    def handle(self) -> None:
        with contextlib.suppress(ConnectionResetError, BrokenPipeError, OSError):
            self._converse()

    def _converse(self) -> None:
        state = self.server.state
        signed_in = selected = False
        self.send("* OK [CAPABILITY IMAP4rev1] test server ready")
        while line := self.rfile.readline():
            tag, _, rest = line.decode().rstrip("\r\n").partition(" ")
            command, _, argument_text = rest.partition(" ")
            command = command.upper()
            arguments = _arguments(argument_text)
            if command == "CAPABILITY":
                self.send("* CAPABILITY IMAP4rev1")
                self.send(f"{tag} OK CAPABILITY completed")
            elif command == "NOOP":
                self.send(f"{tag} OK NOOP completed")
            elif command == "LOGIN":
                state.logins.append(arguments[0] if arguments else "")
                if arguments == [state.user, state.password]:
                    signed_in = True
                    self.send(f"{tag} OK LOGIN completed")
                else:
                    self.send(f"{tag} NO [AUTHENTICATIONFAILED] Authentication failed.")
            elif command == "LOGOUT":
                self.send("* BYE logging out")
                self.send(f"{tag} OK LOGOUT completed")
                return
            elif not signed_in:
                self.send(f"{tag} BAD sign in first")
            elif command == "SELECT":
                if arguments != [state.folder]:
                    self.send(f"{tag} NO [NONEXISTENT] no such folder")
                    continue
                selected = True
                self.send(f"* {len(state.messages)} EXISTS")
                self.send("* FLAGS (\\Seen)")
                self.send(f"{tag} OK [READ-WRITE] SELECT completed")
            elif command == "CLOSE" and selected:
                selected = False
                self.send(f"{tag} OK CLOSE completed")
            elif command == "UID" and selected:
                self._uid(tag, arguments)
            else:
                self.send(f"{tag} BAD {command} not understood here")

    def _uid(self, tag: str, arguments: list[str]) -> None:
        state = self.server.state
        verb = arguments[0].upper() if arguments else ""
        by_uid = {str(m.uid): (number, m) for number, m in enumerate(state.messages, start=1)}
        if verb == "SEARCH" and [a.upper() for a in arguments[1:]] == ["UNSEEN"]:
            unseen = [str(m.uid) for m in state.messages if "\\Seen" not in m.flags]
            self.send("* SEARCH " + " ".join(unseen) if unseen else "* SEARCH")
            self.send(f"{tag} OK SEARCH completed")
        elif verb == "FETCH" and len(arguments) == 3 and arguments[2] == "(BODY.PEEK[])":
            if arguments[1] in by_uid:
                number, message = by_uid[arguments[1]]
                head = f"* {number} FETCH (UID {message.uid} BODY[] {{{len(message.raw)}}}"
                self.send(head.encode() + b"\r\n" + message.raw + b")")
            self.send(f"{tag} OK FETCH completed")
        elif verb == "STORE" and arguments[2:] == ["+FLAGS", "(\\Seen)"]:
            if arguments[1] in by_uid:
                number, message = by_uid[arguments[1]]
                message.flags.add("\\Seen")
                self.send(f"* {number} FETCH (UID {message.uid} FLAGS (\\Seen))")
            self.send(f"{tag} OK STORE completed")
        else:
            self.send(f"{tag} BAD UID {verb} not understood here")


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    state: ImapFolderState


@contextmanager
def running_imap_server(
    user: str = "bounces", password: str = "s3cret pass"
) -> Iterator[ImapFolderState]:
    server = _Server(("127.0.0.1", 0), _Handler)
    host, port = server.server_address[:2]
    server.state = ImapFolderState(host=str(host), port=int(port), user=user, password=password)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)

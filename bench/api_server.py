"""The API as production runs it, for the benchmarks that time HTTP requests.

`api_server(url, redis_url)` starts `coalition serve` against a database with the
production settings (no DEMO_MODE, a real SECRET_KEY, throttling in Redis), waits for
/healthz, and stops it afterwards. `staff_clients` signs in two staff users through
POST /api/auth/token (the OAuth2 password flow API clients use) and yields one
keep-alive httpx client per user, each sending its bearer token.

The sign-in throttle (app/core/throttle.py) counts sign-ins only, never the requests
made with a token, so nothing is switched off for the benchmarks: each user signs in
once and then makes its requests as any API client would.
"""

import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

COALITION = str(Path(sys.executable).parent / "coalition")
# Per run, so that several runs (and benchmarks) can share one database.
_RUN = secrets.token_hex(4)
ADMIN_EMAIL = f"bench-admin-{_RUN}@example.org"
LEAD_EMAIL = f"bench-lead-{_RUN}@example.org"
LEAD_REGION = "africa"
# Generated per run: the benchmark signs in with it once and forgets it.
PASSWORD = secrets.token_urlsafe(18)


@dataclass
class Server:
    base_url: str
    env: dict[str, str]
    workers: int


def production_env(database_url: str, redis_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "DEMO_MODE"}
    env.update(
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        CELERY_BROKER_URL=redis_url,
        THROTTLE_BACKEND="redis",
        MAIL_BACKEND="smtp",
        SMTP_URL="smtp://127.0.0.1:1",  # nothing here sends mail
        PUBLIC_BASE_URL="https://alerts.example.org",
        SECRET_KEY=os.environ.get("SECRET_KEY") or secrets.token_urlsafe(40),
    )
    return env


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def api_server(database_url: str, redis_url: str) -> Iterator[Server]:
    """`coalition serve` with its production defaults (as many processes as it picks
    for PostgreSQL with Redis throttling), its output in a log file."""
    env = production_env(database_url, redis_url)
    port = _free_port()
    descriptor, name = tempfile.mkstemp(prefix="coalition-serve-", suffix=".log")
    os.close(descriptor)
    log = Path(name)
    with log.open("wb") as output:  # the child keeps its own copy of the descriptor
        process = subprocess.Popen(
            [COALITION, "serve", "--host", "127.0.0.1", "--port", str(port)],
            env={**env, "COLUMNS": "300"},
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180  # importing the app on a busy machine is slow
        while True:
            if process.poll() is not None:
                printed = log.read_text(errors="replace")
                raise RuntimeError(f"coalition serve exited:\n{printed[-3000:]}")
            try:
                if httpx.get(f"{base_url}/healthz", timeout=5).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"coalition serve did not answer /healthz (log: {log})")
            time.sleep(0.5)
        started = re.search(r"with (\d+) process", log.read_text(errors="replace"))
        yield Server(base_url, env, workers=int(started.group(1)) if started else 0)
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        log.unlink(missing_ok=True)


def ensure_staff_users(server: Server) -> None:
    """A secretariat admin and a regional lead (Africa), made as an installation's
    operator makes them (`coalition users create`), with this run's password."""
    database_url = server.env["DATABASE_URL"]
    if database_url in _USERS_MADE_IN:
        return
    for email, options in (
        (ADMIN_EMAIL, ["--role", "secretariat", "--admin"]),
        (LEAD_EMAIL, ["--role", "regional_lead", "--region", LEAD_REGION]),
    ):
        subprocess.run(
            [COALITION, "users", "create", "--email", email, *options],
            input=PASSWORD + "\n",
            text=True,
            env=server.env,
            check=True,
            stdout=subprocess.DEVNULL,
        )
    _USERS_MADE_IN.add(database_url)


_USERS_MADE_IN: set[str] = set()


def signed_in_client(server: Server, email: str) -> httpx.Client:
    """One keep-alive client, signed in with a bearer token of `email`."""
    client = httpx.Client(base_url=server.base_url, timeout=60)
    response = client.post("/api/auth/token", data={"username": email, "password": PASSWORD})
    response.raise_for_status()
    client.headers["Authorization"] = f"Bearer {response.json()['access_token']}"
    return client


@contextmanager
def staff_clients(server: Server) -> Iterator[tuple[httpx.Client, httpx.Client]]:
    """(admin, regional lead) clients."""
    ensure_staff_users(server)
    admin = signed_in_client(server, ADMIN_EMAIL)
    lead = signed_in_client(server, LEAD_EMAIL)
    try:
        yield admin, lead
    finally:
        admin.close()
        lead.close()

"""One settings object, read from the environment (and an optional `.env`)."""

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_VAR_DIR = PROJECT_ROOT / "var"

# Only ever accepted in demo mode; see `_secret_key_is_real`.
DEMO_SECRET_KEY = "demo-only-secret-key-do-not-use-in-production"  # noqa: S105


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    database_url: str = Field(
        default=f"sqlite:///{DEFAULT_VAR_DIR / 'coalition.db'}",
        description="SQLAlchemy URL; PostgreSQL as postgresql+psycopg://user@host/db",
    )
    redis_url: str = "redis://127.0.0.1:6379/0"
    smtp_url: str = "smtp://127.0.0.1:1025"
    public_base_url: str = "http://127.0.0.1:8000"
    secret_key: str = DEMO_SECRET_KEY
    mail_from: str = "Coalition for the ICC <alerts@example.org>"
    # Transactional mail (sign-in links, welcome messages): "outbox" keeps it in the
    # outbox table for staff to read (the embedded default); "smtp" also hands it to
    # SMTP_URL (smtp://[user:pass@]host:port, smtps:// for TLS, ?tls=starttls) once the
    # transaction that wrote it has committed.
    mail_backend: Literal["outbox", "smtp"] = "outbox"
    smtp_timeout_seconds: float = Field(default=10.0, gt=0)
    # Demo mode allows the built-in secret key; production must set its own.
    demo_mode: bool = False
    sqlite_busy_timeout_ms: int = 10_000
    # Where sign-in and link-request throttling counts attempts: in this process (the
    # embedded default, one server process) or in Redis (production: shared by every
    # api process, survives restarts).
    throttle_backend: Literal["memory", "redis"] = "memory"
    # `coalition serve` processes (uvicorn workers). 0: one per CPU core in production
    # (THROTTLE_BACKEND=redis on PostgreSQL), else one: in-process throttle counts and
    # SQLite's single writer want one process (the embedded default, `make run`).
    web_workers: int = Field(default=0, ge=0)
    # An alert must be approved by a secretariat member other than its author before it
    # can be launched. Switch off only where one person runs the secretariat.
    campaign_approval_required: bool = True

    # --- the send pipeline (app/delivery) ---
    # Celery's broker. Empty: the embedded default, kombu's SQLAlchemy transport on a
    # SQLite file of its own beside the database (no server needed).
    celery_broker_url: str = ""
    # Messages per second for the whole installation, however many workers run
    # (0: no limit). Workers share the budget through Redis.
    send_rate_limit: float = Field(default=0.0, ge=0)
    # Recipients per claim. Each batch costs about 6 ms besides its messages (the Celery
    # task, the claim, the recipients' rows): 500 spreads that thinly (the send bench
    # went from 0.18 to 0.19-0.20 of smtp-source's rate against 200) while the last
    # batches still split evenly between workers at 10,000 recipients.
    send_batch_size: int = Field(default=500, ge=1, le=5000)
    send_lease_seconds: int = Field(default=60, ge=5)
    send_max_attempts: int = Field(default=5, ge=1)
    # List-Id and the addresses for unsubscribe mail and bounces (VERP:
    # bounces+<delivery token>@<domain>). Default: the domain of MAIL_FROM.
    mail_domain: str = ""
    # DKIM: the signing domain, the selector, and the private key (PEM, RSA or
    # Ed25519) given inline or as a file path. No key: messages are not signed.
    dkim_domain: str = ""
    dkim_selector: str = ""
    dkim_private_key: str = ""
    dkim_private_key_file: str = ""

    # --- responses to alerts (app/tracking) ---
    # A click this soon after the relay accepted the message is a mail scanner's: people
    # do not read and click that fast. Such clicks are kept, marked automated.
    tracking_scanner_window_seconds: int = Field(default=10, ge=0)
    # Every link of one message followed within this many seconds: a scanner too.
    tracking_burst_window_seconds: float = Field(default=2.0, ge=0)
    # Where a click's or an open's event goes before its answer: "direct" commits it to
    # the database; "stream" appends it to a Redis stream (REDIS_URL) that the workers
    # store in bulk every second (app/tracking/stream.py; PostgreSQL only, SQLite stays
    # direct).
    tracking_events: Literal["direct", "stream"] = "direct"

    # --- participation reports (app/reports) ---
    # An alert with more recipients than this is not counted at every request: the
    # workers count it every REPORT_REFRESH_SECONDS (less often when a count takes
    # long) and the report says when (app/reports/tallies.py).
    report_live_limit: int = Field(default=20_000, ge=0)
    report_refresh_seconds: int = Field(default=60, ge=1)
    # Alerts launched longer ago than this are no longer counted again.
    report_count_days: int = Field(default=60, ge=1)

    # --- mail that comes back: bounces, complaints, replies (app/inbound) ---
    # The mail server's shared secret for POST /api/inbound/... (sent as
    # "Authorization: Bearer <token>", 32+ characters). Empty: only a secretariat login.
    inbound_token: str = ""
    # A raw message larger than this is refused (413).
    inbound_max_bytes: int = Field(default=10_000_000, ge=1024)
    # After this many soft bounces (mailbox full, ...) an address counts as a hard bounce.
    soft_bounce_limit: int = Field(default=3, ge=1)

    @model_validator(mode="after")
    def _inbound_token_is_strong(self) -> "Settings":
        if self.inbound_token and len(self.inbound_token) < 32:
            raise ValueError("INBOUND_TOKEN must be at least 32 characters long (or empty)")
        return self

    @model_validator(mode="after")
    def _secret_key_is_real(self) -> "Settings":
        if self.secret_key == DEMO_SECRET_KEY and not self.demo_mode:
            raise ValueError(
                "SECRET_KEY must be set (32+ random characters) unless DEMO_MODE=1; "
                "the built-in key is public"
            )
        if len(self.secret_key) < 32:
            raise ValueError("SECRET_KEY must be at least 32 characters long")
        return self

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


@lru_cache
def get_settings() -> Settings:
    return Settings()

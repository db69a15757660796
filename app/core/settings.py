"""One settings object, read from the environment (and an optional `.env`)."""

from functools import lru_cache
from pathlib import Path

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
    # Demo mode allows the built-in secret key; production must set its own.
    demo_mode: bool = False
    sqlite_busy_timeout_ms: int = 10_000

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

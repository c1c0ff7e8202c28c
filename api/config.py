"""Every setting the service reads, with its default; the environment overrides each one."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from pathlib import Path
from urllib.parse import urlsplit

from schemas.common import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE


def _data_home() -> Path:
    return Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")


def _switch(value: str) -> bool:
    if value.lower() in ("on", "true", "1", "yes"):
        return True
    if value.lower() in ("off", "false", "0", "no"):
        return False
    raise ValueError(f"expected on or off, got {value!r}")


def _public_base_url(value: str) -> str:
    """The URL clients reach the service under, without its trailing slash; checked at start-up,
    since every link the service writes begins with it."""
    value = value.strip().rstrip("/")
    if not value:
        return ""
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc or "?" in value or "#" in value:
        raise ValueError(f"PUBLIC_BASE_URL must be an http:// or https:// URL without a query, got {value!r}")
    return value


# How a setting's variable is read, by the setting's type (a string here: annotations are not evaluated).
READERS: dict[str, Callable[[str], object]] = {
    "str": str,
    "str | None": str,
    "int": int,
    "int | None": int,
    "float": float,
    "bool": _switch,
    "Path": Path,
    "tuple[str, ...]": lambda value: tuple(value.replace(",", " ").split()),  # comma- or space-separated
}
BLANK_IS_DEFAULT = {"str | None", "bool", "Path"}


@dataclass(frozen=True)
class Settings:
    """Documented in the settings table of docs/operators.md; a test keeps the two in step."""

    database_url: str | None = None
    embedded_pg_dir: Path = field(default_factory=lambda: _data_home() / "proposals-api" / "pg")
    host: str = "127.0.0.1"
    port: int = 8000
    web_concurrency: int = 2
    web_threads: int = 1
    web_io_threads: int = 32
    pool_min_size: int = 1
    pool_max_size: int | None = None  # None: web_threads + 1, set by __post_init__
    pool_timeout: float = 1.0
    connect_timeout: int = 2
    database_read_deadline: float = 1.5
    database_write_deadline: float = 3.0
    default_page_size: int = DEFAULT_PAGE_SIZE
    max_page_size: int = MAX_PAGE_SIZE
    log_level: str = "INFO"
    database_read_url: tuple[str, ...] = ()
    replica_max_lag_bytes: int = 16 * 1024 * 1024
    prepared_statements: bool = True
    fast_path: bool = True
    version_cache: bool = True
    version_cache_size: int = 50_000
    response_cache: bool = True
    response_cache_mb: int = 32
    cache_shared_max_age: int = 0
    rate_limit_window: int = 60
    rate_limit_writes: int = 600
    rate_limit_reads: int = 30000
    trusted_proxies: int = 0
    public_base_url: str = ""  # "": links are path-absolute (`/v1/talks?cursor=…`)
    metrics_token: str = ""  # "": no /metrics route at all
    idempotency_ttl: int = 24 * 60 * 60
    changes_poll_interval: int = 5  # seconds: the change feed's head says max-age=N (api/resources/changes.py)

    def __post_init__(self) -> None:
        # One connection per thread, and one more for a streamed export's own.
        if self.pool_max_size is None:
            object.__setattr__(self, "pool_max_size", self.web_threads + 1)
        object.__setattr__(self, "public_base_url", _public_base_url(self.public_base_url))
        if not 1 <= self.default_page_size <= self.max_page_size:
            raise ValueError("DEFAULT_PAGE_SIZE must be at least 1 and at most MAX_PAGE_SIZE")
        if self.web_threads < 1 or self.web_io_threads < 0:
            raise ValueError("WEB_THREADS must be at least 1 and WEB_IO_THREADS at least 0")
        if self.version_cache_size < 1:
            raise ValueError("VERSION_CACHE_SIZE must be at least 1 (items)")
        if self.response_cache_mb < 1:
            raise ValueError("RESPONSE_CACHE_MB must be at least 1 (megabytes)")
        if self.changes_poll_interval < 1:
            raise ValueError("CHANGES_POLL_INTERVAL must be at least 1 (seconds)")
        if self.idempotency_ttl < 1:
            raise ValueError("IDEMPOTENCY_TTL must be at least 1 (seconds)")
        if min(self.database_read_deadline, self.database_write_deadline) <= 0:
            raise ValueError("DATABASE_READ_DEADLINE and DATABASE_WRITE_DEADLINE must be more than 0 seconds")

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Settings:
        """Each setting from the variable named like it in capitals (`web_threads`: WEB_THREADS), read
        as its type reads; an empty variable leaves the default of a path, a switch or an optional URL."""
        env = dict(os.environ if env is None else env)
        given = {}
        for setting in fields(cls):
            value = env.get(setting.name.upper())
            if value is not None and (value or setting.type not in BLANK_IS_DEFAULT):
                given[setting.name] = READERS[setting.type](value)
        return cls(**given)

    def require_database_url(self) -> str:
        if not self.database_url:
            raise RuntimeError("DATABASE_URL is not set (the CLI starts an embedded Postgres when it is not)")
        return self.database_url


ENV_NAMES = [setting.name.upper() for setting in fields(Settings)]

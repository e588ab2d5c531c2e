"""Settings read from the environment (PORT, DATABASE_URL, GOVFLOW_CLOCK, …)."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _default_db() -> str:
    return f"sqlite:///{ROOT / 'instance' / 'govflow.db'}"


@dataclass
class Settings:
    database_url: str = field(default_factory=lambda: os.environ.get("DATABASE_URL") or _default_db())
    port: int = field(default_factory=lambda: int(os.environ.get("PORT", "8000")))
    host: str = field(default_factory=lambda: os.environ.get("HOST", "127.0.0.1"))
    secret_key: str = field(default_factory=lambda: os.environ.get("SECRET_KEY") or _secret())
    bpmn_dir: Path = field(default_factory=lambda: Path(os.environ.get("GOVFLOW_BPMN_DIR", ROOT / "bpmn")))
    timers: bool = field(default_factory=lambda: os.environ.get("GOVFLOW_TIMERS", "1") != "0")
    poll_seconds: float = field(default_factory=lambda: float(os.environ.get("GOVFLOW_POLL_SECONDS", "1")))
    deploy_on_start: bool = True
    # The web's own defences (service/web/security_headers.py, rate_limits.py): served over TLS
    # (Secure cookies, HSTS), how many reverse proxies in front are trusted for X-Forwarded-*,
    # the rate limits on or off (off only for benchmarks) and where their counters live.
    tls: bool = field(default_factory=lambda: os.environ.get("GOVFLOW_TLS", "0") == "1")
    trusted_proxies: int = field(default_factory=lambda: int(os.environ.get("GOVFLOW_TRUSTED_PROXIES", "0")))
    ratelimit: bool = field(default_factory=lambda: os.environ.get("GOVFLOW_RATELIMIT", "1") != "0")
    ratelimit_storage: str = field(
        default_factory=lambda: os.environ.get("GOVFLOW_RATELIMIT_STORAGE") or "memory://")


def _secret() -> str:
    """A stable secret per installation, so sessions survive restarts and are shared by workers."""
    path = ROOT / "instance" / "secret_key"
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        path.parent.mkdir(parents=True, exist_ok=True)
        value = secrets.token_hex(32)
        path.write_text(value)
        return value

"""A scratch PostgreSQL database for a benchmark: created empty before it runs, dropped after.

The benchmarks never touch the development or test databases; each names its own in an
environment variable, and this module makes and removes it through the `postgres` database.
"""

from __future__ import annotations

from urllib.parse import urlparse

import psycopg


def _admin_dsn(url: str) -> tuple[str, str]:
    parsed = urlparse(url)
    return parsed._replace(path="/postgres").geturl(), parsed.path.lstrip("/")


def drop_database(url: str) -> None:
    """Drop the database `url` names, disconnecting anyone still in it (it is only ever a scratch one)."""
    dsn, name = _admin_dsn(url)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def create_database(url: str) -> None:
    """Create the database `url` names, empty, dropping what a previous run left behind."""
    drop_database(url)
    dsn, name = _admin_dsn(url)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')

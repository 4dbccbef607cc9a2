"""Real parts for backup tests: SQLite files with a live writer, throwaway PostgreSQL
databases, loopback HTTP(S) servers, and instances that run one task through a worker."""

from __future__ import annotations

import ipaddress
import socket
import sqlite3
import ssl
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import psycopg
import pytest
from backup_support import PG_SERVER, ROWS, Writer

from sexton.clock import SystemClock
from sexton.engine.service import Instance


@pytest.fixture
def real_instance(write_config) -> Iterator[Callable[..., Instance]]:
    """Backups are named by the time they are made: these use the system clock."""
    opened: list[Instance] = []

    def make(body: str, **environ: str) -> Instance:
        instance = Instance.open(write_config(body, **environ), SystemClock())
        opened.append(instance)
        return instance

    yield make
    for instance in opened:
        instance.engine.dispose()


@pytest.fixture
def store_dir(tmp_path: Path) -> Path:
    root = tmp_path / "backups-store"
    root.mkdir()
    return root


@pytest.fixture
def app_sqlite(tmp_path: Path) -> Path:
    """An application's SQLite database (WAL, as busy ones are) with two tables."""
    path = tmp_path / "app.db"
    connection = sqlite3.connect(path)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("CREATE TABLE submission (id INTEGER PRIMARY KEY, body TEXT)")
    connection.execute("CREATE TABLE project (id INTEGER PRIMARY KEY, title TEXT)")
    connection.executemany(
        "INSERT INTO submission (body) VALUES (?)", [(f"s{i}" * 20,) for i in range(ROWS)]
    )
    connection.executemany("INSERT INTO project (title) VALUES (?)", [("p",)] * 50)
    connection.commit()
    connection.close()
    return path


@pytest.fixture
def app_postgres() -> Iterator[str]:
    """A throwaway PostgreSQL database with two tables, dropped afterwards."""
    name = f"sexton_src_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(f"{PG_SERVER}/postgres", autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")
    url = f"{PG_SERVER}/{name}"
    with psycopg.connect(url) as connection:
        connection.execute("CREATE TABLE submission (id serial PRIMARY KEY, body text)")
        connection.execute("CREATE TABLE project (id serial PRIMARY KEY, title text)")
        connection.execute(
            "INSERT INTO submission (body) SELECT repeat('s', 40) FROM generate_series(1, %s)",
            (ROWS,),
        )
        connection.execute("INSERT INTO project (title) SELECT 'p' FROM generate_series(1, 50)")
    yield url
    with psycopg.connect(f"{PG_SERVER}/postgres", autocommit=True) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture
def sqlite_writer(app_sqlite: Path) -> Iterator[Callable[[], Writer]]:
    connections: list[sqlite3.Connection] = []

    def make() -> Writer:
        connection = sqlite3.connect(app_sqlite, check_same_thread=False, timeout=30)
        connections.append(connection)

        def insert_one() -> None:
            with connection:
                connection.execute("INSERT INTO submission (body) VALUES ('live')")

        return Writer(insert_one)

    yield make
    for connection in connections:
        connection.close()


@pytest.fixture
def postgres_writer(app_postgres: str) -> Iterator[Callable[[], Writer]]:
    connections: list[psycopg.Connection] = []

    def make() -> Writer:
        connection = psycopg.connect(app_postgres, autocommit=True)
        connections.append(connection)
        return Writer(
            lambda: connection.execute("INSERT INTO submission (body) VALUES ('live')") and None
        )

    yield make
    for connection in connections:
        connection.close()


class _Handler(BaseHTTPRequestHandler):
    """/ok, /error (500), /slow (answers after half a second), /flaky (500 twice, then ok)."""

    flaky_calls = 0

    def do_GET(self) -> None:  # noqa: N802 - the http.server API
        if self.path == "/slow":
            time.sleep(0.5)
        if self.path == "/flaky":
            type(self).flaky_calls += 1
        failing = self.path == "/error" or (self.path == "/flaky" and self.flaky_calls <= 2)
        body = b"server error" if failing else b"<h1>hello sexton</h1>"
        self.send_response(500 if failing else 200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


def _serve(context: ssl.SSLContext | None = None) -> Iterator[str]:
    handler = type("Handler", (_Handler,), {"flaky_calls": 0})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    if context is not None:
        server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    scheme = "https" if context is not None else "http"
    yield f"{scheme}://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture
def http_server() -> Iterator[str]:
    """A real HTTP server on loopback; yields its base URL."""
    yield from _serve()


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts connections and never answers."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        yield listener.getsockname()[1]


@pytest.fixture
def closed_port() -> int:
    """A port nothing listens on: connections are refused."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """An HTTPS server on loopback whose self-signed certificate expires in five days;
    yields its base URL and the certificate to trust."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=5))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path = tmp_path / "cert.pem"
    key_path = tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_path, key_path)
    for url in _serve(context):
        yield url, cert_path

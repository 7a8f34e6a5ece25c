"""Connector test fixtures: signed posts to the inbound endpoint, connectors per adapter, a
real Dovecot IMAP server and a real local HTTP receiver."""

from __future__ import annotations

import json
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from django.urls import reverse

from connectors import signing
from tests.connectors.factories import ConnectorFactory
from tests.servers import free_port

FIXTURES = Path(__file__).parent / "fixtures"
CONTENT_TYPES = {
    ".eml": "message/rfc822",
    ".json": "application/json",
    ".txt": "application/x-www-form-urlencoded",
}


def fixture_bytes(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def content_type_of(name: str) -> str:
    return CONTENT_TYPES[Path(name).suffix]


@pytest.fixture
def make_connector(client_a, queue_a):
    def _make(adapter: str = "email", slug: str | None = None, **kwargs):
        kwargs.setdefault("client", client_a)
        if kwargs["client"] == client_a:
            kwargs.setdefault("default_queue", queue_a)
        return ConnectorFactory(adapter=adapter, slug=slug or f"{adapter}-{kwargs['client'].slug}", **kwargs)

    return _make


@pytest.fixture
def sla_policy_a(client_a):
    """Client A's SLA policy: an hour to respond (first and next), a day to resolve (normal)."""
    from tests.factories import SLAPolicyFactory

    return SLAPolicyFactory(
        client=client_a,
        targets={
            ("first_response", "normal"): 3600,
            ("next_response", "normal"): 3600,
            ("resolution", "normal"): 86400,
        },
    )


@pytest.fixture
def post_event(client):
    """`post_event(connector, body, content_type=..., timestamp=..., secret=..., headers=...)`."""

    def _post(
        connector,
        body: bytes,
        *,
        content_type="application/json",
        timestamp=None,
        secret=None,
        headers=None,
        signed=True,
    ):
        stamp = int(time.time()) if timestamp is None else timestamp
        extra = signing.sign(secret or connector.signing_secret, stamp, body) if signed else {}
        extra.update(headers or {})
        return client.post(
            reverse("connectors:inbound-events", args=[connector.slug]),
            data=body,
            content_type=content_type,
            headers=extra,
        )

    return _post


@pytest.fixture
def post_fixture(post_event):
    """`post_fixture(connector, "email_plain.eml")`: a fixture payload, signed."""

    def _post(connector, name: str, **kwargs):
        kwargs.setdefault("content_type", content_type_of(name))
        return post_event(connector, fixture_bytes(name), **kwargs)

    return _post


# --- A real local HTTP receiver ----------------------------------------------------------------


@dataclass
class Receiver:
    url: str
    requests: list = field(default_factory=list)
    statuses: list = field(default_factory=list)  # status codes to answer, in order; then 200
    # Answer with a body of this many bytes instead ("x" after a first line), written in chunks
    # `drip_seconds` apart; `sent` counts what the client took before it hung up.
    body_bytes: int = 0
    drip_seconds: float = 0.0
    sent: int = 0
    answer: dict | None = None  # the JSON to answer (else {"ok": ...})

    def next_status(self) -> int:
        return self.statuses.pop(0) if self.statuses else 200


@pytest.fixture
def http_receiver():
    """An http.server on 127.0.0.1 in a thread, recording each request (headers, body)."""
    state = Receiver(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            state.requests.append({"path": self.path, "headers": dict(self.headers.items()), "body": body})
            status = state.next_status()
            if state.body_bytes:
                self._stream(status)
                return
            payload = json.dumps(state.answer if state.answer is not None else {"ok": status < 300}).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def _stream(self, status: int):
            self.send_response(status)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", str(state.body_bytes))
            self.end_headers()
            chunk = 1 if state.drip_seconds else 64 * 1024
            first = b"streamed answer\n"
            body = first + b"x" * (state.body_bytes - len(first))
            try:
                for start in range(0, state.body_bytes, chunk):
                    self.wfile.write(body[start : start + chunk])
                    self.wfile.flush()
                    state.sent += len(body[start : start + chunk])
                    if state.drip_seconds:
                        time.sleep(state.drip_seconds)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client hung up: what it did not read is not counted

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hooks"
    yield state
    server.shutdown()
    server.server_close()


# --- A real Dovecot IMAP server ----------------------------------------------------------------


@dataclass(frozen=True)
class ImapServer:
    host: str
    port: int
    user: str
    password: str


def _dovecot_binary() -> str | None:
    return shutil.which("dovecot") or next(
        (path for path in ("/usr/sbin/dovecot", "/usr/local/sbin/dovecot") if os.access(path, os.X_OK)), None
    )


@pytest.fixture(scope="session")
def dovecot():
    """Dovecot started in a temp dir on a free local port (config generated here). Skips only
    when Dovecot is not installed, and fails instead under CI=true (bin/test-setup installs it)."""
    binary = _dovecot_binary()
    if binary is None:
        message = "Dovecot is not installed (bin/test-setup installs dovecot-imapd)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    root = Path(tempfile.mkdtemp(prefix="accord-dovecot-"))
    port = free_port()
    user, password = "support", "imap-test-password"
    if os.geteuid() == 0:
        # Dovecot refuses to run mail processes as root: they run as nobody.
        nobody = pwd.getpwnam("nobody")
        uid, gid = nobody.pw_uid, nobody.pw_gid
        internal = ""
    else:
        uid, gid = os.getuid(), os.getgid()
        me = pwd.getpwuid(uid).pw_name
        internal = f"default_internal_user = {me}\ndefault_internal_group = {me}\ndefault_login_user = {me}\n"
    (root / "mail").mkdir()
    os.chmod(root, 0o755)
    os.chown(root / "mail", uid, gid) if os.geteuid() == 0 else None
    (root / "passwd").write_text(f"{user}:{{PLAIN}}{password}::::::\n")
    (root / "dovecot.conf").write_text(
        f"""base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
instance_name = accord-test-{port}
{internal}protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
mail_location = maildir:{root}/mail/%u
first_valid_uid = 1
first_valid_gid = 1
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/passwd
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={root}/mail/%u
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service stats {{
  unix_listener stats-reader {{
    mode = 0666
  }}
  unix_listener stats-writer {{
    mode = 0666
  }}
}}
"""
    )
    process = subprocess.Popen(
        [binary, "-F", "-c", str(root / "dovecot.conf")], stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if process.poll() is not None:
            output = process.stdout.read().decode(errors="replace") if process.stdout else ""
            log = (root / "dovecot.log").read_text() if (root / "dovecot.log").exists() else ""
            pytest.fail(f"Dovecot exited: {output}\n{log}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
                if sock.recv(100).startswith(b"* OK"):
                    break
        except OSError:
            time.sleep(0.1)
    else:
        process.terminate()
        pytest.fail("Dovecot did not start listening within 15 s")
    yield ImapServer(host="127.0.0.1", port=port, user=user, password=password)
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    shutil.rmtree(root, ignore_errors=True)

"""POSTing to a URL outside Accord (a client's webhook receiver, a channel's delivery URL)
without trusting what answers.

Redirects are not followed. Of the answer, only the status and the first bytes of the body are
read, within a deadline. A receiver that streams an endless or slow body cannot hold a worker
past its delivery lease or fill its memory. `requests` without `stream=True` downloads the
whole body before the caller can cut an excerpt from it.

The time one POST can take is bounded by the connect timeout, plus the read timeout for the
status line and headers, plus the read timeout again for the body (the deadline, plus at most
one read that was already waiting when it passed).

The address connected to is checked once the connection is made and before anything is sent:
private, link-local, reserved and (unless ACCORD_WEBHOOKS_ALLOW_LOOPBACK) loopback peers are
refused. Checking the URL's host when it is saved or before sending (`webhooks.url_check`) is
not enough on its own: the name is resolved again to connect, and a DNS answer that changes in
between (DNS rebinding) would reach an internal service. Environment proxies are not used
(the peer checked must be the receiver itself); the environment's CA bundle is.
"""

from __future__ import annotations

import codecs
import ipaddress
import os
import socket
import time
from dataclasses import dataclass

import requests
from django.conf import settings
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import NewConnectionError

CONNECT_TIMEOUT_SECONDS = 5
_CHUNK_BYTES = 512

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def address_refused(address: IPAddress, *, allow_loopback: bool) -> str:
    """Why Accord does not connect to `address` (loopback, link-local, private, reserved), or ""."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    if address.is_loopback:
        return "" if allow_loopback else "loopback"
    if address.is_link_local:
        return "link-local"
    if address.is_private:
        return "private"
    if address.is_multicast or address.is_reserved or address.is_unspecified:
        return "reserved"
    return ""


class _PeerRefused(NewConnectionError):
    def __init__(self, connection: HTTPConnection, refusal: str) -> None:
        super().__init__(connection, refusal)
        self.refusal = refusal


def _peer_checked(connection: HTTPConnection, sock: socket.socket) -> socket.socket:
    peer = ipaddress.ip_address(sock.getpeername()[0].split("%")[0])
    reason = address_refused(peer, allow_loopback=settings.ACCORD_WEBHOOKS_ALLOW_LOOPBACK)
    if reason:
        sock.close()
        raise _PeerRefused(connection, f"{connection.host} resolved to a {reason} address ({peer}); refused.")
    return sock


class _PublicHTTPConnection(HTTPConnection):
    def _new_conn(self) -> socket.socket:
        return _peer_checked(self, super()._new_conn())


class _PublicHTTPSConnection(HTTPSConnection):
    def _new_conn(self) -> socket.socket:  # before the TLS handshake
        return _peer_checked(self, super()._new_conn())


class _PublicHTTPPool(HTTPConnectionPool):
    ConnectionCls = _PublicHTTPConnection


class _PublicHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _PublicHTTPSConnection


class _PublicOnlyAdapter(HTTPAdapter):
    def init_poolmanager(self, *args, **kwargs) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _PublicHTTPPool, "https": _PublicHTTPSPool}


@dataclass(frozen=True)
class Answer:
    status_code: int
    excerpt: str  # the body's first characters, at most the `excerpt_chars` asked for


def post(
    url: str, *, body: bytes, headers: dict[str, str], read_timeout: float, excerpt_chars: int
) -> Answer:
    """POST `body` to `url`; raises `requests.RequestException` when no answer comes (a refused
    address or connection, a timeout, a malformed response)."""
    with requests.Session() as session:
        session.trust_env = False  # no proxy from the environment: the peer checked is the receiver
        # ... but the CA bundle the environment names still applies, as requests would take it.
        session.verify = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True
        session.mount("http://", _PublicOnlyAdapter())
        session.mount("https://", _PublicOnlyAdapter())
        try:
            response = session.post(
                url,
                data=body,
                headers=headers,
                timeout=(CONNECT_TIMEOUT_SECONDS, read_timeout),
                allow_redirects=False,
                stream=True,
            )
        except requests.ConnectionError as exc:
            refused = getattr(exc.args[0] if exc.args else None, "reason", None)
            if isinstance(refused, _PeerRefused):  # said plainly, not inside urllib3's retry report
                raise requests.ConnectionError(refused.refusal) from exc
            raise
        with response:
            excerpt = _excerpt(response, excerpt_chars, deadline=time.monotonic() + read_timeout)
            return Answer(response.status_code, excerpt)


def _excerpt(response: requests.Response, chars: int, *, deadline: float) -> str:
    """The body's first `chars` characters, read until they are in or the deadline passes.
    Leaving the `with` block closes the connection with the rest of the body unread."""
    try:
        decoder = codecs.getincrementaldecoder(response.encoding or "utf-8")(errors="replace")
    except LookupError:  # a charset Python does not know
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    text = ""
    while len(text) < chars and time.monotonic() < deadline:
        # One read of what has arrived (a dripping body is not waited for to fill a chunk).
        chunk = response.raw.read1(_CHUNK_BYTES, decode_content=True)
        if not chunk:
            break
        text += decoder.decode(chunk)  # a character cut between chunks waits for its next bytes
    return text[:chars]

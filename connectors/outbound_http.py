"""POSTing to a URL outside Accord (a client's webhook receiver, a channel's delivery URL)
without trusting what answers.

Redirects are not followed. Of the answer, only the status and the first bytes of the body are
read, within a deadline. A receiver that streams an endless or slow body cannot hold a worker
past its delivery lease or fill its memory. `requests` without `stream=True` downloads the
whole body before the caller can cut an excerpt from it.

The time one POST can take is bounded by the connect timeout, plus the read timeout for the
status line and headers, plus the read timeout again for the body (the deadline, plus at most
one read that was already waiting when it passed).
"""

from __future__ import annotations

import codecs
import time
from dataclasses import dataclass

import requests

CONNECT_TIMEOUT_SECONDS = 5
_CHUNK_BYTES = 512


@dataclass(frozen=True)
class Answer:
    status_code: int
    excerpt: str  # the body's first characters, at most the `excerpt_chars` asked for


def post(
    url: str, *, body: bytes, headers: dict[str, str], read_timeout: float, excerpt_chars: int
) -> Answer:
    """POST `body` to `url`; raises `requests.RequestException` when no answer comes (refused
    connection, timeout, malformed response)."""
    with requests.post(
        url,
        data=body,
        headers=headers,
        timeout=(CONNECT_TIMEOUT_SECONDS, read_timeout),
        allow_redirects=False,
        stream=True,
    ) as response:
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

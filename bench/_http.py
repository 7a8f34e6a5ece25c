"""HTTP for the benchmarks: the server (gunicorn, 2 workers, loopback) and wrk, Debian's HTTP
load generator (4 connections for N seconds, every response counted by status, the summary
parsed).

A wrk caller gives the Lua that makes its requests (`wrk.method`/`wrk.body`/`wrk.headers`, or a
`request()` function); the reporting part is shared."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def gunicorn(
    port: int, *, pythonpath: str = "", timeout: int = 30, env: dict | None = None
) -> subprocess.Popen:
    """gunicorn serving `config.wsgi` (2 workers, 127.0.0.1:`port`) with this environment (or
    `env`); `pythonpath`: more import paths. The caller waits for it to answer."""
    command = [sys.executable, "-m", "gunicorn", "config.wsgi:application", "--workers", "2"]
    command += ["--bind", f"127.0.0.1:{port}", "--log-level", "warning", "--timeout", str(timeout)]
    if pythonpath:
        command += ["--pythonpath", pythonpath]
    return subprocess.Popen(
        command,
        cwd=ROOT,
        env=env if env is not None else os.environ.copy(),
    )


REPORT = r"""
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) statuses = {} end
function response(status, headers, body) statuses[status] = (statuses[status] or 0) + 1 end
function done(summary, latency, requests)
  io.write(string.format("WRK %d %.3f %.1f %.1f", summary.requests, summary.duration / 1e6,
    latency:percentile(50) / 1e3, latency:percentile(95) / 1e3))
  for _, thread in ipairs(threads) do
    for status, count in pairs(thread:get("statuses")) do
      io.write(string.format(" %d=%d", status, count))
    end
  end
  io.write("\n")
end
"""


@dataclass(frozen=True)
class WrkResult:
    requests: int
    seconds: float
    p50_ms: float
    p95_ms: float
    statuses: str  # "201=5453 400=2"

    @property
    def rate(self) -> float:
        return self.requests / self.seconds

    def summary(self) -> str:
        return (
            f"{self.rate:,.0f} req/s, p50 {self.p50_ms:.1f} ms, p95 {self.p95_ms:.1f} ms; "
            f"statuses {self.statuses}"
        )


def wrk(url: str, seconds: int, requests_lua: str) -> WrkResult:
    """Load `url` for `seconds` with 4 connections (one wrk thread), requests made by
    `requests_lua`."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua") as lua:
        lua.write(requests_lua + REPORT)
        lua.flush()
        output = subprocess.run(
            ["wrk", "-t1", "-c4", f"-d{seconds}s", "-s", lua.name, url],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    line = next(line for line in output.splitlines() if line.startswith("WRK "))
    _, count, duration, p50, p95, *statuses = line.split()
    return WrkResult(int(count), float(duration), float(p50), float(p95), " ".join(statuses))

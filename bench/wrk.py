"""Run ``wrk`` (closed loop: N connections, each sends its next request when the last answered)
with a POST body and headers, and read its summary from a Lua ``done`` hook as JSON."""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from pathlib import Path

_SCRIPT = """
wrk.method = "POST"
wrk.body = {body}
wrk.headers["Content-Type"] = "application/json"
{headers}

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCHJSON {{"requests":%d,"duration_us":%d,"non_2xx_3xx":%d,"connect":%d,"read":%d,"write":%d,' ..
    '"timeout":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d,"mean_us":%.1f}}\\n',
    summary.requests, summary.duration, e.status, e.connect, e.read, e.write, e.timeout,
    latency:percentile(50.0), latency:percentile(90.0), latency:percentile(99.0), latency.max, latency.mean))
end
"""


def _lua_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def require_wrk() -> str:
    path = shutil.which("wrk")
    if path is None:
        raise RuntimeError("wrk is not installed: apt-get install -y wrk (the Makefile's bench target does it)")
    return path


def run_wrk(url: str, *, body: str, headers: dict[str, str] | None = None, connections: int = 32,
            threads: int = 2, seconds: float = 10.0, timeout_s: int = 10) -> dict:
    """One wrk run; returns req/s (2xx/3xx only), p50/p90/p99 in ms and error counts."""
    if not url.startswith("http://127.0.0.1:"):
        raise ValueError("load goes to 127.0.0.1 only")
    header_lines = "\n".join(f"wrk.headers[{_lua_string(k)}] = {_lua_string(v)}" for k, v in (headers or {}).items())
    script = _SCRIPT.format(body=_lua_string(body), headers=header_lines)
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as handle:
        handle.write(script)
        script_path = handle.name
    try:
        argv = [require_wrk(), "-t", str(threads), "-c", str(connections), "-d", f"{max(1, round(seconds))}s",
                "--timeout", f"{timeout_s}s", "-s", script_path, url]
        out = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + timeout_s + 30)
    finally:
        Path(script_path).unlink(missing_ok=True)
    line = next((text for text in out.stdout.splitlines() if text.startswith("BENCHJSON ")), None)
    if line is None:
        raise RuntimeError(f"wrk printed no summary (exit {out.returncode}):\n{out.stdout}\n{out.stderr}")
    raw = json.loads(line[len("BENCHJSON "):])
    seconds_run = raw["duration_us"] / 1e6
    good = raw["requests"] - raw["non_2xx_3xx"]
    return {
        "requests": raw["requests"],
        "good": good,
        "seconds": seconds_run,
        "rps": good / seconds_run if seconds_run else None,
        "p50_ms": raw["p50_us"] / 1000,
        "p90_ms": raw["p90_us"] / 1000,
        "p99_ms": raw["p99_us"] / 1000,
        "max_ms": raw["max_us"] / 1000,
        "errors": {k: raw[k] for k in ("non_2xx_3xx", "connect", "read", "write", "timeout")},
    }

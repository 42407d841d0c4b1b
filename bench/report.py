"""The printed table (figure, reference, ratio, target, pass/fail) built from the results."""

from __future__ import annotations


def _fmt(value, digits: int = 0) -> str:
    if value is None:
        return "-"
    if isinstance(value, str):
        return value
    return f"{value:,.{digits}f}"


def _short(count: int) -> str:
    if count >= 1_000_000 and count % 1_000_000 == 0:
        return f"{count // 1_000_000}M"
    if count >= 1_000 and count % 1_000 == 0:
        return f"{count // 1_000}k"
    return f"{count:,}"


def _verdict(ok) -> str:
    if ok is None:
        return "n/a"
    return "PASS" if ok else "FAIL"


def _row(rows: list, section: str, metric: str, value, reference, ratio_value, target: str, ok, digits: int = 0):
    rows.append({
        "section": section, "metric": metric, "hookrelay": value, "reference": reference,
        "ratio": ratio_value, "target": target, "result": _verdict(ok), "digits": digits,
    })


def _at_least(value, bound):
    return None if value is None else value >= bound


def _at_most(value, bound):
    return None if value is None else value <= bound


def build_rows(results: dict) -> list[dict]:
    rows: list[dict] = []
    sub = results.get("submission")
    if sub and "error" not in sub:
        h, c = sub["hookrelay"], sub["ceiling"]
        _row(rows, "1 submission", "POST /v1/jobs req/s vs ceiling app", h["rps"], c["rps"], sub["rps_ratio"],
             ">= 0.70x", _at_least(sub["rps_ratio"], 0.7))
        _row(rows, "1 submission", "POST /v1/jobs p50 ms", h["p50_ms"], c["p50_ms"],
             (h["p50_ms"] / c["p50_ms"]) if h["p50_ms"] and c["p50_ms"] else None, "-", None, 1)
        _row(rows, "1 submission", "POST /v1/jobs p99 ms", h["p99_ms"], c["p99_ms"], sub["p99_ratio"],
             "<= 2.00x", _at_most(sub["p99_ratio"], 2.0), 1)
    drain = results.get("drain")
    if drain and "error" not in drain:
        for shape in drain["shapes"].values():
            label = f"{shape['events']:,} x {shape['endpoints']} ep"
            complete = shape["hookrelay"]["complete"]
            ok = _at_least(shape["ceiling_ratio"], 0.5)
            _row(rows, "2 drain", f"{label} /s vs aiohttp c={shape['ceiling_concurrency']}",
                 shape["hookrelay"]["rate"], shape["ceiling"]["rate"], shape["ceiling_ratio"], ">= 0.50x",
                 ok and complete if ok is not None else None)
            _row(rows, "2 drain", f"{label} re-sent by scheduler", shape.get("scheduler_resent"), None, None, "-", None)
            ok = _at_least(shape["peer_ratio"], 2.0)
            _row(rows, "2 drain", f"{label} /s vs Dramatiq peer",
                 shape["hookrelay"]["rate"], shape["peer"]["rate"], shape["peer_ratio"], ">= 2.00x",
                 ok and complete if ok is not None else None)
    e2e = results.get("end_to_end")
    if e2e and "error" not in e2e:
        ceiling = e2e["ceiling_rps"]
        _row(rows, "3 end to end", "accepted/s vs ceiling app", e2e["accepted_per_s"], ceiling,
             (e2e["accepted_per_s"] / ceiling) if ceiling and e2e["accepted_per_s"] else None, "-", None)
        ok = _at_least(e2e["delivered_ratio"], 0.5)
        at = f" at -c{e2e['connections']}" if e2e.get("connections") else ""
        _row(rows, "3 end to end", f"delivered/s{at} vs best ceiling", e2e["delivered_per_s"],
             ceiling, e2e["delivered_ratio"], ">= 0.50x", ok)
        for count, summary in sorted((e2e.get("by_connections") or {}).items(), key=lambda kv: int(kv[0])):
            if int(count) != e2e.get("connections"):
                _row(rows, "3 end to end", f"delivered/s at -c{count} (median)", summary["delivered_per_s"],
                     ceiling, (summary["delivered_per_s"] / ceiling) if ceiling and summary["delivered_per_s"] else None,
                     "-", None)
        at_submission_load = e2e.get("delivered_per_s_at_submission_connections")
        if at_submission_load is not None and e2e.get("connections") != e2e.get("submission_connections"):
            _row(rows, "3 end to end", f"delivered/s at -c{e2e['submission_connections']} (one probe)",
                 at_submission_load, e2e.get("ceiling_rps_at_submission_connections"),
                 e2e.get("delivered_ratio_at_submission_connections"), "-", None)
        if e2e.get("api_p99_ms") is not None:
            _row(rows, "3 end to end", "API p99 ms under that load", e2e["api_p99_ms"], None, None, "-", None, digits=1)
        _row(rows, "3 end to end", "backlog when load stops", e2e["backlog_at_load_end"], None, None, "-", None)
        _row(rows, "3 end to end", "left behind after grace", e2e["left_behind"], None, None, "= 0",
             e2e["left_behind"] == 0)
    lat = results.get("latency")
    if lat and "error" not in lat:
        _row(rows, "4 first attempt", "202 -> arrival p50 ms", lat["p50_ms"], None, None, "<= 15 ms",
             _at_most(lat["p50_ms"], 15), 1)
        _row(rows, "4 first attempt", "202 -> arrival p95 ms", lat["p95_ms"], None, None, "-", None, 1)
        _row(rows, "4 first attempt", "202 -> arrival p99 ms", lat["p99_ms"], None, None, "<= 100 ms",
             _at_most(lat["p99_ms"], 100), 1)
        sent, api = lat.get("sent_to_arrival") or {}, lat.get("api_answer") or {}
        _row(rows, "4 first attempt", "request sent -> arrival p50 ms", sent.get("p50_ms"), None, None, "-", None, 1)
        _row(rows, "4 first attempt", "request sent -> arrival p99 ms", sent.get("p99_ms"), None, None, "-", None, 1)
        _row(rows, "4 first attempt", "API answer (202) p99 ms", api.get("p99_ms"), None, None, "-", None, 1)
        _row(rows, "4 first attempt", "lost / refused",
             f"{lat['not_delivered']} / {lat['not_accepted']}", None, None, "= 0",
             lat["not_delivered"] == 0 and lat["not_accepted"] == 0)
    growth = results.get("growth")
    if growth and "error" not in growth:
        small, large = growth["small"], growth["large"]
        label = f"{_short(growth['large_rows'])} vs {_short(growth['small_rows'])}"
        _row(rows, "5 growth", f"scan+claim ms {label}", large["scan_claim"]["total_ms"],
             small["scan_claim"]["total_ms"], growth["scan_claim_ratio"], "<= 1.20x",
             _at_most(growth["scan_claim_ratio"], 1.2), 2)
        _row(rows, "5 growth", f"jobs req/s {label} (small/large)", large["submission"]["rps"],
             small["submission"]["rps"], growth["submission_cost_ratio"], "<= 1.20x",
             _at_most(growth["submission_cost_ratio"], 1.2))
        _row(rows, "5 growth", f"jobs p99 ms {label}", large["submission"]["p99_ms"],
             small["submission"]["p99_ms"], growth["submission_p99_ratio"], "-", None, 1)
    memory = results.get("memory")
    if memory and "error" not in memory:
        _row(rows, "6 memory", "worker RSS MiB after vs start", memory["after"]["total_kib"] / 1024,
             memory["start"]["total_kib"] / 1024, memory["ratio"], "<= 1.20x", _at_most(memory["ratio"], 1.2))
        first = memory.get("after_end_to_end")
        if first and first.get("total_kib"):
            _row(rows, "6 memory", "worker RSS MiB after vs after e2e", memory["after"]["total_kib"] / 1024,
                 first["total_kib"] / 1024, memory["after"]["total_kib"] / first["total_kib"], "-", None)
    return rows


def _ratio_text(ratio: float | None, target: str) -> str:
    """Two decimals, or three where two would print the target itself (0.4975 shows as 0.497x
    against ">= 0.50x", not as a failing "0.50x")."""
    if ratio is None:
        return "-"
    text = f"{ratio:.2f}"
    if target != "-" and target.split()[-1].rstrip("x") == text:
        text = f"{ratio:.3f}"
    return f"{text}x"


def render(rows: list[dict], errors: dict[str, str]) -> str:
    headers = ["scenario", "metric", "hookrelay", "reference", "ratio", "target", "result"]
    table = []
    for row in rows:
        digits = row["digits"]
        table.append([
            row["section"], row["metric"], _fmt(row["hookrelay"], digits), _fmt(row["reference"], digits),
            _ratio_text(row["ratio"], row["target"]), row["target"], row["result"],
        ])
    for name, message in errors.items():
        table.append([name, f"ERROR: {message.splitlines()[-1][:80] if message else ''}", "-", "-", "-", "-", "ERROR"])
    widths = [max(len(h), *(len(r[i]) for r in table)) if table else len(h) for i, h in enumerate(headers)]
    align_right = {2, 3, 4}

    def line(cells):
        pairs = enumerate(zip(cells, widths, strict=True))
        return "  ".join(c.rjust(w) if i in align_right else c.ljust(w) for i, (c, w) in pairs)

    out = [line(headers), "  ".join("-" * w for w in widths)]
    out += [line(r) for r in table]
    return "\n".join(out)

"""The dispatch bench's table: results next to their targets, pass or MISS."""

from __future__ import annotations

from typing import Any

import typed_claims

TARGETS: list[tuple[str, str, float, str]] = [
    # (label, result path, limit, "le" | "ge"): issue 18's table, then (d) from issue 3
    ("server CPU ms per task, 4 requests", "b_cycles.http.server_cpu_ms_per_task", 1.2, "le"),
    ("cycles/s, 8 clients, 4 requests", "b_cycles.http.cycles_per_s", 400.0, "ge"),
    ("cycles/s, batch + report on claim", "b_cycles.http_batch.cycles_per_s", 1000.0, "ge"),
    ("create→claimed p50 ms, 200 idle", "a_wake.latency_ms.p50", 5.0, "le"),
    ("create→claimed p99 ms, 200 idle", "a_wake.latency_ms.p99", 15.0, "le"),
    ("create→claimed p99 ms, 10k idle", "e_pollers.latency_ms.p99", 25.0, "le"),
    ("server cores while 10k idle", "e_pollers.idle_cpu_cores.server", 0.10, "le"),
    ("server RSS KB per idle waiter", "e_pollers.rss_per_waiter_kb", 8.0, "le"),
    ("claim p50 ratio, 100k/100 queued", "c_depth.ratio_p50", 1.2, "le"),
    ("runyard --help s", "f_cli.runyard --help", 0.3, "le"),
    ("runyard task list s", "f_cli.runyard task list", 0.3, "le"),
    ("(d) bytes per queued task", "d_memory.bytes_per_task", 4096.0, "le"),
    typed_claims.TARGET,
]


def lookup(results: dict[str, Any], path: str) -> float:
    value: Any = results
    head, _, last = path.rpartition(".")
    for part in head.split("."):
        value = value[part]
    return float(value[last])


def verdicts(
    results: dict[str, Any], targets: list[tuple[str, str, float, str]] | None = None
) -> list[dict[str, Any]]:
    """Each target of ``targets`` (default: the dispatch bench's) with its value and verdict."""
    rows = []
    for label, path, limit, sense in TARGETS if targets is None else targets:
        value = lookup(results, path)
        ok = value <= limit if sense == "le" else value >= limit
        rows.append({"target": label, "value": value, "limit": limit, "sense": sense, "pass": ok})
    return rows


def busiest(results: dict[str, Any]) -> float:
    """The most CPU (in cores) other processes used during any measured window."""
    windows = [
        results["a_wake"]["cpu_cores"],
        results["a_wake_one"]["cpu_cores"],
        results["b_cycles"]["http"]["cpu_cores"],
        results["b_cycles"]["http_batch"]["cpu_cores"],
        results["b_cycles"]["store_in_process"]["cpu_cores"],
        results["c_depth"]["cpu_cores"],
    ]
    return max(float(window.get("others", 0.0)) for window in windows)


def cores(usage: dict[str, float]) -> str:
    return ", ".join(f"{name} {value:.2f}" for name, value in usage.items())


def calls(per: dict[str, float]) -> str:
    return " ".join(f"{name} {value:g}" for name, value in list(per.items())[:4])


def ms(s: dict[str, float]) -> str:
    return f"p50 {s['p50']:7.2f}  p99 {s['p99']:7.2f}  max {s['max']:7.2f} ms  (n={s['n']})"


def render(results: dict[str, Any], checks: list[dict[str, Any]]) -> str:
    floor, a, a1 = results["floor"], results["a_wake"], results["a_wake_one"]
    b, c, d = results["b_cycles"], results["c_depth"], results["d_memory"]
    lines = [
        f"Runyard dispatch bench — {results['machine']['cpus']} CPUs, "
        f"Redis {results['machine']['redis']}, Python {results['machine']['python']}",
        "",
        f"floor  redis ZADD→BZPOPMIN        {ms(floor['zadd_bzpopmin_ms'])}",
        f"floor  HTTP GET /healthz          {ms(floor['http_healthz_ms'])}",
        f"(a)    enqueue→claim, {a['claimers']:>3} idle   {ms(a['latency_ms'])}",
        f"       POST /tasks response       {ms(a['create_response_ms'])}",
        f"       enqueue→claim, {a1['claimers']:>3} idle   {ms(a1['latency_ms'])}",
        f"       cores used ({a['claimers']} idle): {cores(a['cpu_cores'])}",
        f"       per enqueued task: server CPU {a['server_cpu_ms_per_task']:.1f} ms "
        f"({a1['server_cpu_ms_per_task']:.1f} ms with {a1['claimers']}); Redis calls "
        f"{calls(a['redis_calls_per_task'])} ({calls(a1['redis_calls_per_task'])})",
        *cycle_lines(b["http"]),
        *cycle_lines(b["http_batch"]),
        f"       store in-process ({b['store_in_process']['cycles']} cycles)  "
        f"{b['store_in_process']['cycles_per_s']:8.1f} cycles/s",
        f"       cores used: {cores(b['store_in_process']['cpu_cores'])}",
        f"(c)    claim, {c['shallow']['queued']:>7} queued, before fill  "
        f"{ms(c['shallow_alone']['http_ms'])}",
        f"       claim, {c['shallow']['queued']:>7} queued (HTTP)  {ms(c['shallow']['http_ms'])}",
        f"       claim, {c['deep']['queued']:>7} queued (HTTP)  {ms(c['deep']['http_ms'])}",
        f"       claim, {c['shallow']['queued']:>7} queued (store) {ms(c['shallow']['store_ms'])}",
        f"       claim, {c['deep']['queued']:>7} queued (store) {ms(c['deep']['store_ms'])}",
        f"       ratio deep/shallow  HTTP p50 {c['ratio_p50']:.2f}  p99 {c['ratio_p99']:.2f}"
        f"   store p50 {c['store_ratio_p50']:.2f}  p99 {c['store_ratio_p99']:.2f}",
        f"       cores used: {cores(c['cpu_cores'])}",
        f"(d)    {d['bytes_per_task']:.0f} bytes of Redis memory per queued task "
        f"({d['tasks']} tasks, spec JSON {d['spec_json_bytes']} B)",
        *poller_lines(results["e_pollers"]),
        "(f)    " + "   ".join(f"{k} {v * 1e3:.0f} ms" for k, v in results["f_cli"].items()),
        *typed_claims.lines(results["g_typed"]),
        "",
        f"load average (1 min) at start {results['load'][0]:.2f}, at end {results['load'][1]:.2f}",
        f"other processes on this machine (not the bench) used up to {busiest(results):.2f} "
        "cores during the timed windows",
        "",
        "targets:",
    ]
    lines.extend(target_lines(checks))
    return "\n".join(lines)


def cycle_lines(h: dict[str, Any]) -> list[str]:
    """(b)'s lines for one protocol over HTTP."""
    return [
        f"(b)    HTTP, {h['clients']} clients, {h['protocol']}: {h['cycles_per_s']:.1f} cycles/s "
        f"{h['requests_per_s']:.1f} req/s (errors {h['error_count']}, empty claims "
        f"{h['empty_claims']})",
        *(
            [f"       cycle latency              {ms(h['cycle_latency_ms'])}"]
            if h["cycle_latency_ms"]["n"]
            else []
        ),
        f"       cores used: {cores(h['cpu_cores'])}",
        f"       CPU per task: server {h['server_cpu_ms_per_task']:.2f} ms "
        f"({h['server_cpu_ms_per_request']:.2f} ms per request), jobs "
        f"{h['jobs_cpu_ms_per_task']:.2f} ms, Redis {h['redis_cpu_ms_per_task']:.2f} ms",
        f"       Redis commands per cycle: {calls(h['redis_calls_per_cycle'])} "
        f"(all: {sum(h['redis_calls_per_cycle'].values()):.1f})",
    ]


def poller_lines(e: dict[str, Any]) -> list[str]:
    """(e)'s lines: many idle long-pollers on one server process."""
    return [
        f"(e)    {e['pollers']} idle long-pollers (wait_s {e['wait_s']:g}) on one server process",
        f"       create→claimed             {ms(e['latency_ms'])}  (errors {e['error_count']})",
        f"       server RSS {e['rss_before_mb']:.0f} MB → {e['rss_waiting_mb']:.0f} MB waiting "
        f"({e['rss_per_waiter_kb']:.1f} KB per waiter), {e['redis_connections']} Redis "
        "connections in all",
        f"       cores used over {e['idle_window_s']:g} s idle: {cores(e['idle_cpu_cores'])}",
    ]


def target_lines(checks: list[dict[str, Any]], width: int = 36) -> list[str]:
    """One line per target: label, value, limit and pass or MISS."""
    lines = []
    for row in checks:
        sign = "≤" if row["sense"] == "le" else "≥"
        verdict = "pass" if row["pass"] else "MISS"
        lines.append(
            f"  {row['target']:<{width}} {row['value']:10.2f}  {sign} {row['limit']:<8g} {verdict}"
        )
    return lines

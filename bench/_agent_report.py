"""The agent bench's table: results next to their targets, pass or MISS."""

from __future__ import annotations

from typing import Any

from _report import cores, ms, target_lines

TARGETS: list[tuple[str, str, float, str]] = [
    # (label, result path, limit, "le" | "ge")
    ("(1) claim→first statement p50 s", "claim.claim_to_first_s.p50", 1.0, "le"),
    ("(1) claim→first statement max s", "claim.claim_to_first_s.max", 1.0, "le"),
    ("(3) 1M lines: agent / direct", "spam.ratio", 1.15, "le"),
    ("(3) lines at the server, in order", "spam.lines_in_place", 1_000_000, "ge"),
    (
        "(3) 1M lines: last line at the server after the loop s",
        "spam.last_line_within_s",
        1.0,
        "le",
    ),
    ("(5) log path alone: last ack after the loop s", "logpath.last_acked_after_end_s", 1.0, "le"),
    ("(6) local run: Task.init → record visible max s", "local_init.visible_s.max", 1.0, "le"),
    ("(4) idle agent, % of a core", "idle.percent_of_core", 0.5, "le"),
]


def render(results: dict[str, Any], checks: list[dict[str, Any]]) -> str:
    machine, c, b = results["machine"], results["claim"], results["build"]
    s, idle = results["spam"], results["idle"]
    loops = [run["loop_s"] for run in s["runs"]]
    lines = [
        f"Runyard agent bench — {machine['cpus']} CPUs, Python {machine['python']}, "
        f"load average at start {machine['load_at_start']['load1']:.2f}",
        "",
        f"(1) claim→first statement ({c['tasks']} tasks, cached venv)",
        f"      enqueue sent→first statement (upper bound)  {ms(c['claim_to_first_ms'])}",
        f"      server 'started'→first statement (lower)    {ms(c['started_to_first_ms'])}",
        f"      agent's own claim→Popen (its log)           {ms(c['agent_claim_to_popen_ms'])}",
    ]
    for stage, stats in c["stages_ms"].items():
        lines.append(f"        {stage:<42} {ms(stats)}")
    lines += [
        f"      cores used: {cores(c['cpu_cores'])}",
        f"(2) cold venv build, {len(b['requirements'])} pure-Python requirements "
        f"(median of {len(b['runs']['uv'])}; download caches warm)",
    ]
    for tool in ("uv", "pip"):
        r = b[tool]
        lines.append(
            f"      {tool:<4} total {r['total_s']:6.2f} s  (virtualenv {r['virtualenv_s']:.2f} s, "
            f"install {r['install_s']:.2f} s)"
        )
    lines += [
        f"      pip/uv: total {b['ratio_pip_over_uv']:.2f}x, install step "
        f"{b['install_ratio_pip_over_uv']:.2f}x",
        "(3) 1,000,000 printed lines, the loop's own time",
        f"      direct, stdout to /dev/null        {s['direct_devnull_s']:6.3f} s  "
        f"(runs {', '.join(f'{x:.3f}' for x in s['direct_devnull_runs'])})",
        f"      direct, stdout to a drained pipe   {s['direct_pipe_s']:6.3f} s",
        f"      under the agent                    {s['agent_s']:6.3f} s  "
        f"(runs {', '.join(f'{loop:.3f}' for loop in loops)})  ratio {s['ratio']:.2f}x",
    ]
    for i, run in enumerate(s["runs"]):
        lines += [
            f"      run {i}: {run['numbered_lines']} numbered lines received, "
            f"{run['distinct']} distinct, all once in order: {run['all_once_in_order']}; "
            f"agent read the last {run['last_line_read_after_end_s']:.2f} s after the loop "
            f"ended, server had it within {run['server_had_last_line_within_s']:.2f} s",
            f"        enqueue→task finished {run['enqueue_to_end_s']:.2f} s; "
            f"CPU s: {', '.join(f'{k} {v:.2f}' for k, v in run['cpu_s'].items())}",
            f"        read back in {run['read_back_s']:.1f} s ({run['read_back_pages']} pages)",
        ]
        if run["agent_notes"]:
            notes = [n for n in run["agent_notes"] if "dropped" in n]
            if notes:
                lines.append(f"        agent notes: {notes}")
    p, li = results["logpath"], results["local_init"]
    lines.append("(5) the agent's log path alone (readers, spool, sender), server only acks")
    for run in p["runs"]:
        lines.append(
            f"      loop {run['loop_s']:6.3f} s, last batch acknowledged "
            f"{run['last_acked_after_end_s']:.2f} s after the loop ended ({run['batches']} "
            f"batches, {run['mb_posted']:.0f} MB)"
        )
    lines.append(
        f"(6) local run, Task.init → record visible: p50 {li['visible_s']['p50']:.3f} s, "
        f"max {li['visible_s']['max']:.3f} s; created ≤ {li['created_s_max']:.3f} s after "
        f"Task.init began ({len(li['runs'])} runs)"
    )
    lines += [
        f"(4) idle agent: {idle['cpu_s']:.3f} CPU s in {idle['window_s']:.1f} s = "
        f"{idle['percent_of_core']:.3f} % of a core",
        f"      cores used: {cores(idle['cpu_cores'])}",
        "",
        f"other processes (not the bench) used up to {busiest(results):.2f} cores during the "
        "timed windows",
        "",
        "targets:",
        *target_lines(checks),
    ]
    return "\n".join(lines)


def busiest(results: dict[str, Any]) -> float:
    windows = [results["claim"]["cpu_cores"], results["idle"]["cpu_cores"]]
    windows += [run["cpu_cores"] for run in results["spam"]["runs"]]
    return max(float(window.get("others", 0.0)) for window in windows)

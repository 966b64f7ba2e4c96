#!/usr/bin/env python3
"""Writes report.md and report.json from what run.sh left in the report
folder: logs/env.txt, logs/probe.txt, logs/tests/*.log|.rc (libtest output
with --show-output), bench.jsonl (benches/gpu.rs), peers.json (peers.py).

    python3 report.py --report gpu-report --bundle gpu-bundle
"""
import argparse
import json
import os
import re
import sys

TEST_LINE = re.compile(r"^test (\S+) \.\.\. (ok|FAILED|ignored)(?:, (.*))?$")
RESULT_LINE = re.compile(
    r"^test result: (\w+)\. (\d+) passed; (\d+) failed; (\d+) ignored; (\d+) measured; (\d+) filtered out")
BLOCK_START = re.compile(r"^---- (\S+) (?:stdout|stderr) ----$")
SKIP_WORDS = re.compile(r"\b(skipping|skipped)\b", re.IGNORECASE)


def read(path, default=""):
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read()
    except OSError:
        return default


def key_values(text, sep):
    out = {}
    for line in text.splitlines():
        if sep in line:
            k, v = line.split(sep, 1)
            out[k.strip()] = v.strip()
    return out


def parse_suite(name, log, rc, listed=""):
    """One test binary's results: every test with its status, skip reasons
    from the captured output of passing tests, libtest's totals."""
    tests = {}
    for line in log.splitlines():
        m = TEST_LINE.match(line)
        if m:
            tests[m.group(1)] = {"name": m.group(1), "status": m.group(2).lower(), "detail": m.group(3) or ""}
    # Captured output blocks: `---- name stdout ----` up to the next block or
    # the `successes:`/`failures:` list.
    current, outputs = None, {}
    for line in log.splitlines():
        m = BLOCK_START.match(line)
        if m:
            current = m.group(1)
            outputs.setdefault(current, [])
            continue
        if line in ("successes:", "failures:") or line.startswith("test result:"):
            current = None
            continue
        if current is not None:
            outputs[current].append(line)
    for t in tests.values():
        lines = outputs.get(t["name"], [])
        reasons = [l.strip() for l in lines if SKIP_WORDS.search(l)]
        if t["status"] == "ok" and reasons:
            t["status"] = "skipped"
            t["detail"] = " | ".join(dict.fromkeys(reasons))
        if t["status"] == "failed":
            t["detail"] = "\n".join(lines[-40:])
    totals = None
    for line in log.splitlines():
        m = RESULT_LINE.match(line)
        if m:
            totals = {"result": m.group(1), "passed": int(m.group(2)), "failed": int(m.group(3)),
                      "ignored": int(m.group(4))}
    counts = {s: sum(1 for t in tests.values() if t["status"] == s) for s in ("ok", "skipped", "failed", "ignored")}
    # `--list --format terse` lines: "name: test".
    unfinished = [l[: -len(": test")] for l in listed.splitlines()
                  if l.endswith(": test") and l[: -len(": test")] not in tests]
    state = "ok"
    if rc == 124:
        state = "timed out"
    elif rc != 0 or totals is None or counts["failed"]:
        state = "failed"
    return {
        "suite": name,
        "exit_code": rc,
        "state": state,
        "passed": counts["ok"],
        "skipped": counts["skipped"],
        "failed": counts["failed"],
        "ignored": counts["ignored"],
        "libtest_totals": totals,
        "tests": sorted(tests.values(), key=lambda t: t["name"]),
        "unfinished": unfinished if rc == 124 else [],
        "log_tail": "" if state == "ok" else "\n".join(log.splitlines()[-30:]),
    }


def fmt_ns(ns):
    if ns is None:
        return "-"
    ns = float(ns)
    if ns < 1e3:
        return f"{ns:.0f} ns"
    if ns < 1e6:
        return f"{ns / 1e3:.2f} µs"
    if ns < 1e9:
        return f"{ns / 1e6:.2f} ms"
    return f"{ns / 1e9:.2f} s"


def fmt_rate(v):
    for div, unit in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if v >= div:
            return f"{v / div:.2f} {unit}/s"
    return f"{v:.1f} /s"


def bench_rows(records):
    rows = []
    for r in records:
        kind = r.get("kind")
        if kind == "meta":
            continue
        name, group = r.get("name", "?"), r.get("group", "?")
        if kind == "time":
            rows.append((group, name, fmt_ns(r["median_ns"]), fmt_ns(r["p99_ns"]), str(r["reps"]), r.get("note", "")))
        elif kind == "throughput":
            rows.append((group, name, fmt_ns(r["median_ns"]) + " /item", fmt_ns(r["p99_ns"]) + " /item",
                         f"{r['reps']}×{r['items_per_rep']}", f"{fmt_rate(r['per_sec'])} {r.get('note', '')}".strip()))
        elif kind == "ratio":
            goal = ""
            if "goal_max" in r:
                goal = f"goal ≤ {r['goal_max']:.2f}: {'met' if r['goal_met'] else 'NOT met'}"
            rows.append((group, name, f"{r['ratio']:.3f}×", f"{r['p99_ratio']:.3f}×", "", " ".join(x for x in (goal, r.get("note", "")) if x)))
        elif kind == "skipped":
            rows.append((group, name, "skipped", "", "", r.get("reason", "")))
    return rows


def md_escape(s):
    return str(s).replace("|", "\\|").replace("\n", " ")


def table(header, rows):
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(md_escape(c) for c in row) + " |" for row in rows]
    return "\n".join(out)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--report", required=True)
    ap.add_argument("--bundle", required=True)
    args = ap.parse_args()
    logs = os.path.join(args.report, "logs")

    env = key_values(read(os.path.join(logs, "env.txt")), "=")
    probe = key_values(read(os.path.join(logs, "probe.txt")), ":")
    manifest = {}
    try:
        manifest = json.loads(read(os.path.join(args.bundle, "manifest.json"), "{}"))
    except json.JSONDecodeError:
        pass

    needs_source = []
    for line in read(os.path.join(args.bundle, "needs-source.tsv")).splitlines():
        cols = line.split("\t")
        if len(cols) >= 3 and not line.startswith("#"):
            needs_source.append(tuple(cols[:3]))

    suites = []
    tdir = os.path.join(logs, "tests")
    for f in sorted(os.listdir(tdir)) if os.path.isdir(tdir) else []:
        if f.endswith(".log"):
            name = f[:-4]
            rc_text = read(os.path.join(tdir, name + ".rc"), "").strip()
            suites.append(parse_suite(name, read(os.path.join(tdir, f)), int(rc_text) if rc_text else -1,
                                      read(os.path.join(tdir, name + ".list"))))
    totals = {k: sum(s[k] for s in suites) for k in ("passed", "skipped", "failed", "ignored")}
    totals["suites"] = len(suites)
    totals["suites_not_ok"] = sum(1 for s in suites if s["state"] != "ok")

    records = []
    for line in read(os.path.join(args.report, "bench.jsonl")).splitlines():
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            pass
    bench_rc = read(os.path.join(logs, "bench.rc")).strip()
    peers = {}
    try:
        peers = json.loads(read(os.path.join(args.report, "peers.json"), "{}"))
    except json.JSONDecodeError:
        pass

    report = {
        "machine": env,
        "spindle_probe": probe,
        "bundle": manifest,
        "not_run_needs_source": [{"suite": a, "test": b, "reason": c} for a, b, c in needs_source],
        "tests": {"totals": totals, "suites": suites},
        "bench": {"exit_code": int(bench_rc) if bench_rc.lstrip("-").isdigit() else None, "records": records},
        "peers": peers,
        "floor": read(os.path.join(logs, "floor.txt")).strip(),
    }
    with open(os.path.join(args.report, "report.json"), "w") as f:
        json.dump(report, f, indent=2)

    md = ["# spindle GPU check", ""]
    gpu = env.get("gpu_name") or "none"
    md += [
        f"- date: {env.get('started', '?')} (UTC)",
        f"- GPU: {gpu}" + (f", driver {env.get('gpu_driver')}, CUDA {env.get('driver_cuda_version')}, "
                          f"compute capability {env.get('gpu_compute_capability')}" if env.get("gpu_name") else ""),
        f"- spindle sees: GPU {probe.get('gpu', '?')}; arch {probe.get('arch', '?')}; NVRTC {probe.get('nvrtc', '?')}",
        f"- NVRTC library: {env.get('nvrtc_library') or 'not found'} in {env.get('nvrtc_dir') or '-'}",
        f"- CPU: {env.get('cpu', '?')} ({env.get('cpu_threads', '?')} threads), {env.get('os', '?')}, {env.get('kernel', '?')}",
        f"- bundle: commit {manifest.get('commit', '?')}{' (+ uncommitted changes)' if manifest.get('worktree_dirty') else ''}, "
        f"built {manifest.get('built_at', '?')} with {manifest.get('rustc', '?')}",
        "",
        "## Tests",
        "",
        f"{totals['suites']} suites: {totals['passed']} passed, {totals['skipped']} skipped (passed, with a part not run), "
        f"{totals['failed']} failed, {totals['ignored']} ignored; suites not ok: {totals['suites_not_ok']}.",
        "",
        table(["suite", "state", "passed", "skipped", "failed", "ignored"],
              [(s["suite"], s["state"], s["passed"], s["skipped"], s["failed"], s["ignored"]) for s in suites]),
        "",
    ]
    left_out = manifest.get("left_out", [])
    if left_out or needs_source:
        md += ["Not run from the bundle (they need the source tree, which a GPU machine does not have):", ""]
        md += [f"- suite `{x['suite']}`: {x['reason']}" for x in left_out]
        md += [f"- test `{suite}::{test}`: {reason}" for suite, test, reason in needs_source]
        md += [""]
    skipped = [(s["suite"], t["name"], t["detail"]) for s in suites for t in s["tests"] if t["status"] == "skipped"]
    if skipped:
        by_reason = {}
        for _, name, detail in skipped:
            # The same reason names each test; count them without the names.
            key = re.sub(r"`[^`]*`|^\S+: |SKIPPED \S+: ", "…", detail)
            by_reason[key] = by_reason.get(key, 0) + 1
        md += ["### Skipped, with the reason each test printed", "",
               "Reasons (test names elided):", ""]
        md += [f"- {n} × {md_escape(k)}" for k, n in sorted(by_reason.items(), key=lambda kv: -kv[1])]
        md += ["", table(["suite", "test", "reason"], skipped), ""]
    bad = [s for s in suites if s["state"] != "ok"]
    for s in bad:
        md += [f"### {s['suite']}: {s['state']} (exit {s['exit_code']})", ""]
        failed = [t for t in s["tests"] if t["status"] == "failed"]
        for t in failed:
            md += [f"- `{t['name']}`", "", "```", t["detail"].strip(), "```", ""]
        if s["unfinished"]:
            md += ["Still running when the time ran out (or never started): "
                   + ", ".join(f"`{t}`" for t in s["unfinished"]), ""]
        if not failed:
            md += ["Last lines of the log:", "", "```", s["log_tail"], "```", ""]

    md += ["## Benchmarks", "",
           f"`bin/bench/gpu` (benches/gpu.rs), exit code {bench_rc or 'not run'}. Per repetition: median and p99.", ""]
    meta = next((r for r in records if r.get("kind") == "meta"), None)
    if meta and meta.get("quick"):
        md += ["**--quick run: a tenth of the repetitions.**", ""]
    rows = bench_rows(records)
    if rows:
        md += [table(["group", "figure", "median", "p99", "reps", "note"], rows), ""]
    else:
        md += ["No benchmark figures (see logs/bench.log).", ""]

    floor = report["floor"]
    md += ["## Floor: the same GPU with no spindle code (floor.cu)", "",
           "```", floor or "not run (see run.sh)", "```", ""]

    md += ["## Peers: saxpy launch + sync", ""]
    prow = []
    spindle = {r["name"].replace(", spindle", ""): r for r in records
               if r.get("group") == "batch" and r.get("name", "").startswith("saxpy")}
    for r in peers.get("results", []):
        if "skipped" in r:
            prow.append((r["peer"], r["name"], "skipped", "", r["skipped"]))
        else:
            prow.append((r["peer"], r["name"], fmt_ns(r["median_ns"]), fmt_ns(r["p99_ns"]), r.get("note", "")))
    for name, r in spindle.items():
        if r.get("kind") == "time":
            prow.append(("spindle", name, fmt_ns(r["median_ns"]), fmt_ns(r["p99_ns"]), r.get("note", "")))
        else:
            prow.append(("spindle", name, "skipped", "", r.get("reason", "")))
    if prow:
        versions = ", ".join(f"{k} {v}" for k, v in peers.get("versions", {}).items() if v)
        md += [table(["who", "figure", "median", "p99", "note"], sorted(prow, key=lambda x: (x[1], x[0]))), "",
               f"Versions: {versions or '-'}.", ""]
    else:
        md += ["Peers were not run (see logs/peers.log).", ""]

    with open(os.path.join(args.report, "report.md"), "w") as f:
        f.write("\n".join(md))
    print(f"report.py: {totals['passed']} passed, {totals['skipped']} skipped, {totals['failed']} failed, "
          f"{totals['ignored']} ignored in {totals['suites']} suites; {len(rows)} benchmark rows")
    return 0


if __name__ == "__main__":
    sys.exit(main())

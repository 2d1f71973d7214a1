#!/usr/bin/env python3
"""report.py KV_FILE OUT_JSON: turns bench/run.sh's "name value" lines into
the table (stdout) and the JSON file. A name seen once per run gets its
median, min and max; the targets are marked with a check or a cross. Never
fails on a missed target: a benchmark prints figures."""
import json
import statistics
import sys


def load(path):
    meta, vals = {}, {}
    for line in open(path, encoding="utf-8"):
        line = line.rstrip("\n")
        if not line:
            continue
        name, _, v = line.partition(" ")
        if name.startswith("meta."):
            meta[name[5:]] = v
            continue
        try:
            x = float(v)
        except ValueError:
            continue
        vals.setdefault(name, []).append(x)
    return meta, vals


def agg(xs):
    return {"median": statistics.median(xs), "min": min(xs), "max": max(xs), "runs": xs}


LOG_PARTS = {"status": ("api", "redis"), "submit": ("api", "redis"), "drain": ("worker", "redis")}


def log_level_rows(row, figs, med, tgt):
    """The "log: defaults vs warn" rows: CPU per item (API or workers, plus
    Redis) of the defaults as shipped against STAGEQ_LOG_LEVEL=warn, each run's
    sum first, then the median; target: the defaults within 5 % of warn,
    compared by each configuration's least CPU per item over the runs. On a
    shared host another process only adds to a window's CPU per item (cache
    and core contention, never less work), and the paired windows of one run
    differ by -18 to +21 % either way (2026-12-05): the least of the runs is
    the estimate of the cost itself, the medians' ratio is shown beside it."""
    for what, parts in LOG_PARTS.items():
        for lv in ("defaults", "warn"):
            keys = ["cpu.logcmp.%s.%s.%s.us" % (lv, what, p) for p in parts]
            if all(k in figs for k in keys):
                runs = [sum(xs) for xs in zip(*(figs[k]["runs"] for k in keys))]
                figs["cpu.logcmp.%s.%s.us" % (lv, what)] = agg(runs)
        a, b = med("cpu.logcmp.defaults.%s.us" % what), med("cpu.logcmp.warn.%s.us" % what)
        least = [figs.get("cpu.logcmp.%s.%s.us" % (lv, what), {}).get("min")
                 for lv in ("defaults", "warn")]
        ratio = ok = None
        if a is not None and b and least[0] is not None and least[1]:
            ratio = "%.0f %% of warn (least of the runs; medians %.0f %%)" % (
                100.0 * least[0] / least[1], 100.0 * a / b)
            ok = least[0] <= 1.05 * least[1]
        unit = "µs per " + ("job" if what == "drain" else "request")
        row("log: %s CPU (%s + Redis), defaults / warn" % (what, parts[0]),
            ("cpu.logcmp.defaults.%s.us" % what, "cpu.logcmp.warn.%s.us" % what), unit,
            "{:.1f}", ratio=ratio, target=tgt(ok, "defaults ≤ 105 % of warn (least)"))
        row("  %s / Redis, defaults; then warn" % parts[0],
            tuple("cpu.logcmp.%s.%s.%s.us" % (lv, what, p)
                  for lv in ("defaults", "warn") for p in parts), "µs", "{:.1f}")


SHARDS = 3  # the cluster bench/run.sh starts
PROJECT_SHARDS = (3, 6, 12)


def cluster_rows(row, figs, med, tgt):
    """The "Redis Cluster" rows: the drain of a queue of 6 partitions on 3
    shards next to the same queue on the single Redis and to the drain above
    (one partition); the share of commands each shard served (target: each
    within 5 points of a third); Redis CPU per job; and the projection of the
    drain on N shards of one core each: N x 1e6 / (Redis CPU per job, summed
    over the shards), capped by the workers' CPU per job on the cores left
    (docs/performance.md, "Redis Cluster")."""
    c, s = "cluster.shards_p6", "cluster.single_p6"
    row("drain, 6 partitions: on 3 shards / on the single Redis; 1 partition (above)",
        (c + ".rps", s + ".rps", "drain.rps"), "jobs/s")
    shares = tuple("%s.shard%d.share_pct" % (c, i) for i in range(1, SHARDS + 1))
    ok = None
    if all(med(k) is not None for k in shares):
        ok = all(abs(med(k) - 100.0 / SHARDS) <= 5.0 for k in shares)
    row("  commands served by shard 1 / 2 / 3", shares, "%", "{:.1f}",
        target=tgt(ok, "each 33 % ± 5"))
    row("  Redis CPU per job: 3 shards (sum) / single Redis, 6 partitions; 1 partition",
        (c + ".redis_us", s + ".redis_us", "cpu.drain.redis.us"), "µs", "{:.1f}")
    row("  Redis CPU per job on shard 1 / 2 / 3",
        tuple("%s.shard%d.redis_us" % (c, i) for i in range(1, SHARDS + 1)), "µs", "{:.1f}")
    row("  Redis commands per job: 3 shards / single Redis, 6 partitions",
        (c + ".commands_per_job", s + ".commands_per_job"), "", "{:.1f}")
    row("  PUBLISH messages received over the cluster bus per job (all nodes)",
        c + ".bus_publish_per_job", "", "{:.2f}")
    row("  worker CPU per job: 3 shards / single Redis, 6 partitions",
        ("cpu.%s.worker.us" % c, "cpu.%s.worker.us" % s), "µs", "{:.0f}")
    redis_us, worker_us = med(c + ".redis_us"), med("cpu.%s.worker.us" % c)
    if not redis_us or not worker_us:
        return
    keys = []
    for n in PROJECT_SHARDS:
        k = "cluster.projected.shards%d_rps" % n
        figs[k] = {"median": n * 1e6 / redis_us, "min": n * 1e6 / redis_us,
                   "max": n * 1e6 / redis_us, "runs": []}
        keys.append(k)
    row("projected drain, Redis on %s cores (1 shard each)"
        % " / ".join(str(n) for n in PROJECT_SHARDS), tuple(keys), "jobs/s")
    figs["cluster.projected.per_worker_core_rps"] = {
        "median": 1e6 / worker_us, "min": 1e6 / worker_us, "max": 1e6 / worker_us, "runs": []}
    row("  cap: jobs/s per worker core (1e6 ÷ worker CPU per job)",
        "cluster.projected.per_worker_core_rps", "jobs/s")


def main():
    meta, vals = load(sys.argv[1])
    figs = {k: agg(v) for k, v in vals.items()}

    def med(k):
        return figs[k]["median"] if k in figs else None

    rows = []  # (section, label, key, unit, fmt, ratio, target)

    def fmt(x, f):
        if x is None:
            return "-"
        return f.format(x)

    def row(label, key, unit, f="{:,.0f}", ratio=None, target=None):
        rows.append((label, key, unit, f, ratio, target))

    def ratio_of(key, base, what):
        a, b = med(key), med(base)
        if a is None or not b:
            return None
        return "%.0f %% of %s" % (100.0 * a / b, what)

    def tgt(ok, text):
        if ok is None:
            return "? " + text
        return ("✓ " if ok else "✗ ") + text

    hget, hset, lpush = med("limit.hgetall.rps"), med("limit.hset.rps"), med("limit.lpush.rps")
    s50 = med("submit.c50.rps")
    row("submit, 1 connection", "submit.c1.rps", "jobs/s", ratio=None)
    row("  p50 / p99 latency", ("submit.c1.p50_ms", "submit.c1.p99_ms"), "ms", "{:.2f}")
    row("submit, 50 connections", "submit.c50.rps", "jobs/s",
        ratio=ratio_of("submit.c50.rps", "limit.lpush.rps", "LPUSH"),
        target=tgt(None if s50 is None else s50 >= 10000, "≥ 10,000 jobs/s"))
    row("  p50 / p99 latency", ("submit.c50.p50_ms", "submit.c50.p99_ms"), "ms", "{:.2f}")
    bulk = med("submit.bulk.jobs_s")
    row("bulk submit, 1 connection, arrays of %s" % meta.get("bulk", "100"),
        "submit.bulk.jobs_s", "jobs/s", ratio=ratio_of("submit.bulk.jobs_s", "submit.c1.rps",
                                                        "one at a time"),
        target=tgt(None if bulk is None else bulk >= 50000, "≥ 50,000 jobs/s"))
    row("  CPU per job: API / Redis", ("cpu.submit_bulk.api.us", "cpu.submit_bulk.redis.us"),
        "µs", "{:.1f}")
    drain_ratio = None
    if med("drain.rps") and hset and med("cost.scripts_per_job"):
        drain_ratio = "%.0f %% of HSET ÷ %.2f calls" % (
            100.0 * med("drain.rps") * med("cost.scripts_per_job") / hset,
            med("cost.scripts_per_job"))
    row("drain, 4 echo stages, --concurrency 2", "drain.rps", "jobs/s",
        ratio=drain_ratio,
        target=tgt(None if med("drain.rps") is None else med("drain.rps") >= 15000,
                   "≥ 15,000 jobs/s"))
    row("  backlog (jobs) / preload rate (jobs/s, 50 conns)", ("drain.jobs", "drain.preload_rps"),
        "", "{:,.0f}")
    # the A/B (BENCH_AB_BASE): the base commit's drain, alternated with this one's
    ab = meta.get("ab_base", "?")
    ab_x = None
    if med("drain.rps") and med("drain_base.rps"):
        ab_x = med("drain.rps") / med("drain_base.rps")
    row("  A/B: the drain at %s (issue 17's start) / this commit" % ab,
        ("drain_base.rps", "drain.rps"), "jobs/s",
        ratio=None if ab_x is None else "%.2f× the base" % ab_x,
        target=tgt(None if ab_x is None else ab_x >= 2.0, "≥ 2× the base"))
    row("  A/B: CPU per job, workers / Redis: at %s / this commit" % ab,
        ("cpu.drain_base.worker.us", "cpu.drain_base.redis.us", "cpu.drain.worker.us",
         "cpu.drain.redis.us"), "µs", "{:.1f}")
    row("  the same, a pool of 3 queues (--queues hi,lo,default)", "drain3q.rps", "jobs/s",
        ratio=ratio_of("drain3q.rps", "drain.rps", "one queue"))
    row("  Redis CPU per job: one queue / 3 queues", ("cpu.drain.redis.us", "cpu.drain3q.redis.us"), "µs",
        "{:.1f}")
    row("4 Python stages, one-shot exec, --concurrency 2", "py4_exec.rps", "jobs/s")
    serve_rps = med("py4_serve.rps")
    row('4 Python stages, "serve": true, --concurrency 2', "py4_serve.rps", "jobs/s",
        ratio=ratio_of("py4_serve.rps", "py4_exec.rps", "one-shot"),
        target=tgt(None if serve_rps is None else serve_rps >= 3000, "≥ 3,000 jobs/s"))
    row("  backlogs (jobs): one-shot / serve", ("py4_exec.jobs", "py4_serve.jobs"), "", "{:,.0f}")
    for mode in ("exec", "serve"):
        k = "slowstart_%s" % mode
        if med(k + ".seconds") is not None and med(k + ".jobs"):
            figs[k + ".ms_per_job"] = agg([1000.0 * a / b for a, b in
                                           zip(vals[k + ".seconds"], vals[k + ".jobs"])])
    row("a stage whose program takes 1 s to start: ms per job, one-shot / serve",
        ("slowstart_exec.ms_per_job", "slowstart_serve.ms_per_job"), "ms", "{:,.1f}",
        ratio=ratio_of("slowstart_serve.ms_per_job", "slowstart_exec.ms_per_job", "one-shot"))
    row("  backlogs (jobs): one-shot / serve", ("slowstart_exec.jobs", "slowstart_serve.jobs"), "",
        "{:,.0f}")
    e2e_ratio = None
    if med("e2e.rps") and hset and med("cost.scripts_per_job"):
        e2e_ratio = "%.0f %% of HSET ÷ %.2f calls" % (
            100.0 * med("e2e.rps") * med("cost.scripts_per_job") / hset,
            med("cost.scripts_per_job"))
    row("end to end (submit 50 conns + drain)", "e2e.rps", "jobs/s done", ratio=e2e_ratio)
    row("  submitted meanwhile", "e2e.submit_rps", "jobs/s")
    row("with a replica: submit, 50 conns, STAGEQ_MIN_REPLICAS 0 / 1",
        ("replicated.min0.submit.rps", "replicated.min1.submit.rps"), "jobs/s",
        ratio=ratio_of("replicated.min1.submit.rps", "replicated.min0.submit.rps", "without"))
    row("  p99 latency, STAGEQ_MIN_REPLICAS 0 / 1",
        ("replicated.min0.submit.p99_ms", "replicated.min1.submit.p99_ms"), "ms", "{:.2f}")
    row("with a replica: drain, STAGEQ_MIN_REPLICAS 0 / 1",
        ("replicated.min0.drain.rps", "replicated.min1.drain.rps"), "jobs/s",
        ratio=ratio_of("replicated.min1.drain.rps", "replicated.min0.drain.rps", "without"))
    for what in ("finished", "running"):
        k = "status.%s.rps" % what
        ok = None
        if med(k) is not None and hget:
            ok = med(k) >= 0.5 * hget and med("status.%s.p99_ms" % what) <= 5.0
        row("status GET, %s job, 50 conns" % what, k, "req/s",
            ratio=ratio_of(k, "limit.hgetall.rps", "HGETALL"),
            target=tgt(ok, "≥ 50 % of HGETALL, p99 ≤ 5 ms"))
        row("  p50 / p99 latency", ("status.%s.p50_ms" % what, "status.%s.p99_ms" % what), "ms",
            "{:.2f}")
        # each run against redis-benchmark HGETALL of the same hash right after it
        pair = (k, "status.%s.hgetall_rps" % what)
        if all(x in figs for x in pair):
            figs["status.%s.pct_of_hgetall" % what] = agg(
                [100.0 * a / b for a, b in zip(*(figs[x]["runs"] for x in pair)) if b])
        pk = "status.%s.pct_of_hgetall" % what
        low = figs[pk]["min"] if pk in figs else None
        row("  ÷ HGETALL of that hash just after, each run", pk, "%",
            "{:.0f}", target=tgt(None if low is None else low >= 60, "≥ 60 % in every run"))
    # live: the change (its updated_at) to the client's socket (kernel
    # receive time: the client's own delay is the last row, left out), then
    # the two parts either side of the PUBLISH (bench/sse.py)
    for what, label, goal in (("all", "live: change → SSE client, /v1/events, %s jobs/s"
                               % meta.get("live_rate", "100"), 5.0),
                              ("streams", "live: %s job streams, burst drain (the client at nice 10)"
                               % meta.get("streams", "?"), 25.0)):
        p99 = med("live.%s.total_p99_ms" % what)
        row(label, ("live.%s.total_p50_ms" % what, "live.%s.total_p99_ms" % what),
            "ms p50 / p99", "{:.1f}",
            target=tgt(None if p99 is None else p99 <= goal, "p99 ≤ %g ms" % goal))
        row("  the writer: updated_at → PUBLISH (ms clock)",
            ("live.%s.write_p50_ms" % what, "live.%s.write_p99_ms" % what), "ms p50 / p99",
            "{:.1f}")
        row("  the API: PUBLISH → client socket",
            ("live.%s.delivery_p50_ms" % what, "live.%s.delivery_p99_ms" % what),
            "ms p50 / p99", "{:.1f}")
        if what == "all":
            row("  POST written → its queued event (client clock)",
                ("live.all.submit_p50_ms", "live.all.submit_p99_ms"), "ms p50 / p99", "{:.1f}")
        row("  the bench client's own lag (left out)",
            ("live.%s.client_lag_p50_ms" % what, "live.%s.client_lag_p99_ms" % what),
            "ms p50 / p99", "{:.1f}")
        if what == "streams":
            row("  the API runnable but waiting for a CPU, over the burst",
                "live.streams.api_cpu_wait_ms", "ms", "{:.1f}")
            row("  the same burst, the client at the daemons' priority",
                ("live.streams_same.total_p50_ms", "live.streams_same.total_p99_ms"),
                "ms p50 / p99", "{:.1f}")
            row("    the API: PUBLISH → client socket",
                ("live.streams_same.delivery_p50_ms", "live.streams_same.delivery_p99_ms"),
                "ms p50 / p99", "{:.1f}")
            row("    the API runnable but waiting for a CPU, over the burst",
                "live.streams_same.api_cpu_wait_ms", "ms", "{:.1f}")
    api_streams = med("api.rss_streams_kb")
    row("API RSS idle / after load", ("api.rss_idle_kb", "api.rss_after_status_kb"), "kB")
    row("API RSS with %s SSE streams" % meta.get("streams", "?"), "api.rss_streams_kb", "kB",
        target=tgt(None if api_streams is None else api_streams <= 32 * 1024, "≤ 32 MB"))
    wmax = None
    if med("cost.worker_child_rss_kb") is not None:
        wmax = max(med("cost.worker_child_rss_kb"), med("cost.worker_supervisor_rss_kb") or 0)
    row("worker RSS supervisor / child (max)",
        ("cost.worker_supervisor_rss_kb", "cost.worker_child_rss_kb"), "kB",
        target=tgt(None if wmax is None else wmax <= 8 * 1024, "≤ 8 MB each"))
    row("Redis bytes per finished job / queued job",
        ("cost.redis_bytes_per_job", "cost.redis_bytes_per_queued_job"), "B")
    b4 = med("mem.bench4_empty.bytes_per_job")
    row("Redis bytes per 4-stage job: outputs {} / 19 B",
        ("mem.bench4_empty.bytes_per_job", "mem.bench4.bytes_per_job"), "B",
        target=tgt(None if b4 is None else b4 <= 700, "≤ 700 B, outputs excluded"))
    row("  MEMORY USAGE of one: outputs {} / 19 B",
        ("mem.bench4_empty.memory_usage", "mem.bench4.memory_usage"), "B")
    row("16-stage job, outputs {}: bytes / MEMORY USAGE",
        ("mem.bench16_empty.bytes_per_job", "mem.bench16_empty.memory_usage"), "B")
    row("  the recent index, per id (≤ 10,000 a partition)", "mem.recent_bytes_per_id",
        "B")
    rt = med("cost.roundtrips_per_job")
    row("Redis round trips per job", "cost.roundtrips_per_job", "", "{:.3f}",
        target=tgt(None if rt is None else rt <= 6.0, "≤ 6"))
    row("  script calls / BLMOVE per job", ("cost.scripts_per_job", "cost.blmove_per_job"), "",
        "{:.2f}")
    row("  worker waits on Redis per job (its sleeps)", "cost.worker_waits_per_job", "", "{:.3f}")
    row("Redis commands per job (incl. inside scripts)", "cost.commands_per_job", "", "{:.1f}")
    row("CPU per submit (50 conns): API / Redis", ("cpu.submit_c50.api.us", "cpu.submit_c50.redis.us"),
        "µs", "{:.1f}")
    get_us, floor_us = med("cpu.status_finished.api.us"), med("cpu.status_floor.api.us")
    row("CPU per status GET (finished): API / Redis",
        ("cpu.status_finished.api.us", "cpu.status_finished.redis.us"), "µs", "{:.1f}",
        target=tgt(None if get_us is None else get_us <= 20, "API ≤ 20 µs"))
    row("  the floor: evhttp + hiredis, the same HGETALL, nothing else (bench/floor.c)",
        "cpu.status_floor.api.us", "µs", "{:.1f}",
        ratio=None if not floor_us or get_us is None else "the API: %.0f %% of it" % (
            100.0 * get_us / floor_us))
    row("  the floor writing at once, as the API does (floor.c now)", "cpu.status_floor_now.api.us",
        "µs", "{:.1f}")
    row("  the floors' rates / body", ("status.floor.rps", "status.floor_now.rps", "status.floor_bytes"),
        "req/s / B")
    row("CPU per drained job: workers / Redis / API",
        ("cpu.drain.worker.us", "cpu.drain.redis.us", "cpu.drain.api.us"), "µs", "{:.0f}")
    cores = float(meta.get("cores") or 1)
    per_job = [med(k) for k in ("cpu.drain.worker.us", "cpu.drain.redis.us", "cpu.drain.api.us")]
    if None not in per_job and sum(per_job) > 0:
        figs["drain.cpu_ceiling_rps"] = agg([cores * 1e6 / sum(per_job)])
    row("  drain ceiling: cores ÷ CPU per job (all three)", "drain.cpu_ceiling_rps", "jobs/s",
        target=None)
    if None not in per_job and med("drain.rps"):
        figs["drain.busy_pct"] = agg([100.0 * med("drain.rps") * sum(per_job) / (cores * 1e6)])
    row("  cores busy during the drain", "drain.busy_pct", "%",
        "{:.0f}")
    row("  share of it in the kernel: workers / Redis / API",
        ("cpu.drain.worker.sys_pct", "cpu.drain.redis.sys_pct", "cpu.drain.api.sys_pct"), "%",
        "{:.0f}")
    log_level_rows(row, figs, med, tgt)
    cluster_rows(row, figs, med, tgt)
    row("limit: redis-benchmark -c 50 HGETALL (the job)", "limit.hgetall.rps", "req/s")
    row("limit: redis-benchmark -c 50 HSET", "limit.hset.rps", "req/s")
    row("limit: redis-benchmark -c 50 LPUSH", "limit.lpush.rps", "req/s")

    def cell(key, f):
        keys = key if isinstance(key, tuple) else (key,)
        med_s = " / ".join(fmt(med(k), f) for k in keys)
        rng = " / ".join(
            "%s–%s" % (fmt(figs[k]["min"], f), fmt(figs[k]["max"], f)) if k in figs else "-"
            for k in keys)
        return med_s, rng

    print()
    print("stageq bench — %s" % meta.get("date", ""))
    print("machine: %s, %s cores, %s GB; %s; kernel %s; load before %s" % (
        meta.get("cpu"), meta.get("cores"), meta.get("mem_gb"), meta.get("os"),
        meta.get("kernel"), meta.get("load")))
    print("versions: redis %s, gcc %s (%s), %s, wrk %s; commit %s" % (
        meta.get("redis"), meta.get("gcc"), meta.get("cflags"), meta.get("libs"),
        meta.get("wrk"), meta.get("commit")))
    print("runs: %s (median, min–max); wrk windows %s s; backlog %s jobs; log level %s%s" % (
        meta.get("runs"), meta.get("seconds"), meta.get("jobs"), meta.get("loglevel"),
        "; QUICK (small counts)" if meta.get("quick") == "1" else ""))
    print()
    w = [50, 22, 30, 12, 24, 34]
    hdr = ("figure", "median", "min–max", "unit", "vs the limit", "target")
    line = "| " + " | ".join(h.ljust(w[i]) for i, h in enumerate(hdr)) + " |"
    print(line)
    print("|" + "|".join("-" * (x + 2) for x in w) + "|")
    table = []
    for label, key, unit, f, ratio, target in rows:
        m, rng = cell(key, f)
        cells = (label, m, rng, unit, ratio or "", target or "")
        table.append(dict(zip(hdr, cells)))
        print("| " + " | ".join(str(c).ljust(w[i]) for i, c in enumerate(cells)) + " |")
    print("round trips = reads Redis made (total_reads_processed) per job. With a backlog a worker")
    print("sends one finish.lua per job (its end; fast stages go with it) without waiting for the reply,")
    print("and every ~16th also takes the next batch of jobs: requests that arrive together are one read.")
    print("waits = the workers' voluntary context switches per job (a sleep, mostly on Redis).")
    print("CPU figures are user + system time of each process (/proc/PID/stat) over the window.")
    print()
    out = {"meta": meta, "figures": figs, "table": table}
    with open(sys.argv[2], "w", encoding="utf-8") as fh:
        json.dump(out, fh, indent=1, ensure_ascii=False)
    print("raw results: %s" % sys.argv[2])


if __name__ == "__main__":
    main()

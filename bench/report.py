"""The benchmark's report: a table on stdout, bench/results.md, and bench/results.png."""

import statistics
from pathlib import Path

BENCH = Path(__file__).resolve().parent
NAMES = {
    "ours": "ours (nginx -> gunicorn)",
    "before": "ours, the page as it was",
    "heroku": "Heroku-style",
    "cookiecutter": "cookiecutter-style",
    "nginx": "nginx alone",
    "hello": "gunicorn hello-world",
}


def ratio(a, b):
    return a / b if b else float("inf")


def targets(servers, image):
    """Each target: (what, measured, wanted, met)."""
    s = servers
    peers = ("heroku", "cookiecutter")
    best_view = max(peers, key=lambda n: s[n]["page_view"]["rps"])
    best_peer = max(peers, key=lambda n: s[n]["page"]["rps"])
    rows = [
        (
            f"page view: ours / best peer ({NAMES[best_view]})",
            ratio(s["ours"]["page_view"]["rps"], s[best_view]["page_view"]["rps"]),
            ">= 1.5x",
        ),
        (
            f"home page: ours / best peer ({NAMES[best_peer]})",
            ratio(s["ours"]["page"]["rps"], s[best_peer]["page"]["rps"]),
            ">= 1.0x",
        ),
        (
            "home page p99: ours / lowest peer p99",
            ratio(s["ours"]["page"]["p99_ms"], min(s[n]["page"]["p99_ms"] for n in peers)),
            "<= 1.2x",
        ),
        ("slow clients: page throughput ours keeps, every page served", s["ours"]["slow_kept"], ">= 90%"),
        ("static file: ours / nginx alone", ratio(s["ours"]["static"]["rps"], s["nginx"]["static"]["rps"]), ">= 0.9x"),
        ("static file: ours / Heroku-style", ratio(s["ours"]["static"]["rps"], s["heroku"]["static"]["rps"]), ">= 10x"),
        (
            "home page: ours / the page as it was (same processes)",
            ratio(s["ours"]["page"]["rps"], s["before"]["page"]["rps"]),
            ">= 2.5x",
        ),
    ]
    result = []
    for what, value, wanted in rows:
        if wanted.endswith("%"):
            met, shown = value >= float(wanted.strip(">= %")) / 100, f"{value:.0%}"
        elif wanted.startswith("<="):
            met, shown = value <= float(wanted.strip("<= x")), f"{value:.2f}x"
        elif wanted.startswith("<"):
            met, shown = value < float(wanted.strip("< x")), f"{value:.2f}x"
        else:
            met, shown = value >= float(wanted.strip(">= x")), f"{value:.2f}x"
        result.append((what, shown, wanted, met))
    if image:
        for what, value, limit, unit in [
            ("cold start (docker run to first 200)", image["cold_start_s"], 2, "s"),
            ("image above debian:trixie-slim", image["above_base_mb"], 100, "MB"),
            ("rebuild after a one-line code change", image["rebuild_s"], 15, "s"),
            ("idle memory, whole container", image["memory_idle_mb"], 150, "MB"),
        ]:
            result.append((what, f"{value:.1f} {unit}", f"< {limit} {unit}", value < limit))
    return result


def load_range(load):
    return f"{min(load):.2f} to {max(load):.2f} (median {statistics.median(load):.2f})" if load else "not measured"


def markdown(servers, image, args, seconds, machine):
    lines = [
        f"Run on {machine['date']}: {machine['cpus']} CPUs ({machine['cpu']}), {machine['memory_gb']} GB, "
        f"Python {machine['python']}, nginx {machine['nginx']}, PostgreSQL on 127.0.0.1. "
        f"{args.workers} worker processes for every configuration; each figure is the median of "
        f"{args.runs} wrk runs of {args.seconds} s, interleaved; the whole run took {seconds / 60:.0f} min. "
        f"Load average (1 min) at the end of each wrk run: {load_range(machine['load'])}. "
        "All but the static file go through HAProxy in TCP mode, as the platform's balancer: to ours "
        "with a PROXY line (HTTPS), to the peers as is, the load sending the router's X-Forwarded-Proto.",
        "",
    ]
    order = ["ours", "before", "heroku", "cookiecutter", "nginx", "hello"]
    lines += ["| workload | " + " | ".join(NAMES[n] for n in order) + " |", "| --- |" + " ---: |" * len(order)]

    def cell(name, key, field, fmt):
        value = servers.get(name, {}).get(key)
        return fmt.format(value[field]) if value else "–"

    for label, key, field, fmt in [
        ("**page view** (page + its static files + image, views/s)", "page_view", "rps", "{:,.1f}"),
        ("static file (req/s, gzip)", "static", "rps", "{:,.0f}"),
        ("home page (req/s)", "page", "rps", "{:,.0f}"),
        ("home page p99 (ms)", "page", "p99_ms", "{:.1f}"),
        ("reads + 1 in 20 signing (req/s)", "mixed", "rps", "{:,.0f}"),
        (f"home page with {200} slow clients (req/s)", "page_with_slow_clients", "rps", "{:,.0f}"),
        ("... and the slow clients' own pages (req/s)", "page_with_slow_clients", "slow_rps", "{:,.0f}"),
    ]:
        lines.append(f"| {label} | " + " | ".join(cell(n, key, field, fmt) for n in order) + " |")
    for label, key in [
        ("page throughput kept with slow clients, every page served (each run between two without)", "slow_kept"),
        ("... the other clients' pages alone", "slow_kept_others"),
    ]:
        kept = [f"{servers[n][key]:.0%}" if key in servers.get(n, {}) else "–" for n in order]
        lines.append(f"| {label} | " + " | ".join(kept) + " |")
    cpu = [servers[n]["page_with_slow_clients"]["generator_cpu"] for n in order if "slow_kept" in servers.get(n, {})]
    if cpu:
        lines += [
            "",
            f"The slow clients' generator, a process of its own, used {min(cpu):.0%} to {max(cpu):.0%} of one CPU "
            "while measured (on a CPU apart from the servers where the machine has 4 or more).",
        ]
    errors = sum(v.get("errors", 0) for r in servers.values() for v in r.values() if isinstance(v, dict))
    lines += ["", f"Errors (socket errors and non-2xx/3xx responses) across all runs: {errors:.0f}.", ""]
    if not image:
        lines += ["The image was not measured in this run (`--skip-image`).", ""]
    if image:
        lines += [
            "| the image | measured |",
            "| --- | ---: |",
            f"| size | {image['size_mb']:.0f} MB ({image['above_base_mb']:.0f} MB above debian:trixie-slim) |",
            f"| full build, no cache | {image['build_s']:.0f} s |",
            f"| rebuild after a one-line code change | {image['rebuild_s']:.1f} s |",
            f"| cold start, docker run to first 200 from /healthz | {image['cold_start_s']:.2f} s |",
            f"| memory, idle ({image['workers']} gunicorn workers) | {image['memory_idle_mb']:.0f} MB |",
            f"| memory, under load | {image['memory_load_mb']:.0f} MB |",
            "",
        ]
    lines += ["| target | measured | wanted | met |", "| --- | ---: | ---: | :---: |"]
    lines += [
        f"| {what} | {shown} | {wanted} | {'yes' if met else '**no**'} |"
        for what, shown, wanted, met in targets(servers, image)
    ]
    return "\n".join(lines) + "\n"


def chart(servers, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    peers = ["ours", "heroku", "cookiecutter"]
    colors = {
        "ours": "#0c4b33",
        "before": "#7fa894",
        "heroku": "#6762a6",
        "cookiecutter": "#b58100",
        "nginx": "#8a949e",
    }
    panels = [
        ("Page view: page, static files, image (views/s)", "page_view", peers),
        ("Static file (req/s)", "static", ["ours", "heroku", "cookiecutter", "nginx"]),
        ("Home page (req/s)", "page", ["ours", "before", "heroku", "cookiecutter"]),
        ("Home page with 200 slow clients (req/s)", "page_with_slow_clients", peers),
    ]
    figure, axes = plt.subplots(1, 4, figsize=(17, 4.2))
    for axis, (title, key, names) in zip(axes, panels, strict=True):
        values = [servers[n][key]["rps"] for n in names]
        short = {
            "ours": "ours\nnginx -> gunicorn",
            "before": "ours, the page\nas it was",
            "heroku": "Heroku-style\ngthread",
            "cookiecutter": "cookiecutter-style\nsync",
            "nginx": "nginx alone\n(ceiling)",
        }
        bars = axis.bar([short[n] for n in names], values, color=[colors[n] for n in names])
        axis.bar_label(bars, labels=[f"{v:,.0f}" for v in values], fontsize=8)
        axis.set_title(title, fontsize=11)
        axis.tick_params(axis="x", labelsize=8)
        axis.spines[["top", "right"]].set_visible(False)
    figure.tight_layout()
    figure.savefig(path, dpi=110)


def write_report(servers, image, args, seconds, machine):
    text = markdown(servers, image, args, seconds, machine)
    print("\n" + text)
    (BENCH / "results.md").write_text("# Benchmark results\n\nWritten by `make bench` (bench/run.py).\n\n" + text)
    chart(servers, BENCH / "results.png")
    print(f"wrote {BENCH / 'results.md'} and {BENCH / 'results.png'}")


def write_profile(results, args):
    """bench/profile.py's figures: a table on stdout and bench/profile.md."""
    import datetime

    plain, s3 = results["plain"]["paths"], {**results["s3_before"]["paths"], **results["s3"]["paths"]}
    before, after = "/before/", "/"
    parts = sorted(
        {*plain[before]["parts_ms"], *plain[after]["parts_ms"]}, key=lambda p: -plain[before]["parts_ms"].get(p, 0)
    )
    lines = [
        f"Run on {datetime.date.today().isoformat()}: Django's WSGI handler called in-process, PostgreSQL on "
        f"127.0.0.1, 50 entries (10 a page); CPU per request is the median of {args.rounds} rounds of "
        f"{args.requests} requests; the parts are pyinstrument's samples of {args.requests} more, "
        "scaled to that CPU time (PostgreSQL's round trips are the time the worker waits on them).",
        "",
        "| where a request's time goes (ms) | before | after |",
        "| --- | ---: | ---: |",
    ]
    for part in parts:
        b, a = plain[before]["parts_ms"].get(part, 0), plain[after]["parts_ms"].get(part, 0)
        lines.append(
            f"| {part} | {b:.2f} ({b / plain[before]['cpu_ms']:.0%}) | {a:.2f} ({a / plain[after]['cpu_ms']:.0%}) |"
        )
    lines.append(f"| **CPU per request** | **{plain[before]['cpu_ms']:.2f}** | **{plain[after]['cpu_ms']:.2f}** |")
    lines += [
        "",
        f"CPU per request, before / after: {ratio(plain[before]['cpu_ms'], plain[after]['cpu_ms']):.2f}x, "
        "for the same HTML (exampleapp/tests/test_page_cache.py).",
        "",
        "| with every entry's image on S3 (moto); before: every link signed anew | before | after |",
        "| --- | ---: | ---: |",
        f"| CPU per request, no images (ms) | {plain[before]['cpu_ms']:.2f} | {plain[after]['cpu_ms']:.2f} |",
        f"| CPU per request, 10 images on S3 (ms) | {s3[before]['cpu_ms']:.2f} | {s3[after]['cpu_ms']:.2f} |",
        f"| page with images / page without (wanted: <= 1.2x) | "
        f"{ratio(s3[before]['cpu_ms'], plain[before]['cpu_ms']):.2f}x | "
        f"{ratio(s3[after]['cpu_ms'], plain[after]['cpu_ms']):.2f}x |",
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    (BENCH / "profile.md").write_text(
        "# Where the guestbook page's time goes\n\nWritten by `make bench-profile` (bench/profile.py).\n\n" + text
    )

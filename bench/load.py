"""The load test (issue 7, item 5): ``python -m bench.load`` (``make load``).

1. starts the production stack as processes (``tests/e2e/stack.py``: ``ProcessStack``: gunicorn
   with production settings, Celery worker and beat on Redis, PostgreSQL, moto S3, SMTP sink);
2. prepares data there: the 2017 sample cycle (``run_cycle``: cases with documents and
   decisions), ``generate_load_data`` (``--cases``, 20 audit entries each: open completeness
   checks, cases in every stage) and ``bench/load/prepare.py`` (accounts per role with a
   logged-in session and an API token, experts' draft sheets, the work dealt out);
3. runs Locust headless as a subprocess (``bench/load/locustfile.py``: the role mix, think
   time 1-3 s): ``locust --headless -u USERS -r RATE --run-time SECONDS`` (defaults 50, 10,
   60), gevent and its monkey-patching only in that process;
4. reads Locust's CSV statistics and writes into ``var/bench.json`` (merged with the other
   figures): ``load_rps`` (requests per second over the run), ``load_p50_ms``,
   ``load_p95_ms``, ``load_p99_ms`` (all requests), ``load_errors`` (failed requests: an
   unexpected status or a connection error), ``load_requests``, ``load_users``,
   ``load_run_s``, ``load_web_workers``, ``load_web_threads``, ``load_cases``,
   ``load_server_errors`` (tracebacks in the web log), ``load_web_cpu_ms_per_request`` (CPU
   time of the gunicorn processes during the run / requests: independent of other work on
   the machine) and ``load_machine_load_1min`` (the load average at the end: how busy the
   machine was); prints a table per kind of request.

Goals (issue 7): ``load_errors`` = 0 and ``load_p99_ms`` < 300 at 50 users. Exit status 0
when the run completed (whatever the figures), 1 when the stack or Locust failed, 2 when
PostgreSQL or Redis cannot be reached (nothing measured; 0 with ``--if-reachable``, which
``make bench`` passes).

Options: ``--users``, ``--spawn-rate``, ``--run-time`` (seconds), ``--cases``, ``--web-workers``
and ``--web-threads`` (gunicorn; default 4 workers of 2 threads, the product's default on two
cores; see docs/load.md for the measurements behind that choice), ``--keep`` (leave the workdir ``var/load/<time>`` with the
logs and CSV files; removed otherwise). Environment: the stack's (``KELISIM_E2E_POSTGRES_URL``,
``KELISIM_E2E_REDIS``), docs/load.md.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import re
import subprocess
import sys
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

#: The round generate_load_data writes for the load test.
LOAD_ROUND = "LOAD-RUN"
SAMPLE = REPO / "samples" / "pilot-selection-2017.json"


def multipart(field: str, filename: str, content: bytes, content_type: str) -> tuple[bytes, str]:
    """A ``multipart/form-data`` body holding one file, and its Content-Type header (the
    locustfile's users are ``FastHttpUser``, which has no ``files=``)."""
    boundary = uuid.uuid4().hex
    head = (f'--{boundary}\r\nContent-Disposition: form-data; name="{field}"; filename="{filename}"\r\n'
            f"Content-Type: {content_type}\r\n\r\n")
    return head.encode() + content + f"\r\n--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def reachable() -> str:
    """``""`` when PostgreSQL and Redis answer, else what is missing (for ``make bench``)."""
    from urllib.parse import urlsplit

    from tests.e2e.stack import port_open, postgres_admin_url, redis_address

    missing = []
    url = urlsplit(postgres_admin_url())
    if not port_open(url.port or 5432, url.hostname or "127.0.0.1"):
        missing.append(f"PostgreSQL at {url.hostname}:{url.port or 5432}")
    host, port = redis_address()
    if not port_open(port, host):
        missing.append(f"Redis at {host}:{port}")
    return ", ".join(missing)


def _step(label: str, started: float) -> None:
    print(f"  {label} ({time.perf_counter() - started:.1f} s)", flush=True)


def prepare(stack, workdir: Path, cases: int) -> Path:
    """Data for the run in the stack's database (module docstring, step 2); returns the JSON path."""
    started = time.perf_counter()
    stack.manage("run_cycle", str(SAMPLE), timeout=600)
    _step("2017 sample cycle run", started)
    stack.manage("generate_load_data", "--cases", str(cases), "--audit-entries", str(cases * 20),
                 "--round", LOAD_ROUND, timeout=1200)
    _step(f"load data generated ({cases:,} cases)", started)
    out = workdir / "accounts.json"
    result = subprocess.run([sys.executable, str(REPO / "bench" / "load" / "prepare.py"), str(out),
                             "--round", LOAD_ROUND], cwd=REPO, env=stack.env, capture_output=True, text=True,
                            timeout=600)
    if result.returncode != 0:
        raise RuntimeError(f"bench/load/prepare.py failed:\n{result.stdout[-2000:]}\n{result.stderr[-4000:]}")
    _step(f"accounts and work prepared {result.stdout.strip()}", started)
    return out


def run_locust(stack, workdir: Path, accounts: Path, *, users: int, spawn_rate: float, run_time: int) -> Path:
    """Locust headless against the stack; returns the CSV prefix (``<prefix>_stats.csv`` ...)."""
    prefix = workdir / "locust"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_URL"))}
    env["KELISIM_LOAD_DATA"] = str(accounts)
    argv = [sys.executable, "-m", "locust", "-f", str(REPO / "bench" / "load" / "locustfile.py"), "--headless",
            "-u", str(users), "-r", str(spawn_rate), "--run-time", f"{run_time}s", "--host", stack.base_url,
            "--csv", str(prefix), "--only-summary", "--stop-timeout", "30", "--loglevel", "WARNING"]
    with open(workdir / "locust.log", "w") as log:
        result = subprocess.run(argv, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT,
                                timeout=run_time + 180)
    stats = Path(f"{prefix}_stats.csv")
    if not stats.exists():  # exit status 1 only means failures were counted; no CSV means it broke
        raise RuntimeError(f"locust exited {result.returncode} without statistics:\n"
                           f"{(workdir / 'locust.log').read_text()[-4000:]}")
    return prefix


def _number(value: str) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return 0.0


def read_stats(prefix: Path) -> tuple[dict, list[dict]]:
    """``(aggregated row, per-request rows)`` of Locust's ``<prefix>_stats.csv``."""
    with open(f"{prefix}_stats.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    total = next(r for r in rows if r["Name"] == "Aggregated")
    return total, [r for r in rows if r["Name"] != "Aggregated"]


def figures_of(total: dict, run_time: int) -> dict:
    """The ``load_*`` figures of the aggregated Locust row (module docstring)."""
    requests = int(_number(total["Request Count"]))
    return {
        "load_rps": round(requests / run_time, 1),
        "load_p50_ms": _number(total["50%"]),
        "load_p95_ms": _number(total["95%"]),
        "load_p99_ms": _number(total["99%"]),
        "load_errors": int(_number(total["Failure Count"])),
        "load_requests": requests,
    }


def print_table(rows: list[dict], figures: dict, stream=sys.stdout) -> None:
    stream.write(f"{'request':<44} {'count':>7} {'fails':>6} {'p50':>6} {'p95':>6} {'p99':>6} {'max':>7}\n")
    stream.write("-" * 88 + "\n")
    for row in sorted(rows, key=lambda r: -_number(r["Request Count"])):
        name = f"{row['Type']} {row['Name']}"[:44]
        stream.write(f"{name:<44} {row['Request Count']:>7} {row['Failure Count']:>6} {row['50%']:>6} "
                     f"{row['95%']:>6} {row['99%']:>6} {_number(row['Max Response Time']):>7.0f}\n")
    stream.write("-" * 88 + "\n")
    for name, value in figures.items():
        stream.write(f"{name:<28} {value:>12}\n")


def write_figures(figures: dict) -> Path:
    out = REPO / "var" / "bench.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    previous = json.loads(out.read_text()) if out.exists() else {}
    previous.update(figures)
    out.write_text(json.dumps(previous, indent=2, sort_keys=True) + "\n")
    return out


def _process_tree(root: int) -> list[int]:
    """``root`` and its descendants (from ``/proc``)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, ()))
    return found


def cpu_seconds(root: int | None) -> float:
    """CPU time (user + system, seconds) used so far by the live processes of ``root``'s tree."""
    if root is None:
        return 0.0
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in _process_tree(root):
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / ticks


_ACCESS = re.compile(r"kelisim\.request \[[^\]]*\] (\S+) (\S+) (\d{3}) ([\d.]+)ms cpu ([\d.]+)ms")


_ID = re.compile(r"/\d+(?=/|$)")


def _percentile(values: list[float], q: float) -> float:
    """The ``q`` quantile (0..1) of ``values`` by the nearest rank (as Locust reports them)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


def request_costs(log_text: str) -> list[dict]:
    """Per kind of request, what the web processes' access log (``kelisim.request``, text
    format) says: ``{"name", "count", "wall_p50", "wall_p99", "cpu_p50", "cpu_p95"}`` in ms.
    Wall time is spent inside Django (not the wait for a gunicorn thread); CPU time is the
    handling thread's. Paths are grouped as Locust names them (numbers become ``[id]``)."""
    kinds: dict[str, tuple[list[float], list[float]]] = {}
    for method, path, _status, wall, cpu in _ACCESS.findall(log_text):
        name = f"{method} {_ID.sub('/[id]', path)}"
        walls, cpus = kinds.setdefault(name, ([], []))
        walls.append(float(wall))
        cpus.append(float(cpu))
    return [{"name": name, "count": len(walls), "wall_p50": _percentile(walls, .5), "wall_p99": _percentile(walls, .99),
             "cpu_p50": _percentile(cpus, .5), "cpu_p95": _percentile(cpus, .95)}
            for name, (walls, cpus) in sorted(kinds.items(), key=lambda item: -sum(item[1][1]))]


def server_figures(log_text: str) -> dict:
    """``load_server_p99_ms`` (time inside Django, all requests) and ``load_cpu_p50_ms`` /
    ``load_cpu_p95_ms`` (CPU per request) of the access log."""
    lines = _ACCESS.findall(log_text)
    walls, cpus = [float(m[3]) for m in lines], [float(m[4]) for m in lines]
    if not walls:
        return {}
    return {"load_server_p99_ms": _percentile(walls, .99), "load_cpu_p50_ms": _percentile(cpus, .5),
            "load_cpu_p95_ms": _percentile(cpus, .95)}


def print_costs(costs: list[dict], stream=sys.stdout) -> None:
    """The table of :func:`request_costs`, the costliest kinds (total CPU) first."""
    stream.write(f"\ninside Django (access log), ms{'':<14} {'count':>7} {'wall50':>7} {'wall99':>7} "
                 f"{'cpu50':>6} {'cpu95':>6}\n")
    stream.write("-" * 88 + "\n")
    for row in costs:
        stream.write(f"{row['name'][:44]:<44} {row['count']:>7} {row['wall_p50']:>7.0f} {row['wall_p99']:>7.0f} "
                     f"{row['cpu_p50']:>6.1f} {row['cpu_p95']:>6.1f}\n")


def server_errors(stack) -> int:
    """Tracebacks the web processes logged during the run (500s and crashed requests)."""
    return len(re.findall(r"Traceback \(most recent call last\)", stack.log_text("web")))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--spawn-rate", type=float, default=10)
    parser.add_argument("--run-time", type=int, default=int(os.environ.get("LOAD_RUN_TIME", "60")), help="seconds")
    parser.add_argument("--cases", type=int, default=3000, help="cases of generate_load_data")
    parser.add_argument("--web-workers", type=int, default=int(os.environ.get("LOAD_WEB_WORKERS", "4")))
    parser.add_argument("--web-threads", type=int, default=int(os.environ.get("LOAD_WEB_THREADS", "2")))
    parser.add_argument("--keep", action="store_true", help="keep var/load/<time> (logs, CSV, accounts)")
    parser.add_argument("--if-reachable", action="store_true",
                        help="exit 0 (skipped) instead of 2 when PostgreSQL or Redis cannot be reached (make bench)")
    args = parser.parse_args(argv)
    missing = reachable()
    if missing:
        print(f"load test skipped: {missing} cannot be reached", file=sys.stderr)
        return 0 if args.if_reachable else 2
    from tests.e2e.stack import ProcessStack, StackError

    workdir = REPO / "var" / "load" / time.strftime("%Y%m%d-%H%M%S")
    started = time.perf_counter()
    print(f"load test: {args.users} users for {args.run_time} s against gunicorn "
          f"({args.web_workers} workers x {args.web_threads} threads)", flush=True)
    stack = ProcessStack(workdir / "stack", web_workers=args.web_workers, web_threads=args.web_threads)
    try:
        stack.start()
        _step("stack started", started)
        accounts = prepare(stack, workdir, args.cases)
        web_cpu = cpu_seconds(stack.pid("web"))
        log_start = len(stack.log_text("web"))
        prefix = run_locust(stack, workdir, accounts, users=args.users, spawn_rate=args.spawn_rate,
                            run_time=args.run_time)
        web_cpu = cpu_seconds(stack.pid("web")) - web_cpu
        _step("locust run", started)
        total, rows = read_stats(prefix)
        figures = figures_of(total, args.run_time)
        run_log = stack.log_text("web")[log_start:]
        costs = request_costs(run_log)
        figures.update(server_figures(run_log))
        figures.update({"load_users": args.users, "load_run_s": args.run_time, "load_cases": args.cases,
                        "load_web_workers": args.web_workers, "load_web_threads": args.web_threads,
                        "load_server_errors": server_errors(stack),
                        # CPU the web processes spent per request: what the latencies cost where
                        # the machine is not shared (the run's own Locust, database and worker
                        # and anything else running compete for the same cores)
                        "load_web_cpu_ms_per_request": round(1000 * web_cpu / max(1, figures["load_requests"]), 1),
                        "load_machine_load_1min": round(os.getloadavg()[0], 2)})
    except (StackError, RuntimeError, subprocess.TimeoutExpired) as exc:
        print(f"load test failed: {exc}", file=sys.stderr)
        args.keep = True
        return 1
    finally:
        stack.stop()
        if not args.keep:
            import shutil

            shutil.rmtree(workdir, ignore_errors=True)
        else:
            print(f"kept {workdir.relative_to(REPO)}")
    print_table(rows, figures)
    print_costs(costs)
    print(f"written to {write_figures(figures).relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

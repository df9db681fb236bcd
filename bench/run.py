"""`make bench`: the portal under load at 100,000 ideas, beside a bare Flask baseline.

1. Builds (or reuses) the large data set and a small one of 1,000 ideas with bench/dataset.py,
   on SQLite by default or on the PostgreSQL database DATABASE_URL names.
2. Serves each with gunicorn as `make run` does (WEB_CONCURRENCY workers, 4 threads each), signs
   in customers through the real sign-in form, and loads each endpoint with wrk: 16 connections,
   a warm-up, then a measured run.
3. The mixed scenario (issue 18), on the large set: a live site rather than one page alone.
   48 sessions of different people, each signed in through the form with its own cookie, are
   taken in turn request by request on wrk's connections, and each row (anonymous home; home,
   idea page and search for those people; the vote toggle) is measured twice in a row: without
   writes, then while a stream of vote toggles (10 a second, from other signed-in sessions, on
   random ideas, one in five on the home page's first page) arrives from threads beside wrk,
   timed on their own. The votes the stream changed are taken back afterwards. With --profile,
   a cProfile of the signed-in home and idea pages as the cache answers them joins the report.
4. Serves bench/baseline.py (a fixed page) the same way and loads it the same way.
5. Writes Markdown tables under bench/results/: requests per second, p50 and p99 latency, the
   share of the baseline's throughput, and the cost at 100,000 ideas relative to 1,000 ideas;
   for the mixed scenario (its own file, ...-mixed.md) the ratio of each row with votes to the
   same row without, the stream's own rate and latency, and issue 18's targets, pass or fail.

    make bench                                  # SQLite under instance/bench/
    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/portal_bench make bench
    make bench BENCH_ARGS="--mixed --duration 10"   # the mixed scenario alone, in minutes

The benchmark raises the sign-in and vote rate limits for its server only: it measures what a
request costs, not how the limiter refuses the 51st vote of the day.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import functools
import http.client
import http.cookiejar
import json
import os
import platform
import queue
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from random import Random

ROOT = Path(__file__).resolve().parent.parent
BENCH_DIR = ROOT / "instance" / "bench"
RESULTS_DIR = ROOT / "bench" / "results"
CONNECTIONS = 16
SESSIONS = 16  # signed-in customers, each with its own cookie, rotated over the connections
PER_PAGE = 20
DEEP_PAGE = 1000

# Targets from issue 8: the least share of the baseline's throughput, and p99 in milliseconds.
P99_TARGET_MS = 100
GROWTH_TARGET = 1.3


@dataclass(frozen=True)
class Endpoint:
    key: str
    label: str
    target_share: float | None
    signed_in: bool = False
    method: str = "GET"
    # Who signs in: the manifest's "customers", or the private board's organisation ("members",
    # who see all three boards) or people outside it ("outsiders", who see the two public ones).
    people: str = "customers"


ENDPOINTS = [
    Endpoint("home_anonymous", "Home page, anonymous", 0.5),
    Endpoint("home_signed_in", "Home page, signed in", 0.3, signed_in=True),
    Endpoint("idea_page", "Idea page with 50 comments, signed in", 0.3, signed_in=True),
    Endpoint("idea_page_anonymous", "Idea page with 50 comments, anonymous", None),
    Endpoint("search", "Search, signed in", 0.2, signed_in=True),
    Endpoint("deep_page", "Page 1,000 of the list, signed in", None, signed_in=True),
    Endpoint("vote", "Vote toggle (POST with CSRF token)", 0.2, signed_in=True, method="POST"),
    # Boards (issue 17): what seeing a private board, or being kept out of it, costs.
    Endpoint(
        "home_board_member",
        "Home page, signed in, in the private board's organisation (3 boards)",
        0.3,
        signed_in=True,
        people="members",
    ),
    Endpoint(
        "home_board_outsider",
        "Home page, signed in, outside it (2 boards)",
        0.3,
        signed_in=True,
        people="outsiders",
    ),
    Endpoint(
        "idea_page_board_member",
        "Idea page with 50 comments, in the private board's organisation",
        0.3,
        signed_in=True,
        people="members",
    ),
    Endpoint(
        "idea_page_board_outsider",
        "Idea page with 50 comments, outside it",
        0.3,
        signed_in=True,
        people="outsiders",
    ),
    Endpoint("board_page_anonymous", "A public board's page (1 in 5 ideas), anonymous", None),
    # The JSON API (issue 19): no page cache, so every request reads the database.
    Endpoint("api_ideas_anonymous", "API: the top 20 ideas, without a key", None),
    Endpoint("api_idea_anonymous", "API: one idea, without a key", None),
    Endpoint(
        "board_page_private",
        "The private board's page (1 in 20 ideas), its organisation",
        None,
        signed_in=True,
        people="members",
    ),
]

WRK_SCRIPT = r"""
-- Generated by bench/run.py. Each thread takes its own share of the signed-in sessions, so two
-- threads never toggle the same person's vote.
local sessions = %(sessions)s
local method, path, form = %(method)s, %(path)s, %(form)s
local threads_total = %(threads)d
local counter = 0
thread_id = 0  -- a global: setup() sets it in each thread's own Lua state
local voted = {}
local mine = {}
local threads = {}
hits = 0  -- responses the page cache answered, counted per thread

function setup(thread)
  thread:set("thread_id", counter)
  counter = counter + 1
  table.insert(threads, thread)
end

function response(status, headers, body)
  if headers["X-Cache"] == "hit" then hits = hits + 1 end
end

function init(args)
  for i, s in ipairs(sessions) do
    if (i - 1) %% threads_total == thread_id then table.insert(mine, s) end
  end
  if #mine == 0 then mine = sessions end
end

local n = 0
function request()
  n = n + 1
  -- The browser that signed in: a session used from another one counts as not fresh.
  local headers = {["User-Agent"] = %(user_agent)s}
  local body = nil
  local target = path
  local s = nil
  if #mine > 0 then
    s = mine[(n %% #mine) + 1]
    headers["Cookie"] = s.cookie
  end
  if form then
    local action = voted[s.idea] and "unvote" or "vote"
    voted[s.idea] = not voted[s.idea]
    target = "/ideas/" .. s.idea .. "/vote"
    headers["Content-Type"] = "application/x-www-form-urlencoded"
    headers["Accept"] = "application/json"
    body = "csrf_token=" .. s.csrf .. "&action=" .. action
  end
  return wrk.format(method, target, headers, body)
end

function done(summary, latency, requests)
  local e = summary.errors
  local cached = 0
  for _, thread in ipairs(threads) do cached = cached + thread:get("hits") end
  io.write(string.format(
    "RESULT {\"requests\": %%d, \"duration_us\": %%d, \"bytes\": %%d, \"p50_us\": %%d, " ..
    "\"p90_us\": %%d, \"p99_us\": %%d, \"errors\": %%d, \"bad_status\": %%d, " ..
    "\"hits\": %%d}\n",
    summary.requests, summary.duration, summary.bytes, latency:percentile(50),
    latency:percentile(90), latency:percentile(99),
    e.connect + e.read + e.write + e.timeout, e.status, cached))
end
"""


# --- Servers -------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def gunicorn(app: str, env: dict[str, str], workers: int, log: Path):
    """gunicorn APP with `make run`'s settings, in a process group of its own."""
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "gunicorn",
        "--workers",
        str(workers),
        "--threads",
        "4",
        "--bind",
        f"127.0.0.1:{port}",
        "--no-control-socket",
        app,
    ]
    with log.open("wb") as out:
        process = subprocess.Popen(
            command,
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=out,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise SystemExit(f"gunicorn {app} exited; see {log}")
            try:
                with urllib.request.urlopen(url + "/", timeout=5):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise SystemExit(f"gunicorn {app} did not answer in 60 s; see {log}") from None
                time.sleep(0.2)
        yield url
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def portal_environment(database_url: str, instance: Path) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PORTAL_", "FLASK_")) and k not in ("DATABASE_URL",)
    }
    env.update(
        DATABASE_URL=database_url,
        PORTAL_INSTANCE_PATH=str(instance),
        PORTAL_LIMIT_SIGN_IN_PER_IP="1000/minute",
        PORTAL_LIMIT_SIGN_IN_PER_ACCOUNT="1000/minute",
        PORTAL_LIMIT_VOTES="1000000/day",
        # wrk is one address asking thousands of times a second: the API's budget is counted
        # (its cost measured) but never reached.
        PORTAL_LIMIT_API="100000000/minute",
    )
    return env


# --- Signing in, as a browser does -----------------------------------------------------------

USER_AGENT = "portal-bench/1"
CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


@dataclass
class Session:
    cookie: str
    csrf: str
    idea: int


def sign_in(base_url: str, email: str, password: str, idea: int) -> Session:
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    opener.addheaders = [("User-Agent", USER_AGENT)]
    page = opener.open(base_url + "/sign-in", timeout=30).read().decode()
    token = CSRF.search(page)[1]
    form = urllib.parse.urlencode({"csrf_token": token, "email": email, "password": password})
    response = opener.open(base_url + "/sign-in", data=form.encode(), timeout=30)
    page = response.read().decode()
    if "Sign out" not in page:
        raise SystemExit(f"signing in as {email} failed at {response.url}")
    cookie = "; ".join(f"{c.name}={c.value}" for c in jar)
    return Session(cookie=cookie, csrf=CSRF.search(page)[1], idea=idea)


# --- wrk -------------------------------------------------------------------------------------


def lua_table(sessions: list[Session]) -> str:
    rows = ", ".join(
        f"{{cookie={lua_string(s.cookie)}, csrf={lua_string(s.csrf)}, idea={s.idea}}}"
        for s in sessions
    )
    return "{" + rows + "}"


def lua_string(value: str) -> str:
    return json.dumps(value)  # a JSON string of ASCII is a valid Lua string


def run_wrk(
    url: str, path: str, *, sessions, post: bool, seconds: int, warmup: int, runs: int
) -> dict:
    """The best of `runs` measured runs after one warm-up, with every run's throughput.

    Each run opens its 16 connections afresh, and gunicorn hands a kept-alive connection to
    whichever worker accepts it first: now and then one worker takes most of them and the run
    measures one process instead of two (seen here: the same cached page at 2,100 and at 800
    requests/s). The best run is the machine's capacity; the spread is reported beside it.
    """
    threads = 2
    script = WRK_SCRIPT % {
        "sessions": lua_table(sessions),
        "method": lua_string("POST" if post else "GET"),
        "path": lua_string(path),
        "form": "true" if post else "false",
        "threads": threads,
        "user_agent": lua_string(USER_AGENT),
    }
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as fh:
        fh.write(script)
    results = []
    try:
        base = ["wrk", f"-t{threads}", f"-c{CONNECTIONS}", "--timeout", "10s", "-s", fh.name]
        if warmup:
            subprocess.run([*base, f"-d{warmup}s", url + path], capture_output=True, check=True)
        for _ in range(runs):
            out = subprocess.run(
                [*base, f"-d{seconds}s", "--latency", url + path],
                capture_output=True,
                text=True,
                check=True,
            ).stdout
            line = next(x for x in out.splitlines() if x.startswith("RESULT "))
            result = json.loads(line[len("RESULT ") :])
            result["rps"] = result["requests"] / (result["duration_us"] / 1e6)
            results.append(result)
    finally:
        os.unlink(fh.name)
    best = max(results, key=lambda r: r["rps"])
    return {
        **best,
        "all_rps": [r["rps"] for r in results],
        "errors": sum(r["errors"] + r["bad_status"] for r in results),
    }


# --- The data sets ---------------------------------------------------------------------------


def dataset_url(database_url: str | None, ideas: int, *, large: bool) -> str:
    """Where a data set lives: the named database (the large set) or one beside it; or files."""
    if not database_url:
        return f"sqlite:///{BENCH_DIR / f'portal-{ideas}.sqlite3'}"
    if large:
        return database_url
    parsed = urllib.parse.urlsplit(database_url)
    if parsed.scheme.startswith("sqlite"):
        path = Path(parsed.path)
        return f"sqlite:///{path.with_name(f'{path.stem}-{ideas}{path.suffix}')}"
    return urllib.parse.urlunsplit(parsed._replace(path=f"{parsed.path}_{ideas}"))


def build(url: str, ideas: int, manifest: Path, *, replace: bool) -> dict:
    command = [
        sys.executable,
        str(ROOT / "bench" / "dataset.py"),
        "--database-url",
        url,
        "--ideas",
        str(ideas),
        "--manifest",
        str(manifest),
        "--reuse",
    ]
    if replace:
        command.append("--replace")
    subprocess.run(command, cwd=ROOT, check=True)
    return json.loads(manifest.read_text())


def deep_page_path(url: str, ideas: int) -> tuple[str, int]:
    """The list's page 1,000 in its default order, or its last page when it has fewer."""
    from sqlalchemy import func, select

    from portal import create_app
    from portal.extensions import db
    from portal.models import Idea, Stage
    from portal.services.idea_lists import encode_cursor

    app = create_app({"SQLALCHEMY_DATABASE_URI": url})
    with app.app_context():
        listed = (
            select(Idea.trending_score, Idea.id)
            .join(Stage, Stage.id == Idea.stage_id)
            .where(Stage.is_closed.is_(False), Idea.hidden_at.is_(None))
        )
        total = db.session.scalar(select(func.count()).select_from(listed.subquery()))
        page = min(DEEP_PAGE, max(1, (total - 1) // PER_PAGE + 1))
        if page == 1:
            return "/", 1
        row = db.session.execute(
            listed.order_by(Idea.trending_score.desc(), Idea.id.desc())
            .offset((page - 1) * PER_PAGE - 1)
            .limit(1)
        ).one()
        db.engine.dispose()
    return "/?after=" + encode_cursor(row.trending_score, row.id), page


UNCACHED_ROUNDS = 20


def uncached_costs(
    url: str, manifest: dict, paths: dict[str, str], endpoints: list[Endpoint]
) -> dict[str, tuple]:
    """Each page rendered in this process with the cache off, one request at a time.

    What a page costs right after a write (any write starts a new cache generation), and how
    that grows with the data: (milliseconds, SQL statements) per request.
    """
    from sqlalchemy import event, select

    from portal import create_app
    from portal.extensions import db
    from portal.models import User
    from portal.services import sessions as signed_in

    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "CACHE_ENABLED": False, "REQUEST_LOG": "off"})
    statements = [0]
    keys = {}
    with app.app_context():
        event.listen(
            db.engine,
            "before_cursor_execute",
            lambda *_args: statements.__setitem__(0, statements[0] + 1),
        )
        for endpoint in endpoints:
            if endpoint.signed_in and endpoint.people not in keys:
                email = people_of(manifest, endpoint)[0]["email"]
                person = db.session.scalar(select(User).where(User.email == email))
                keys[endpoint.people] = signed_in.start_session(
                    person, remember=False, ip=None, user_agent=USER_AGENT
                )
        db.session.commit()
    costs = {}
    for endpoint in endpoints:
        if endpoint.method != "GET":
            continue
        client = app.test_client()
        if endpoint.signed_in:
            with client.session_transaction() as session:
                session["_user_id"] = keys[endpoint.people]
        path = paths[endpoint.key]
        client.get(path)  # templates compiled, connections open
        statements[0] = 0
        started = time.perf_counter()
        for _ in range(UNCACHED_ROUNDS):
            status = client.get(path).status_code
            if status != 200:
                raise SystemExit(f"{path} answered {status} in the uncached measurement")
        seconds = (time.perf_counter() - started) / UNCACHED_ROUNDS
        costs[endpoint.key] = (seconds * 1000, statements[0] / UNCACHED_ROUNDS)
    with app.app_context():
        db.engine.dispose()
    return costs


def people_of(manifest: dict, endpoint: Endpoint) -> list[dict]:
    """The customers an endpoint signs in as (each with an idea they may vote for)."""
    if endpoint.people == "customers":
        return manifest["customers"]
    return manifest["private_board"][endpoint.people]


def board_paths(url: str, manifest: dict) -> dict[str, str]:
    """The board pages' paths, or an empty dict (and why, on stderr) when they cannot be measured.

    The board page (/boards/<slug>) came after the boards themselves; a data set built before
    boards has none to show.
    """
    from werkzeug.exceptions import HTTPException

    from portal import create_app

    if "private_board" not in manifest:
        print("  (no boards in this data set: build it again to measure them)", file=sys.stderr)
        return {}
    public = next(b for b in manifest["boards"] if b["audience"] == "public" and b["id"] != 1)
    paths = {
        "board_page_anonymous": f"/boards/{public['slug']}",
        "board_page_private": f"/boards/{manifest['private_board']['slug']}",
    }
    adapter = create_app({"SQLALCHEMY_DATABASE_URI": url}).url_map.bind("localhost")
    try:
        adapter.match(paths["board_page_anonymous"])
    except HTTPException:
        print("  (no /boards/<slug> page in this version yet: skipping the board pages)",
              file=sys.stderr)  # fmt: skip
        return {}
    return paths


def chosen_endpoints(args) -> list[Endpoint]:
    """The endpoints --only names (all of them by default), in the table's order."""
    if not args.only:
        return ENDPOINTS
    keys = set(args.only.split(","))
    unknown = keys - {e.key for e in ENDPOINTS}
    if unknown:
        raise SystemExit(f"--only: no endpoint {', '.join(sorted(unknown))}")
    return [e for e in ENDPOINTS if e.key in keys]


# --- One run ---------------------------------------------------------------------------------


def upgraded_environment(url: str, backend: str, ideas: int) -> tuple[dict[str, str], Path]:
    """The server's environment and instance folder, and the data set's schema upgraded as
    `make run` does (a data set built by an older release gets the newer schema)."""
    instance = BENCH_DIR / f"instance-{backend}-{ideas}"
    instance.mkdir(parents=True, exist_ok=True)
    env = portal_environment(url, instance)
    subprocess.run(
        [sys.executable, "-m", "flask", "--app", "portal", "db", "upgrade"],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
    )
    return env, instance


def measure_portal(url: str, ideas: int, manifest: dict, args, backend: str) -> dict:
    env, instance = upgraded_environment(url, backend, ideas)
    deep_path, deep_page = deep_page_path(url, ideas)
    paths = {
        "home_anonymous": "/",
        "home_signed_in": "/",
        "idea_page": f"/ideas/{manifest['benchmark_idea_id']}",
        "idea_page_anonymous": f"/ideas/{manifest['benchmark_idea_id']}",
        "search": "/search?q=" + urllib.parse.quote(manifest["search_word"]),
        "deep_page": deep_path,
        "vote": "/",
        "api_ideas_anonymous": "/api/v1/ideas?sort=top",
        "api_idea_anonymous": f"/api/v1/ideas/{manifest['benchmark_idea_id']}",
    }
    if "private_board" in manifest:
        paths |= {
            "home_board_member": "/",
            "home_board_outsider": "/",
            "idea_page_board_member": paths["idea_page"],
            "idea_page_board_outsider": paths["idea_page"],
        }
    paths |= board_paths(url, manifest)
    endpoints = [e for e in chosen_endpoints(args) if e.key in paths]
    results = {
        "deep_page_number": deep_page,
        "uncached": uncached_costs(url, manifest, paths, endpoints),
    }
    with gunicorn("wsgi:app", env, args.workers, instance / "gunicorn.log") as base_url:
        sessions = {
            people: [
                sign_in(base_url, c["email"], manifest["password"], c["vote_idea_id"])
                for c in people_of(manifest, endpoint)[:SESSIONS]
            ]
            for people, endpoint in {e.people: e for e in endpoints if e.signed_in}.items()
        }
        for endpoint in endpoints:
            print(f"  {endpoint.label} ...", file=sys.stderr, flush=True)
            results[endpoint.key] = run_wrk(
                base_url,
                paths[endpoint.key],
                sessions=sessions[endpoint.people] if endpoint.signed_in else [],
                post=endpoint.method == "POST",
                seconds=args.seconds,
                warmup=args.warmup,
                runs=args.runs,
            )
    return results


def measure_baseline(args) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PORTAL_", "FLASK_"))}
    log = BENCH_DIR / "baseline.log"
    with gunicorn("bench.baseline:app", env, args.workers, log) as base_url:
        return run_wrk(
            base_url,
            "/",
            sessions=[],
            post=False,
            seconds=args.seconds,
            warmup=args.warmup,
            runs=args.runs,
        )


# --- The report ------------------------------------------------------------------------------


def cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def spread(result: dict) -> str:
    return " / ".join(f"{rps:,.0f}" for rps in result["all_rps"])


def report(backend: str, big: dict, small: dict, baseline: dict, manifests, args) -> str:
    now = datetime.now(UTC)
    counts = manifests[0]["counts"]
    lines = [
        f"# Benchmark: {backend}, {now:%Y-%m-%d %H:%M} UTC",
        "",
        f"- Machine: {os.cpu_count()} cores ({cpu_model()}), Python {platform.python_version()}.",
        f"- Server: gunicorn as `make run` starts it, {args.workers} workers x 4 threads;"
        f" load: wrk, 2 threads, {CONNECTIONS} connections, {args.warmup} s warm-up then the"
        f" best of {args.runs} runs of {args.seconds} s (each with fresh connections; the"
        " spread column shows all runs), on the same machine.",
        "- Data: "
        + ", ".join(f"{value:,} {name}" for name, value in counts.items())
        + f"; the small set for growth has {manifests[1]['counts']['ideas']:,} ideas.",
        f"- Baseline (bench/baseline.py, a fixed page): {baseline['rps']:,.0f} requests/s"
        f" (runs: {spread(baseline)}), p50 {baseline['p50_us'] / 1000:.1f} ms,"
        f" p99 {baseline['p99_us'] / 1000:.1f} ms.",
        f"- Page 1,000 is reached by its keyset link; the small set has only"
        f" {small['deep_page_number']} pages, so its last page stands in for growth.",
        "",
        "| Endpoint | Requests/s | Runs | p50 ms | p99 ms | Share of baseline | Target |"
        " Growth 1k → 100k | Cache hits | Errors |",
        "|---|---:|---|---:|---:|---:|---|---:|---:|---:|",
    ]
    skipped = [e.label for e in chosen_endpoints(args) if e.key not in big or e.key not in small]
    for endpoint in chosen_endpoints(args):
        if endpoint.label in skipped:
            continue
        r, s = big[endpoint.key], small[endpoint.key]
        share = r["rps"] / baseline["rps"]
        growth = s["rps"] / r["rps"]  # cost is 1/throughput
        checks = []
        if endpoint.target_share is not None:
            met = "met" if share >= endpoint.target_share else "NOT met"
            checks.append(f"share ≥ {endpoint.target_share:.0%} {met}")
        checks.append(f"p99 {'met' if r['p99_us'] / 1000 < P99_TARGET_MS else 'NOT met'}")
        checks.append(f"growth {'met' if growth <= GROWTH_TARGET else 'NOT met'}")
        lines.append(
            f"| {endpoint.label} | {r['rps']:,.0f} | {spread(r)} | {r['p50_us'] / 1000:.1f} |"
            f" {r['p99_us'] / 1000:.1f} | {share:.0%} | {'; '.join(checks)} | {growth:.2f}x |"
            f" {r['hits'] / r['requests']:.0%} | {r['errors'] + s['errors']} |"
        )
    if skipped:
        lines += ["", "Not measured (not in this version or data set): " + "; ".join(skipped) + "."]
    lines += [
        "",
        "Growth is the cost of a request (1 / throughput) at 100,000 ideas over its cost at 1,000"
        f" ideas; the target is at most {GROWTH_TARGET}x. p99 target: under {P99_TARGET_MS} ms.",
        "",
        "Uncached: each page rendered with the cache off, one request at a time in one process"
        f" ({UNCACHED_ROUNDS} rounds): what a page costs right after a write.",
        "",
        "| Endpoint | 1,000 ideas: ms (SQL) | 100,000 ideas: ms (SQL) | Growth |",
        "|---|---:|---:|---:|",
    ]
    for endpoint in chosen_endpoints(args):
        if endpoint.key not in big["uncached"] or endpoint.key not in small["uncached"]:
            continue
        (big_ms, big_sql), (small_ms, small_sql) = (
            big["uncached"][endpoint.key],
            small["uncached"][endpoint.key],
        )
        lines.append(
            f"| {endpoint.label} | {small_ms:.1f} ({small_sql:.0f}) | {big_ms:.1f} ({big_sql:.0f})"
            f" | {big_ms / small_ms:.2f}x |"
        )
    lines.append("")
    return "\n".join(lines)


# --- The mixed scenario (issue 18) -----------------------------------------------------------
# A live site rather than one page alone: several dozen people signed in, each request a
# different one of them in turn, while a steady stream of votes arrives from others. Every row
# is measured twice in a row, without the votes and with them, beside the same baseline.

MIXED_SESSIONS = 48  # signed-in sessions rotated over wrk's connections, one person each if we can
VOTE_SESSIONS = 8  # the vote stream's own signed-in sessions
VOTE_RATE = 10.0  # votes a second, the "while 10 votes a second arrive"
VOTE_WORKERS = 8  # threads sending the stream's votes, so one slow answer does not delay the next
TOP_VOTE_SHARE = 0.2  # one vote in five is on an idea on the home page's first page
KEPT_UP = 0.95  # the stream fell behind when it sent less than this share of its rate


@dataclass(frozen=True)
class MixedTarget:
    """Issue 18's targets for one row: least shares of the baseline, and p99 in milliseconds."""

    share: float | None  # without the vote stream
    share_with_votes: float | None
    of_no_writes: float | None  # the least ratio of the row with votes to the row without
    p99_ms: float


MIXED_ROWS = {
    "home_anonymous": ("Home page, anonymous", MixedTarget(None, 0.6, 0.9, 50)),
    "home_signed_in": ("Home page, signed-in people in turn", MixedTarget(0.3, 0.3, None, 50)),
    "idea_page": ("Idea page with 50 comments, people in turn", MixedTarget(0.3, 0.3, None, 50)),
    "search": ("Search for a common word, people in turn", MixedTarget(None, None, None, 50)),
    "vote": ("Vote toggle (POST), people in turn", MixedTarget(0.25, 0.25, None, 100)),
}
SEARCH_UNCACHED_TARGET_MS = 20


def mixed_people(manifest: dict, count: int) -> tuple[list[dict], int]:
    """`count` people to sign in, each with an idea they may vote for, and how many differ.

    The manifest names three groups of customers (anyone, and people inside and outside the
    private board's organisation); together they are as many different people as there are. When
    that is fewer than `count`, some sign in again: a second session, as from a second device.
    """
    groups = [manifest["customers"]]
    if "private_board" in manifest:
        groups += [manifest["private_board"]["members"], manifest["private_board"]["outsiders"]]
    people, seen = [], set()
    for person in (p for group in groups for p in group):
        if person["email"] not in seen:
            seen.add(person["email"])
            people.append(person)
    return [people[i % len(people)] for i in range(count)], min(count, len(people))


def vote_candidates(url: str, exclude: set[int], voters: list[int]) -> tuple[list[int], dict]:
    """Ideas anyone may vote on now, and the ones each of the stream's voters has voted for.

    Ideas on a public board, at a stage that takes votes, shown; without the ideas the wrk rows
    toggle, so the stream and wrk never flip the same vote.
    """
    from sqlalchemy import select

    from portal import create_app
    from portal.extensions import db
    from portal.models import Board, Idea, Stage, Vote

    app = create_app({"SQLALCHEMY_DATABASE_URI": url})
    with app.app_context():
        ideas = db.session.scalars(
            select(Idea.id)
            .join(Stage, Stage.id == Idea.stage_id)
            .join(Board, Board.id == Idea.board_id)
            .where(
                Stage.voting_allowed.is_(True),
                Stage.is_closed.is_(False),
                Idea.hidden_at.is_(None),
                Board.voting_open.is_(True),
                Board.audience == "public",
            )
            .order_by(Idea.id)
        ).all()
        voted: dict[int, set[int]] = {user_id: set() for user_id in voters}
        for user_id, idea_id in db.session.execute(
            select(Vote.user_id, Vote.idea_id).where(Vote.user_id.in_(voters))
        ):
            voted[user_id].add(idea_id)
        db.engine.dispose()
    return [i for i in ideas if i not in exclude], voted


def home_page_ideas(base_url: str, votable: set[int]) -> list[int]:
    """The ideas on the anonymous home page's first page that take votes, in their order."""
    with urllib.request.urlopen(base_url + "/", timeout=30) as response:
        page = response.read().decode()
    found = dict.fromkeys(int(i) for i in re.findall(r'href="/ideas/(\d+)"', page))
    return [i for i in found if i in votable][:PER_PAGE]


def percentile(values: list[float], share: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


class VoteStream:
    """Vote toggles at a fixed rate from signed-in sessions, timed on their own, in threads.

    Open loop: vote n is due at start + n / rate whether or not vote n - 1 has been answered, so
    a slow server shows as latency and as lag behind the schedule, not as a politely lower rate.
    Each vote picks a session in turn and a random idea (one in five on the home page's first
    page), and toggles that person's vote on it: a vote where they had none, else a withdrawal.
    What the stream leaves voted, restore() takes back, so the data set stays as it was built.
    """

    def __init__(
        self,
        base_url: str,
        sessions: list[tuple[int, Session]],
        top: list[int],
        rest: list[int],
        voted: dict[int, set[int]],
        rate: float,
        seed: int,
    ) -> None:
        self.host, self.port = urllib.parse.urlsplit(base_url).netloc.split(":")
        self.sessions, self.top, self.rest, self.rate = sessions, top, rest, rate
        self.before = {user_id: set(ideas) for user_id, ideas in voted.items()}
        self.voted = {user_id: set(ideas) for user_id, ideas in voted.items()}
        self.rng = Random(seed)
        self.sent = 0  # over every run, so the sessions keep turning
        self.lock = threading.Lock()  # self.voted: the scheduler flips it, answers correct it

    def choose(self) -> tuple[int, Session, int, str]:
        user_id, session = self.sessions[self.sent % len(self.sessions)]
        self.sent += 1
        pool = self.top if self.top and self.rng.random() < TOP_VOTE_SHARE else self.rest
        idea = self.rng.choice(pool)
        with self.lock:
            action = "unvote" if idea in self.voted[user_id] else "vote"
            self.voted[user_id] ^= {idea}
        return user_id, session, idea, action

    def settle(self, user_id: int, idea: int, answer: dict | None) -> None:
        """What the server says the person's vote now is (nothing changed when it refused)."""
        with self.lock:
            if answer is None:
                self.voted[user_id] ^= {idea}
            elif answer.get("voted"):
                self.voted[user_id].add(idea)
            else:
                self.voted[user_id].discard(idea)

    def post(self, session: Session, idea: int, action: str) -> tuple[int, dict | None]:
        connection = http.client.HTTPConnection(self.host, int(self.port), timeout=30)
        try:
            connection.request(
                "POST",
                f"/ideas/{idea}/vote",
                body=urllib.parse.urlencode({"csrf_token": session.csrf, "action": action}),
                headers={
                    "Cookie": session.cookie,
                    "User-Agent": USER_AGENT,
                    "Content-Type": "application/x-www-form-urlencoded",
                    "Accept": "application/json",
                    "Connection": "close",
                },
            )
            response = connection.getresponse()
            body = response.read()
        finally:
            connection.close()
        answer = json.loads(body) if response.status == 200 else None
        return response.status, answer

    @contextlib.contextmanager
    def running(self):
        """Votes at the rate while the block runs; yields the dict its figures will fill."""
        stats: dict = {}
        jobs: queue.Queue = queue.Queue()
        sent, latencies, lags, statuses = [], [], [], collections.Counter()
        lock = threading.Lock()
        stop = threading.Event()

        def work() -> None:
            while (job := jobs.get()) is not None:
                due, user_id, session, idea, action = job
                started = time.monotonic()
                with lock:
                    sent.append(started)
                try:
                    status, answer = self.post(session, idea, action)
                except OSError:
                    status, answer = 0, None
                finished = time.monotonic()
                self.settle(user_id, idea, answer)
                with lock:
                    lags.append(started - due)
                    latencies.append(finished - started)
                    statuses[status] += 1

        def schedule() -> None:
            start = time.monotonic()
            n = 0
            while not stop.is_set():
                due = start + n / self.rate
                if (wait := due - time.monotonic()) > 0 and stop.wait(wait):
                    break
                jobs.put((due, *self.choose()))
                n += 1

        workers = [threading.Thread(target=work, daemon=True) for _ in range(VOTE_WORKERS)]
        scheduler = threading.Thread(target=schedule, daemon=True)
        for thread in workers:
            thread.start()
        began = time.monotonic()
        scheduler.start()
        try:
            yield stats
        finally:
            stop.set()
            scheduler.join()
            stopped = time.monotonic()
            with lock:
                on_time = len(sent)  # those still queued at the end were due but not sent
            for _ in workers:
                jobs.put(None)
            for thread in workers:
                thread.join()
            seconds = stopped - began
            stats.update(
                seconds=seconds,
                rate=on_time / seconds,
                p50_ms=percentile(latencies, 0.5) * 1000,
                p99_ms=percentile(latencies, 0.99) * 1000,
                lag_p99_ms=percentile(lags, 0.99) * 1000,
                ok=statuses[200],
                failed=sum(n for status, n in statuses.items() if status != 200),
                statuses=dict(statuses),
            )
            stats["kept_up"] = stats["rate"] >= KEPT_UP * self.rate

    def restore(self) -> int:
        """Take back every vote the stream changed, as fast as the server answers; how many."""
        session_of = dict(self.sessions)
        undo = [
            (session_of[user_id], idea, "unvote" if idea in now else "vote")
            for user_id, now in self.voted.items()
            for idea in now ^ self.before[user_id]
        ]
        with ThreadPoolExecutor(VOTE_WORKERS) as pool:
            statuses = list(pool.map(lambda job: self.post(*job)[0], undo))
        failed = sum(status != 200 for status in statuses)
        if failed:
            print(f"  ({failed} of the stream's votes could not be taken back)", file=sys.stderr)
        return len(undo)


def measure_mixed(url: str, manifest: dict, args, backend: str) -> dict:
    """The mixed scenario's rows, each without and then with the vote stream, on one server."""
    env, instance = upgraded_environment(url, backend, args.ideas)
    rows = chosen_mixed_rows(args)
    paths = {
        "home_anonymous": "/",
        "home_signed_in": "/",
        "idea_page": f"/ideas/{manifest['benchmark_idea_id']}",
        "search": "/search?q=" + urllib.parse.quote(manifest["search_word"]),
        "vote": "/",
        "api_ideas_anonymous": "/api/v1/ideas?sort=top",
        "api_idea_anonymous": f"/api/v1/ideas/{manifest['benchmark_idea_id']}",
    }
    people, different = mixed_people(manifest, args.sessions + VOTE_SESSIONS)
    crowd, voters = people[: args.sessions], people[args.sessions :]
    results: dict = {
        "sessions": len(crowd),
        "people": len({p["email"] for p in crowd}),
        "different": different,
        "vote_sessions": len(voters),
    }
    if "search" in rows:
        search = next(e for e in ENDPOINTS if e.key == "search")
        results["search_uncached"] = uncached_costs(url, manifest, paths, [search])["search"]
    rest, voted = vote_candidates(
        url, {p["vote_idea_id"] for p in people}, sorted({p["user_id"] for p in voters})
    )
    with gunicorn("wsgi:app", env, args.workers, instance / "gunicorn.log") as base_url:
        print(f"  signing in {len(people)} sessions ...", file=sys.stderr, flush=True)
        signed = [
            (p["user_id"], sign_in(base_url, p["email"], manifest["password"], p["vote_idea_id"]))
            for p in people
        ]
        sessions = [s for _, s in signed[: args.sessions]]
        top = home_page_ideas(base_url, set(rest))
        stream = VoteStream(
            base_url, signed[args.sessions :], top, rest, voted, args.vote_rate, seed=18
        )
        results["top_ideas"], results["candidate_ideas"] = len(top), len(rest)
        for key in rows:
            label = MIXED_ROWS[key][0]
            load = functools.partial(
                run_wrk,
                base_url,
                paths[key],
                sessions=[] if key == "home_anonymous" else sessions,
                post=key == "vote",
                seconds=args.seconds,
                warmup=args.warmup,
                runs=args.runs,
            )
            print(f"  {label} ...", file=sys.stderr, flush=True)
            results[key] = load()
            print(f"  {label}, while {args.vote_rate:g} votes a second arrive ...", file=sys.stderr)
            with stream.running() as stats:
                measured = load()
            results[key + "+votes"] = {**measured, "stream": stats}
        print("  taking back the stream's votes ...", file=sys.stderr, flush=True)
        results["restored"] = stream.restore()
        if "vote" in rows:
            # wrk's vote rows may end on a vote: each person's idea goes back to having none.
            for session in sessions:
                stream.post(session, session.idea, "unvote")
    if args.profile:
        print("  profiling the signed-in pages ...", file=sys.stderr, flush=True)
        results["profiles"] = profile_pages(
            url,
            crowd,
            {
                "Home page, signed-in people in turn": paths["home_signed_in"],
                "Idea page with 50 comments, people in turn": paths["idea_page"],
            },
        )
    return results


PROFILE_REQUESTS = 480  # ten for each of the 48 people


def profile_pages(url: str, people: list[dict], paths: dict[str, str]) -> dict[str, str]:
    """Where a signed-in page's time goes when the cache answers it: cProfile's hottest calls.

    In this process, one request at a time, as the people of the mix in turn (each with a
    session of their own, started as signing in starts one), after each has seen the page once.
    Settings as the server's (cache and request log on); the log lines go nowhere. A
    deterministic profile inflates small, frequent calls, so read shares, not milliseconds.
    """
    import cProfile
    import io
    import pstats

    from sqlalchemy import select

    from portal import create_app
    from portal.extensions import db
    from portal.models import User
    from portal.services import sessions as signed_in

    profiles = {}
    with contextlib.redirect_stderr(io.StringIO()):
        app = create_app({"SQLALCHEMY_DATABASE_URI": url})
        with app.app_context():
            keys = [
                signed_in.start_session(
                    db.session.scalar(select(User).where(User.email == p["email"])),
                    remember=False,
                    ip=None,
                    user_agent=USER_AGENT,
                )
                for p in people
            ]
            db.session.commit()
        clients = []
        for key in keys:
            client = app.test_client()
            with client.session_transaction() as session:
                session["_user_id"] = key
            clients.append(client)
        for name, path in paths.items():
            for client in clients:
                client.get(path, headers={"User-Agent": USER_AGENT})
            profiler = cProfile.Profile()
            profiler.enable()
            for n in range(PROFILE_REQUESTS):
                clients[n % len(clients)].get(path, headers={"User-Agent": USER_AGENT})
            profiler.disable()
            out = io.StringIO()
            stats = pstats.Stats(profiler, stream=out)
            stats.sort_stats("cumulative").print_stats(30)
            text = out.getvalue().replace(str(ROOT) + "/", "").replace(sys.prefix + "/", "")
            profiles[name] = text[text.index("ncalls") :].rstrip() if "ncalls" in text else text
    with app.app_context():
        db.engine.dispose()
    return profiles


def chosen_mixed_rows(args) -> list[str]:
    """The mixed rows --only names (all of them by default), in the table's order."""
    if not args.only:
        return list(MIXED_ROWS)
    keys = set(args.only.split(","))
    unknown = keys - set(MIXED_ROWS)
    if unknown:
        raise SystemExit(
            f"--only with --mixed: no row {', '.join(sorted(unknown))}"
            f" (the rows: {', '.join(MIXED_ROWS)})"
        )
    return [key for key in MIXED_ROWS if key in keys]


def verdict(met: bool) -> str:
    return "pass" if met else "**FAIL**"


def mixed_report(backend: str, mixed: dict, baseline: dict, manifest: dict, args) -> str:
    now = datetime.now(UTC)
    counts = manifest["counts"]
    lines = [
        f"# Mixed benchmark: {backend}, {now:%Y-%m-%d %H:%M} UTC",
        "",
        f"- Machine: {os.cpu_count()} cores ({cpu_model()}), Python {platform.python_version()}.",
        f"- Server: gunicorn as `make run` starts it, {args.workers} workers x 4 threads;"
        f" load: wrk, 2 threads, {CONNECTIONS} connections, {args.warmup} s warm-up then the"
        f" best of {args.runs} runs of {args.seconds} s per row (each with fresh connections),"
        " on the same machine.",
        "- Data: " + ", ".join(f"{value:,} {name}" for name, value in counts.items()) + ".",
        f"- Signed-in rows: {mixed['sessions']} sessions of {mixed['people']} different people,"
        " each signed in through the sign-in form with its own cookie, taken in turn request by"
        " request (each of wrk's threads turns through its half), so each request is another"
        " person's.",
        f"- The vote stream: {args.vote_rate:g} vote toggles a second (POST with the CSRF token,"
        f" as the vote button sends them) from {mixed['vote_sessions']} other signed-in sessions,"
        f" on random ideas open to voting: one in {round(1 / TOP_VOTE_SHARE)} among the"
        f" {mixed['top_ideas']} on the home page's first page, the rest among"
        f" {mixed['candidate_ideas']:,}. Open loop (each vote is due at its time whatever the"
        f" last one did); it runs through the row's warm-up and runs. Afterwards the"
        f" {mixed['restored']:,} votes it changed were taken back.",
        f"- Baseline (bench/baseline.py, a fixed page): {baseline['rps']:,.0f} requests/s"
        f" (runs: {spread(baseline)}), p50 {baseline['p50_us'] / 1000:.1f} ms,"
        f" p99 {baseline['p99_us'] / 1000:.1f} ms.",
        "",
        "| Row | Votes | Requests/s | Runs | p50 ms | p99 ms | Share of bare | With votes ÷"
        " without | Target | Cache hits | Errors |",
        "|---|---|---:|---|---:|---:|---:|---:|---|---:|---:|",
    ]
    verdicts = []
    for key in [k for k in MIXED_ROWS if k in mixed]:
        label, target = MIXED_ROWS[key]
        quiet = mixed[key]
        for with_votes in (False, True):
            r = mixed[key + "+votes"] if with_votes else quiet
            share = r["rps"] / baseline["rps"]
            least = target.share_with_votes if with_votes else target.share
            checks = []
            if least is not None:
                checks.append((f"share ≥ {least:.0%}", share >= least))
            ratio = r["rps"] / quiet["rps"] if quiet["rps"] else float("nan")
            if with_votes and target.of_no_writes is not None:
                checks.append(
                    (f"≥ {target.of_no_writes:.0%} of no writes", ratio >= target.of_no_writes)
                )
            p99 = r["p99_us"] / 1000
            checks.append((f"p99 < {target.p99_ms:.0f} ms", 0 < p99 < target.p99_ms))
            if not r["requests"]:  # no answer came in time: nothing passes
                checks = [("no answer within the run", False)]
            verdicts += [met for _, met in checks]
            lines.append(
                f"| {label} | {f'{args.vote_rate:g}/s' if with_votes else 'none'} |"
                f" {r['rps']:,.0f} | {spread(r)} | {r['p50_us'] / 1000:.1f} | {p99:.1f} |"
                f" {share:.0%} | {f'{ratio:.0%}' if with_votes and quiet['rps'] else ''} |"
                f" {'; '.join(f'{text} {verdict(met)}' for text, met in checks)} |"
                f" {r['hits'] / max(1, r['requests']):.0%} | {r['errors']} |"
            )
    lines += [
        "",
        "The vote stream during each row with votes (its own timing, from a client beside wrk):",
        "",
        "| Row | Votes/s sent | p50 ms | p99 ms | Lag behind schedule, p99 ms | Answered 200 |"
        " Other answers | Target |",
        "|---|---:|---:|---:|---:|---:|---|---|",
    ]
    for key in [k for k in MIXED_ROWS if k in mixed]:
        s = mixed[key + "+votes"]["stream"]
        statuses = sorted(s["statuses"].items())
        others = (
            ", ".join(f"{n} x {status or 'no answer'}" for status, n in statuses if status != 200)
            or "none"
        )
        checks = [
            (f"{args.vote_rate:g}/s kept up", s["kept_up"]),
            ("p99 < 100 ms", s["p99_ms"] < 100),
            ("no failures", s["failed"] == 0),
        ]
        verdicts += [met for _, met in checks]
        lines.append(
            f"| {MIXED_ROWS[key][0]} | {s['rate']:.1f} | {s['p50_ms']:.1f} | {s['p99_ms']:.1f} |"
            f" {s['lag_p99_ms']:.1f} | {s['ok']} | {others} |"
            f" {'; '.join(f'{text} {verdict(met)}' for text, met in checks)} |"
        )
    if "search_uncached" in mixed:
        ms, statements = mixed["search_uncached"]
        met = ms < SEARCH_UNCACHED_TARGET_MS
        verdicts.append(met)
        lines += [
            "",
            f"Search for “{manifest['search_word']}” ({manifest['search_matches']:,} ideas)"
            f" uncached, one request at a time in one process: {ms:.1f} ms ({statements:.0f} SQL"
            f" statements); target under {SEARCH_UNCACHED_TARGET_MS} ms {verdict(met)}.",
        ]
    for name, text in mixed.get("profiles", {}).items():
        lines += [
            "",
            f"Profile (--profile): {name}, {PROFILE_REQUESTS} requests answered by the cache, one"
            " at a time in one process (cProfile, the 30 calls with the most time inside them):",
            "",
            "```",
            text,
            "```",
        ]
    lines += [
        "",
        f"Targets (issue 18) met: {sum(verdicts)} of {len(verdicts)}. The stream falls behind"
        f" when it sends less than {KEPT_UP:.0%} of its rate. Shares are of the baseline"
        " measured in the same run; the machine may be shared, so compare rows of one run.",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=5, help="seconds per measured run")
    parser.add_argument("--runs", type=int, default=3, help="measured runs per endpoint")
    parser.add_argument("--warmup", type=int, default=3, help="warm-up seconds per endpoint")
    parser.add_argument(
        "--duration",
        type=int,
        help="seconds measured per row in all: the best of 2 runs of half of it after a 2 s"
        " warm-up (instead of --seconds, --runs and --warmup), e.g. 10 for a run of minutes",
    )
    parser.add_argument("--workers", type=int, default=int(os.environ.get("WEB_CONCURRENCY", 2)))
    parser.add_argument("--ideas", type=int, default=100_000)
    parser.add_argument("--small", type=int, default=1_000, help="ideas in the growth set")
    parser.add_argument(
        "--only",
        help="comma-separated endpoint keys to measure, e.g. home_anonymous,idea_page"
        f" (all of: {', '.join(e.key for e in ENDPOINTS)}); with --mixed, the mixed rows"
        f" (all of: {', '.join(MIXED_ROWS)}). Without --mixed, the mixed scenario is left out",
    )
    parser.add_argument(
        "--mixed",
        action="store_true",
        help="only the mixed scenario (issue 18): many signed-in people in turn while votes"
        " arrive, on the large data set (by default it follows the endpoints' tables)",
    )
    parser.add_argument(
        "--vote-rate",
        type=float,
        default=VOTE_RATE,
        help="the mixed scenario's vote stream, votes a second (default %(default)g)",
    )
    parser.add_argument(
        "--sessions",
        type=int,
        default=MIXED_SESSIONS,
        help="signed-in sessions the mixed scenario takes in turn (default %(default)s)",
    )
    parser.add_argument("--label", help="added to the results files' names, e.g. before")
    parser.add_argument(
        "--profile",
        action="store_true",
        help="with the mixed scenario: a cProfile of the signed-in home and idea pages as the"
        " cache answers them, in its report",
    )
    args = parser.parse_args()
    if args.duration is not None:
        if args.duration < 1:
            parser.error("--duration must be at least 1")
        args.runs = 2 if args.duration >= 2 else 1
        args.seconds, args.warmup = args.duration // args.runs, min(2, args.duration)
    if args.vote_rate <= 0 or args.sessions < 1:
        parser.error("--vote-rate and --sessions must be positive")
    endpoints = not args.mixed
    mixed = args.mixed or not args.only
    if endpoints:
        chosen_endpoints(args)  # an unknown key stops here, before any data set is built
    else:
        chosen_mixed_rows(args)
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is missing: sudo apt-get install wrk")
    BENCH_DIR.mkdir(parents=True, exist_ok=True)
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    database_url = os.environ.get("DATABASE_URL")
    backend = "PostgreSQL" if database_url and database_url.startswith("postgres") else "SQLite"
    label = f"-{args.label}" if args.label else ""
    manifests, measured = [], []
    for ideas in (args.ideas, args.small) if endpoints else (args.ideas,):
        large = ideas == args.ideas
        url = dataset_url(database_url, ideas, large=large)
        manifest_path = BENCH_DIR / f"manifest-{backend.lower()}-{ideas}.json"
        print(f"Data set of {ideas:,} ideas at {url}", file=sys.stderr)
        # A database the benchmark named itself may be rebuilt; one you named is never wiped.
        manifest = build(url, ideas, manifest_path, replace=not (database_url and large))
        manifests.append(manifest)
        if endpoints:
            print(f"Loading the portal ({ideas:,} ideas)", file=sys.stderr)
            measured.append(measure_portal(url, ideas, manifest, args, backend.lower()))
    if mixed:
        print(f"The mixed scenario ({args.ideas:,} ideas)", file=sys.stderr)
        url = dataset_url(database_url, args.ideas, large=True)
        mixed_results = measure_mixed(url, manifests[0], args, backend.lower())
        # The raw figures, to read again when a table needs another look.
        raw = BENCH_DIR / f"mixed-{backend.lower()}.json"
        raw.write_text(json.dumps(mixed_results, indent=1, default=str))
    print("Loading the baseline", file=sys.stderr)
    baseline = measure_baseline(args)
    day = f"{datetime.now(UTC):%Y-%m-%d}-{backend.lower()}"
    written = []
    if endpoints:
        text = report(backend, measured[0], measured[1], baseline, manifests, args)
        part = "-" + args.only.replace(",", "-") if args.only else ""  # a part never hides all
        written.append((RESULTS_DIR / f"{day}{part}{label}.md", text))
    if mixed:
        text = mixed_report(backend, mixed_results, baseline, manifests[0], args)
        part = "-" + args.only.replace(",", "-") if args.only else ""
        written.append((RESULTS_DIR / f"{day}-mixed{part}{label}.md", text))
    for out, text in written:
        out.write_text(text)
        print(text)
        print(f"Written to {out.relative_to(ROOT)}", file=sys.stderr)


if __name__ == "__main__":
    main()

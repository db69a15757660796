"""Tracking endpoints under `wrk` load while the worker sends (issue 9, item 5).

An installation as production runs it: PostgreSQL (a scratch database), a Redis of its
own (broker, send-rate budget, throttling), an SMTP sink, `coalition worker` and
`coalition scheduler` sending a launched alert (the worker also stores the clicks and
opens that the server appends to a Redis stream, TRACKING_EVENTS=stream), and
`coalition serve` (a process per core, as the api image runs it). While the worker
sends, `wrk` requests the REAL signed links of the alert's deliveries (built by
app/delivery/links.py):

- clicks `/r/{signed}/{n}` and opens `/o/{signed}.gif`, rotating over a set of
  deliveries;
- one-click unsubscribes (`POST /unsubscribe/{signed}`, `List-Unsubscribe=One-Click`)
  for a distinct set of deliveries, each link POSTed twice at once (on two
  connections), as a mail provider's retry or a second click would.

The Lua script counts what it sent and what came back, per kind, and writes the counts
to a file in `done` (wrk's own per-thread figures are not readable). Then the stored
response events are counted against the answers:

- every click answered (303) is one `clicked` event: every click is kept, a
  scanner's too (marked `automated`, see app/tracking/automated.py);
- every open answered (200, the pixel) is one `opened` event (the alert counts opens);
- unsubscribes are kept once per address, by design: the app records an event only
  when the address changes (app/tracking/service.py, `unsubscribe`), and each link of
  the pool names a subscribed address of its own. So the `unsubscribed` events must
  equal the pool's addresses now unsubscribed (more is a duplicate, fewer a loss), and
  every link with an answer must have unsubscribed its address.

`events lost` is the answered requests with no event. Requests still in flight when
wrk stops may have been served without wrk reading the answer, so stored events may
exceed the answers by at most that many (`unanswered`), never the other way round.
"""

import os
import random
import re
import shutil
import subprocess
import time
import urllib.request
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import redis
from sqlalchemy import Engine, func
from sqlmodel import Session, col, select

from app.campaigns.models import Campaign, CampaignStatus
from app.campaigns.rendering import tracked_links
from app.core.settings import get_settings
from app.delivery.links import delivery_links
from app.delivery.models import Delivery, DeliveryState
from app.members.models import Contact, SubscriptionStatus
from app.tracking.models import ResponseEvent, ResponseKind
from app.tracking.stream import STREAM
from tests.delivery.smtp_sink import free_port, running_smtp_sink
from tests.faults.harness import ServiceMissing, prepare, private_redis, process, wait_for

BODY = (
    "Read the [briefing](https://example.org/briefing) and "
    "[write to the ministry](https://example.org/write?country={{ contact.first_name }})."
)
ALERT = {
    "title": "Tracking under load",
    "action_type": "contact_officials",
    "default_language": "en",
    "variants": [
        {"language": "en", "subject": "Act, {{ contact.first_name }}", "body": BODY},
        {"language": "fr", "subject": "Agissez, {{ contact.first_name }}", "body": BODY},
    ],
    "tracking": {"clicks": True, "opens": True},
}
THREADS = 2
# One request in this many is a one-click unsubscribe, while the pool lasts.
UNSUBSCRIBE_EVERY = 8
BROWSER = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
COUNTERS = (
    "issued",
    "issued_click",
    "issued_open",
    "issued_unsubscribe",
    "unsubscribe_links",
    "answered",
    "ok_click",
    "ok_open",
    "ok_unsubscribe",
    "ok_other",
    "status_4xx",
    "status_5xx",
    "status_other",
)


@dataclass(frozen=True)
class Scale:
    organizations: int  # about 3.4 recipients each in the demo registry
    min_recipients: int
    seconds: int
    connections: int
    # Messages per second: slow enough that the worker is still sending when wrk stops.
    send_rate: float


SCALES = {
    "short": Scale(organizations=160, min_recipients=500, seconds=8, connections=32, send_rate=40),
    "full": Scale(
        organizations=1650, min_recipients=5000, seconds=30, connections=64, send_rate=100
    ),
}


@dataclass
class Figures:
    scenario: str = "tracking under load"
    recipients: int = 0
    requests: int = 0  # answered, as wrk counts them
    answers_2xx: int = 0  # 2xx, and a click's 303 redirect (its success)
    answers_non_2xx: int = 0
    answers_5xx: int = 0
    unanswered: int = 0  # in flight when wrk stopped, or cut by a socket error
    clicks_answered: int = 0
    clicks_stored: int = 0
    opens_answered: int = 0
    opens_stored: int = 0
    unsubscribes_answered: int = 0  # answers, two per link
    unsubscribe_links: int = 0  # distinct links POSTed
    addresses_unsubscribed: int = 0  # of the pool, in the database afterwards
    unsubscribes_stored: int = 0
    events_lost: int = 0
    events_duplicated: int = 0  # unsubscribe events beyond one per address
    events_extra: int = 0  # stored beyond the answers read (at most `unanswered`)
    sent_before_load: int = 0
    sent_during_load: int = 0
    sent: int = 0
    suppressed: int = 0
    requests_per_second: float = 0.0
    seconds: float = 0.0
    notes: str = ""

    @property
    def total_seconds(self) -> float:
        """The name tests/faults/harness.py's figures give it."""
        return self.seconds

    def note(self, text: str) -> None:
        self.notes = f"{self.notes}; {text}" if self.notes else text

    def problems(self) -> list[str]:
        """What the issue forbids, in words (empty when all is well), as the harness's
        figures say it."""
        found = []
        if self.events_lost:
            found.append(f"{self.events_lost} events lost")
        if self.events_duplicated:
            found.append(f"{self.events_duplicated} unsubscribes recorded twice")
        if self.events_extra > self.unanswered:
            found.append(f"{self.events_extra} events beyond the {self.unanswered} unanswered")
        if self.answers_5xx:
            found.append(f"{self.answers_5xx} answers 5xx")
        if self.answers_non_2xx > self.answers_5xx:
            found.append(f"{self.answers_non_2xx - self.answers_5xx} answers 4xx or other")
        if not self.sent_during_load:
            found.append("nothing was sent while wrk ran")
        if self.sent + self.suppressed != self.recipients:
            found.append(
                f"deliveries: {self.sent} sent + {self.suppressed} suppressed "
                f"!= {self.recipients} recipients"
            )
        return found


def run_tracking_load(workdir: Path, postgres_url: str, scale: str) -> Figures:
    """The scenario at `scale` ("short" for CI, "full") in the empty PostgreSQL database
    at `postgres_url`, as the harness's scenarios take it; logs and wrk's files go in
    `workdir`."""
    wrk = shutil.which("wrk")
    if wrk is None:
        raise ServiceMissing("wrk is not installed (Debian package wrk)")
    workdir.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    figures = _run(workdir, postgres_url, SCALES[scale], wrk)
    figures.seconds = round(time.monotonic() - started, 1)
    return figures


def _run(workdir: Path, database_url: str, size: Scale, wrk: str) -> Figures:
    figures = Figures()
    log = workdir / "processes.log"
    redis_port, http_port = free_port(), free_port()
    # Launched here; the scheduler's scan starts the send.
    installation = prepare(database_url, size.organizations, alert=ALERT)
    engine, campaign_id = installation.engine, installation.campaign_id
    with Session(engine) as session:
        tokens = list(
            session.scalars(
                select(Delivery.token)
                .where(col(Delivery.campaign_id) == campaign_id)
                .order_by(col(Delivery.id))
            )
        )
        variant_body = session.get_one(Campaign, campaign_id).variants[0].body
    figures.recipients = len(tokens)
    if figures.recipients < size.min_recipients:
        figures.note(f"only {figures.recipients} recipients (< {size.min_recipients})")
    link_count = len(tracked_links(variant_body))
    unsubscribe_pool = _write_targets(workdir, tokens, link_count)
    pool_size = len(unsubscribe_pool)
    script = _write_script(workdir)

    with (
        private_redis(redis_port),
        running_smtp_sink() as sink,
    ):
        env = _environment(database_url, redis_port, sink.url(), http_port, size.send_rate)
        with ExitStack() as running:
            # The server first: its processes take a while to start on a busy machine,
            # and the alert must still be sending when wrk starts.
            running.enter_context(
                process("serve", "--host", "127.0.0.1", "--port", str(http_port), env=env, log=log)
            )
            base = f"http://127.0.0.1:{http_port}"
            wait_for(lambda: _healthy(base), timeout=180, what="the server", log=log)
            running.enter_context(
                process("scheduler", "--state-file", str(workdir / "beat"), env=env, log=log)
            )
            running.enter_context(process("worker", "--concurrency", "2", env=env, log=log))
            wait_for(
                lambda: _count_state(engine, campaign_id, DeliveryState.sent) > 0,
                timeout=60,
                what="the worker to send",
                log=log,
            )
            figures.sent_before_load = _count_state(engine, campaign_id, DeliveryState.sent)
            result = subprocess.run(
                [
                    wrk,
                    f"--threads={THREADS}",
                    f"--connections={size.connections}",
                    f"--duration={size.seconds}s",
                    "--timeout=30s",
                    f"--script={script}",
                    base,
                ],
                capture_output=True,
                text=True,
                timeout=size.seconds + 120,
                check=False,
            )
            (workdir / "wrk.out").write_text(result.stdout + result.stderr)
            if result.returncode != 0:
                raise RuntimeError(f"wrk failed ({result.returncode}): {result.stderr[-2000:]}")
            sent_after_load = _count_state(engine, campaign_id, DeliveryState.sent)
            figures.sent_during_load = sent_after_load - figures.sent_before_load
            if _status(engine, campaign_id) is not CampaignStatus.sending:
                figures.note("the campaign had finished sending when wrk stopped")
            wait_for(
                lambda: _status(engine, campaign_id) is CampaignStatus.sent,
                timeout=max(120, 2 * figures.recipients / size.send_rate),
                what="the campaign to be sent",
                log=log,
            )
            wait_for(
                lambda: stream_length(redis_port) == 0,
                timeout=120,
                what="the worker to store the streamed events",
                log=log,
            )
    unanswered_unsubscribes = _count_answers(figures, workdir, result.stdout, pool_size)
    _count_events(figures, engine, campaign_id, unsubscribe_pool, unanswered_unsubscribes)
    figures.sent = _count_state(engine, campaign_id, DeliveryState.sent)
    figures.suppressed = _count_state(engine, campaign_id, DeliveryState.suppressed)
    errors = log.read_text(errors="replace").count("Traceback")
    if errors:
        figures.note(f"{errors} tracebacks in {log}")
    engine.dispose()
    return figures


def _environment(
    database_url: str, redis_port: int, smtp_url: str, http_port: int, send_rate: float
) -> dict[str, str]:
    """Production's variables (docker-compose.yml), pointed at this test's services."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("TEST_", "PYTEST", "DEMO_MODE"))
    }
    env.update(
        DATABASE_URL=database_url,
        REDIS_URL=f"redis://127.0.0.1:{redis_port}/0",
        CELERY_BROKER_URL=f"redis://127.0.0.1:{redis_port}/1",
        THROTTLE_BACKEND="redis",
        MAIL_BACKEND="smtp",
        SMTP_URL=smtp_url,
        PUBLIC_BASE_URL=f"http://127.0.0.1:{http_port}",
        # The links were signed in this process: the server must check them with its key.
        SECRET_KEY=get_settings().secret_key,
        SEND_RATE_LIMIT=str(send_rate),
        SEND_BATCH_SIZE="50",
        # Clicks and opens through the Redis stream, stored by the worker (production's
        # path, docker-compose.yml): counted once the stream is drained.
        TRACKING_EVENTS="stream",
    )
    return env


def stream_length(redis_port: int) -> int:
    """Events answered and not yet stored by the worker."""
    client = redis.Redis(port=redis_port, socket_connect_timeout=2)
    try:
        return int(client.xlen(STREAM))
    finally:
        client.close()


def _write_targets(
    workdir: Path,
    tokens: list[str],
    link_count: int,
    *,
    unsubscribe_share: float = 0.3,
    rotate: bool = True,
) -> list[str]:
    """One file per wrk thread: the click and open paths it rotates over (none when not
    `rotate`: the script then only unsubscribes), and its own share of the unsubscribe
    links, a distinct set of deliveries. Returns the tokens of the unsubscribe pool."""
    shuffled = list(tokens)
    random.Random(9).shuffle(shuffled)
    pool = int(len(shuffled) * unsubscribe_share)
    unsubscribing, tracked = shuffled[:pool], shuffled[pool:]
    for thread in range(1, THREADS + 1):
        lines: list[str] = []
        for token in tracked[thread - 1 :: THREADS] if rotate else ():
            links = delivery_links(token)
            assert links.tracking is not None
            click = urlsplit(links.tracking.click).path
            lines += [f"C {click}/{n}" for n in range(1, link_count + 1)]
            lines.append(f"O {urlsplit(links.tracking.open_image).path}")
        lines += [
            f"U {urlsplit(delivery_links(token).unsubscribe).path}"
            for token in unsubscribing[thread - 1 :: THREADS]
        ]
        (workdir / f"targets-{thread}.txt").write_text("\n".join(lines) + "\n")
    return unsubscribing


LUA = """
-- Generated by tests/faults/tracking_load.py.
local directory = "%(directory)s"
local threads = {}

function setup(thread)
  table.insert(threads, thread)
  thread:set("id", #threads)
end

function init(args)
  rotating, unsubscribes = {}, {}
  for line in io.lines(directory .. "/targets-" .. id .. ".txt") do
    local kind, path = line:match("^(%%a) (.+)$")
    if kind == "U" then
      table.insert(unsubscribes, path)
    else
      table.insert(rotating, {kind, path})
    end
  end
  next_rotating, pair = 0, nil
  %(zeroes)s
  wrk.headers["User-Agent"] = "%(agent)s"
end

local function unsubscribe(path)
  issued_unsubscribe = issued_unsubscribe + 1
  return wrk.format("POST", path,
    {["Content-Type"] = "application/x-www-form-urlencoded"},
    "List-Unsubscribe=One-Click")
end

function request()
  issued = issued + 1
  if pair then
    -- The same link again, at once: the next request goes out on another connection.
    local path = pair
    pair = nil
    return unsubscribe(path)
  end
  if #rotating == 0 then
    -- Unsubscribes only: each link of the pool twice at once, then (the pool used up)
    -- the used links again, which unsubscribe nobody new.
    if unsubscribe_links < #unsubscribes then
      unsubscribe_links = unsubscribe_links + 1
      pair = unsubscribes[unsubscribe_links]
      return unsubscribe(pair)
    end
    return unsubscribe(unsubscribes[issued %% #unsubscribes + 1])
  end
  if issued %% %(every)d == 0 and unsubscribe_links < #unsubscribes then
    unsubscribe_links = unsubscribe_links + 1
    pair = unsubscribes[unsubscribe_links]
    return unsubscribe(pair)
  end
  next_rotating = next_rotating %% #rotating + 1
  local target = rotating[next_rotating]
  if target[1] == "C" then
    issued_click = issued_click + 1
  else
    issued_open = issued_open + 1
  end
  return wrk.format("GET", target[2])
end

function response(status, headers, body)
  answered = answered + 1
  local kind = headers["content-type"] or headers["Content-Type"] or ""
  if status >= 500 then
    status_5xx = status_5xx + 1
  elseif status >= 400 then
    status_4xx = status_4xx + 1
  elseif status == 303 then
    ok_click = ok_click + 1
  elseif status == 200 and kind:find("image/gif", 1, true) then
    ok_open = ok_open + 1
  elseif status == 200 and body == "Unsubscribed.\\n" then
    ok_unsubscribe = ok_unsubscribe + 1
  elseif status >= 200 and status < 400 then
    ok_other = ok_other + 1
  else
    status_other = status_other + 1
  end
end

function done(summary, latency, requests)
  local out = io.open(directory .. "/wrk-counts.txt", "w")
  out:write(string.format("requests %%d\\n", summary.requests))
  out:write(string.format("errors_status %%d\\n", summary.errors.status))
  out:write(string.format("errors_socket %%d\\n", summary.errors.connect + summary.errors.read
    + summary.errors.write + summary.errors.timeout))
  for _, thread in ipairs(threads) do
    for _, name in ipairs({%(names)s}) do
      out:write(string.format("%%s %%d\\n", name, thread:get(name)))
    end
  end
  out:close()
end
"""


def _write_script(workdir: Path) -> Path:
    script = workdir / "tracking.lua"
    script.write_text(
        LUA
        % {
            "directory": str(workdir.resolve()),
            "zeroes": " ".join(f"{name} = 0" for name in COUNTERS),
            "agent": BROWSER,
            "every": UNSUBSCRIBE_EVERY,
            "names": ", ".join(f'"{name}"' for name in COUNTERS),
        }
    )
    return script


def _count_answers(figures: Figures, workdir: Path, wrk_output: str, pool: int) -> int:
    """Fill in wrk's figures; return how many unsubscribe POSTs got no success."""
    counts: dict[str, int] = {}
    for line in (workdir / "wrk-counts.txt").read_text().splitlines():
        name, value = line.split()
        counts[name] = counts.get(name, 0) + int(value)
    assert counts["answered"] == counts["requests"], counts  # the script saw every answer
    figures.requests = counts["requests"]
    figures.clicks_answered = counts["ok_click"]
    figures.opens_answered = counts["ok_open"]
    figures.unsubscribes_answered = counts["ok_unsubscribe"]
    figures.unsubscribe_links = counts["unsubscribe_links"]
    figures.answers_2xx = (
        counts["ok_click"] + counts["ok_open"] + counts["ok_unsubscribe"] + counts["ok_other"]
    )
    figures.answers_5xx = counts["status_5xx"]
    figures.answers_non_2xx = counts["status_4xx"] + counts["status_5xx"] + counts["status_other"]
    figures.unanswered = counts["issued"] - counts["answered"]
    if counts["ok_other"]:
        figures.note(f"{counts['ok_other']} successful answers of no known kind")
    if counts["errors_socket"]:
        figures.note(f"{counts['errors_socket']} socket errors or timeouts")
    if pool and counts["unsubscribe_links"] >= pool:
        figures.note(f"the unsubscribe pool ({pool} links) was used up")
    if match := re.search(r"Requests/sec:\s*([\d.]+)", wrk_output):
        figures.requests_per_second = float(match.group(1))
    return counts["issued_unsubscribe"] - counts["ok_unsubscribe"]


def _count_events(
    figures: Figures, engine: Engine, campaign_id: int, pool: list[str], unanswered: int
) -> None:
    with Session(engine) as session:
        figures.addresses_unsubscribed = int(
            session.scalar(
                select(func.count())
                .select_from(Delivery)
                .join(Contact, col(Contact.id) == col(Delivery.contact_id))
                .where(
                    col(Delivery.token).in_(pool),
                    col(Contact.subscription_status) == SubscriptionStatus.unsubscribed,
                )
            )
            or 0
        )
        stored = dict(
            session.execute(
                select(col(ResponseEvent.kind), func.count())
                .where(col(ResponseEvent.campaign_id) == campaign_id)
                .group_by(col(ResponseEvent.kind))
            ).all()
        )
    figures.clicks_stored = int(stored.get(ResponseKind.clicked, 0))
    figures.opens_stored = int(stored.get(ResponseKind.opened, 0))
    figures.unsubscribes_stored = int(stored.get(ResponseKind.unsubscribed, 0))
    pairs = (
        (figures.clicks_answered, figures.clicks_stored),
        (figures.opens_answered, figures.opens_stored),
    )
    # Each POST without a success can leave at most one link unanswered.
    links_answered_at_least = figures.unsubscribe_links - unanswered
    unsubscribes_lost = max(
        links_answered_at_least - figures.addresses_unsubscribed,
        figures.addresses_unsubscribed - figures.unsubscribes_stored,
        0,
    )
    figures.events_lost = sum(max(0, answered - kept) for answered, kept in pairs)
    figures.events_lost += unsubscribes_lost
    figures.events_extra = sum(max(0, kept - answered) for answered, kept in pairs)
    figures.events_duplicated = max(0, figures.unsubscribes_stored - figures.addresses_unsubscribed)


def _healthy(base: str) -> bool:
    try:
        with urllib.request.urlopen(f"{base}/healthz", timeout=2) as answer:
            return bool(answer.status == 200)
    except OSError:
        return False


def _count_state(engine: Engine, campaign_id: int, state: DeliveryState) -> int:
    with Session(engine) as session:
        return int(
            session.scalar(
                select(func.count()).where(
                    col(Delivery.campaign_id) == campaign_id, col(Delivery.state) == state
                )
            )
            or 0
        )


def _status(engine: Engine, campaign_id: int) -> CampaignStatus:
    with Session(engine) as session:
        return session.get_one(Campaign, campaign_id).status

"""Rate limits, checked before any view runs.

A request that needs a scope (api/http/auth.py's `access`: every write) counts as a write, by
its client address and, when its token is good, by the token's id; every other request counts as
a read. Limits are fixed windows of `RATE_LIMIT_WINDOW` seconds, each a policy of its own:

- `address-writes`: every write attempt from a client address, refused ones included (a token
  guesser's), and `token-writes`: every write a token may make. Both are counted in Postgres,
  in one `INSERT … ON CONFLICT DO UPDATE … RETURNING` per write (`sql/queries/ratelimit.sql`),
  so they hold across workers and hosts.
- `address-reads`: every other request, counted in each worker's memory so that a read costs
  no round trip and works while the database is away. It is a per-worker approximation: each
  worker allows the whole limit, so a client whose requests are spread over N workers may get
  up to N times it (one keep-alive connection stays with one worker).

Past a limit the answer is 429 problem+json with `Retry-After` (seconds to the window's end).
Every counted response carries the headers of the IETF draft draft-ietf-httpapi-ratelimit-
headers-10 (not the older `RateLimit-Limit/-Remaining/-Reset` trio), for example
`RateLimit-Policy: "address-writes";q=10000;w=60` and `RateLimit: "address-writes";r=9987;t=41`.
Liveness, readiness and authorised metrics scrapes are never limited: a supervisor, a load
balancer or a scraper throttled by someone else's traffic would take a healthy service down. A
refused scrape (no or a wrong metrics token) counts as a read, like a 404.
"""

from __future__ import annotations

import ipaddress
import math
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache

from flask import Flask, g, request

from api.config import Settings
from api.http import metrics
from api.http.auth import Access
from api.http.connection import connection
from api.http.errors import ApiError
from api.http.exchange import Exchange
from api.store.sql import q

UNLIMITED_ENDPOINTS = frozenset({"operations.Health", "operations.Ready"})
# granian 2.8.9 has no switch to leave out its `server: granian` header, but keeps the application's
# own value: this one names the product without a version or the engine under it.
MAX_ADDRESSES = 100_000  # per worker and window: past it, new addresses go uncounted until the next window


@dataclass(frozen=True)
class Count:
    """Where one policy stands for this request."""

    policy: str
    limit: int
    window: int
    hits: int
    reset: int  # seconds until the window ends and the count starts again

    @property
    def exceeded(self) -> bool:
        return self.hits > self.limit

    def policy_item(self) -> str:
        return f'"{self.policy}";q={self.limit};w={self.window}'

    def state_item(self) -> str:
        return f'"{self.policy}";r={max(0, self.limit - self.hits)};t={self.reset}'


class LocalCounter:
    """Fixed-window counts per key in this process's memory, for reads."""

    def __init__(self, window: int, max_keys: int = MAX_ADDRESSES) -> None:
        self.window = window
        self.max_keys = max_keys
        self.lock = threading.Lock()
        self.current = -1
        self.hits: dict[str, int] = {}

    def hit(self, key: str) -> tuple[int, int]:
        """(hits in this window including this one, seconds left in the window)."""
        now = time.time()
        index = int(now // self.window)
        with self.lock:
            if index != self.current:
                self.current, self.hits = index, {}
            if key in self.hits or len(self.hits) < self.max_keys:
                self.hits[key] = hits = self.hits.get(key, 0) + 1
            else:
                hits = 0
        return hits, max(1, math.ceil((index + 1) * self.window - now))


def client_address(trusted_proxies: int, environ: Mapping[str, object] | None = None) -> str:
    """Whom to count a request against: the connection's peer, or with `trusted_proxies` reverse
    proxies in front, the address that many entries from the right of X-Forwarded-For. An IPv6
    client counts by its /64, the block one subscriber usually gets. From `environ` when given
    (api/http/fastpath.py has no request context), else from the request."""
    if environ is None:
        return _address(request.remote_addr, request.headers.get("X-Forwarded-For", ""), trusted_proxies)
    return _address(environ.get("REMOTE_ADDR"), environ.get("HTTP_X_FORWARDED_FOR", ""), trusted_proxies)  # type: ignore[arg-type]


@lru_cache(maxsize=4096)
def _address(remote_addr: str | None, forwarded_for: str, trusted_proxies: int) -> str:
    """Remembered: parsing an address costs more than counting the request."""
    chain = [remote_addr or "unknown"]
    if trusted_proxies:
        forwarded = [part.strip() for part in forwarded_for.split(",")]
        chain = [part for part in forwarded if part] + chain
    text = chain[max(0, len(chain) - 1 - trusted_proxies)][:100]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return text
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)


class Limiter:
    """The checks and headers for one worker: state is only the read counts and a clean-up clock."""

    def __init__(self, settings: Settings) -> None:
        if settings.rate_limit_window < 1 or min(settings.rate_limit_writes, settings.rate_limit_reads) < 0:
            raise ValueError("RATE_LIMIT_WINDOW must be at least 1, RATE_LIMIT_WRITES and RATE_LIMIT_READS at least 0")
        if settings.trusted_proxies < 0:
            raise ValueError("TRUSTED_PROXIES must be at least 0")
        self.window = settings.rate_limit_window
        self.writes = settings.rate_limit_writes
        self.reads = settings.rate_limit_reads
        self.trusted_proxies = settings.trusted_proxies
        self.local = LocalCounter(self.window)
        self.next_clean_up = 0.0

    def check(self, access: Access) -> None:
        """Before any view, after the token is read and before a refusal of it is raised: the
        limits (429). A write with a refused token counts against its address too, so 429 wins
        over 401/403 once an address is over its limit."""
        if request.endpoint in UNLIMITED_ENDPOINTS or (request.endpoint == metrics.ENDPOINT and metrics.authorized()):
            return
        counted = Exchange.of(request.environ).read_count
        if counted is not None:  # api/http/fastpath.py counted this read, then left the answer to Flask
            self._judge(counted)
            return
        address = client_address(self.trusted_proxies)
        if access.scope is None:
            self._count_read(address)  # a 404 or 405 is as cheap as a read, and counted as one
            return
        self._count_writes(address, access.token.id if access.token is not None else None)

    def _count_read(self, address: str) -> None:
        if self.reads:
            self._judge(self.count_read(address))

    def count_read(self, address: str) -> list[Count]:
        """Counts one read from `address`; what `_judge` needs (nothing when reads are not limited)."""
        if not self.reads:
            return []
        hits, reset = self.local.hit(address)
        return [Count("address-reads", self.reads, self.window, hits, reset)]

    def _count_writes(self, address: str, token_id: int | None) -> None:
        if not self.writes:
            return
        buckets = {f"address:{address}": "address-writes"}
        if token_id is not None:
            buckets[f"token:{token_id}"] = "token-writes"
        conn = connection()
        rows = conn.execute(q("count_hits"), {"window": self.window, "buckets": sorted(buckets)}).fetchall()
        if time.monotonic() >= self.next_clean_up:
            self.next_clean_up = time.monotonic() + self.window
            conn.execute(q("forget_old_hits"), {"window": self.window})
        counts = [Count(buckets[bucket], self.writes, self.window, hits, max(1, reset)) for bucket, hits, reset in rows]
        self._judge(sorted(counts, key=lambda count: count.policy))

    def _judge(self, counts: list[Count]) -> None:
        g.rate_limits = counts
        exceeded = [count for count in counts if count.exceeded]
        if exceeded:
            worst = max(exceeded, key=lambda count: count.reset)
            what = "writes" if worst.policy.endswith("writes") else "requests"
            whose = "this token" if worst.policy.startswith("token") else "this address"
            raise ApiError(
                429,
                f"Too many {what} from {whose}: at most {worst.limit} every {worst.window} s. "
                f"Try again in {worst.reset} s.",
                headers={"Retry-After": str(worst.reset)},
            )


def rate_limit_headers(counts: list[Count] | None) -> list[tuple[str, str]]:
    """RateLimit-Policy and RateLimit for the policies a request was counted against."""
    if not counts:
        return []
    return [
        ("RateLimit-Policy", ", ".join(count.policy_item() for count in counts)),
        ("RateLimit", ", ".join(count.state_item() for count in counts)),
    ]


def init_app(app: Flask, settings: Settings) -> Limiter:
    limiter = app.extensions["rate_limiter"] = Limiter(settings)
    return limiter

"""Each worker's memory of the fast path's recent 200 answers, so that a read of an item or a page
that has not changed is answered without a database round trip (bench/README.md, "Response cache":
the round trip and the query's rows are most of what E1 and E4 cost the app).

It rides on the version cache (api/store/versions.py), which already knows, from Postgres' notices,
when what it holds may have changed, and answers only while it has proven that notices arrive:

- An item's answer is kept with the revision it shows and is served while the version cache says
  the item is still at that revision: a representation is a function of its revision (its ETag
  says so). A reset, which numbers revisions anew, empties the version cache; `Versions.clears`
  counts those, and an answer kept before one is never served after it.
- A page's answer (a list, a search) is kept with the version cache's epoch, which every notice
  and every emptying moves: any write anywhere ends every page kept. Coarse, and cheap to get
  right for data that changes seldom; the next read of each page brings it back.

Only answers read from the primary are kept: a replica may lag behind notices already applied,
so what it answers may be older than what the cache believes current. An answer is kept only if
no notice came while it was read (`since`, as `Versions.learn`). At most RESPONSE_CACHE_MB of
bodies per worker, the least recently used going first; an answer larger than a sixteenth of
that is not kept. RESPONSE_CACHE=off, or the version cache off, and every read asks the database.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable
from typing import TYPE_CHECKING

from api.config import Settings
from api.store.versions import Versions

if TYPE_CHECKING:  # api.http.replies imports the request machinery, which imports this module
    from api.http.replies import Reply

OVERHEAD = 300  # bytes an entry costs beyond its body (key, reply, links), counted against the budget


class Bodies:
    """The kept answers, safe to share between a worker's request threads."""

    def __init__(self, versions: Versions, max_bytes: int) -> None:
        self.versions = versions
        self.max_bytes = max_bytes
        self.largest = max_bytes // 16
        # key → (stamp, answer); the stamp an answer must match: (clears, revision) for an item,
        # (-1, epoch) for a page (keys of the two never meet: an item's has two parts, a page's three).
        self.entries: OrderedDict[Hashable, tuple[tuple[int, int], Reply]] = OrderedDict()
        self.used = 0
        self.lock = threading.Lock()

    def item(self, key: Hashable, version: int) -> Reply | None:
        """The kept answer for an item the version cache says is at `version` (from `Versions.get`)."""
        return self._get(key, (self.versions.clears, version))

    def keep_item(self, key: Hashable, reply: Reply, clears: int) -> None:
        """An item's answer, read from the primary (`clears`: `Versions.clears` before the read)."""
        if reply.version is not None and clears == self.versions.clears:
            self._put(key, (clears, reply.version), reply)

    def page(self, key: Hashable) -> Reply | None:
        """The kept answer for a page, if no notice came since it was read."""
        if not self.versions.proven:
            return None
        return self._get(key, (-1, self.versions.epoch))

    def keep_page(self, key: Hashable, reply: Reply, since: int) -> None:
        """A page's answer, read from the primary (`since`: `Versions.epoch` before the read)."""
        if self.versions.proven and since == self.versions.epoch:
            self._put(key, (-1, since), reply)

    def _get(self, key: Hashable, stamp: tuple[int, int]) -> Reply | None:
        with self.lock:
            entry = self.entries.get(key)
            if entry is None or entry[0] != stamp:
                return None
            self.entries.move_to_end(key)
            return entry[1]

    def _put(self, key: Hashable, stamp: tuple[int, int], reply: Reply) -> None:
        if reply.status != 200 or cost(reply) > self.largest:
            return
        with self.lock:
            old = self.entries.pop(key, None)
            if old is not None:
                self.used -= cost(old[1])
            self.entries[key] = (stamp, reply)
            self.used += cost(reply)
            while self.used > self.max_bytes:
                _, (_, dropped) = self.entries.popitem(last=False)
                self.used -= cost(dropped)


def cost(reply: Reply) -> int:
    """What an entry counts against the budget."""
    return len(reply.body) + OVERHEAD


def start(versions: Versions | None, settings: Settings) -> Bodies | None:
    """The worker's kept answers, unless RESPONSE_CACHE is off or there is no version cache."""
    if not settings.response_cache or versions is None:
        return None
    return Bodies(versions, settings.response_cache_mb * 1024 * 1024)

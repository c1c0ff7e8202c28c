"""What the WSGI layers and Flask tell each other about one request, in one typed object.

A request crosses three layers before Flask (api/http/logs.py's `RequestLog`, api/http/serving.py's
`Turns`, api/http/fastpath.py's `FastReads`), and three facts learnt on one side of Flask are
needed on the other:

- `read_count`: the fast path counts a read against its address before it knows whether it
  answers; when it leaves the request to Flask, the rate-limit check judges that count instead
  of counting the read a second time (api/http/ratelimit.py);
- `database_error`: a database error the fast path met, raised again before the view so the
  client gets its 503 without a second wait (api/http/hooks.py);
- `route`: the URL rule that answered, for the access line and the metrics, which are written
  outside Flask (api/http/logs.py).

They travel in the WSGI environ, the one thing every layer and Flask share for the request,
under a single key: the outermost layer, the request log, puts an `Exchange` there, and each
layer reads and writes its attributes. `Exchange.of(environ)` also makes one when no layer has (a layer
called on its own, as some tests do, or a bare request context), so no caller needs to ask.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from api.http.ratelimit import Count

KEY = "proposals_api.exchange"


@dataclass(slots=True)
class Exchange:
    """One request's facts shared between the WSGI layers and Flask (see the module docstring)."""

    read_count: list[Count] | None = None  # None: not counted yet
    database_error: Exception | None = None
    route: str | None = None  # the URL rule, e.g. `/v1/talks/<talk_id>`; None for no route (404)

    @classmethod
    def of(cls, environ: MutableMapping[str, object]) -> Exchange:
        """The request's Exchange, made and put in `environ` by the first layer that asks."""
        exchange = environ.get(KEY)
        if exchange is None:
            exchange = environ[KEY] = cls()
        return exchange  # type: ignore[return-value]

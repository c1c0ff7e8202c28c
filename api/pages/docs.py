"""People-facing pages: the landing page and the interactive docs, with local assets only."""

from __future__ import annotations

from flask import Blueprint, Response, abort, request, send_from_directory
from swagger_ui_bundle import swagger_ui_path

from api.http.caching import REVALIDATE

pages = Blueprint("pages", __name__)

SPEC_OPTIONS = {
    "info": {
        "description": (
            "A public, read-mostly API over a curated, source-cited dataset of diplomatic draft "
            "proposals: the draft agreements, their clauses, the parties, the talks that negotiate "
            "them, and what officials said. The first dataset is Russia's December 2021 drafts on "
            "security guarantees and the January 2022 talks. Every record cites its sources; a "
            "clause's `summary` is our own description, its `excerpts` only the exact words a "
            "source quotes. Errors are RFC 9457 problem+json."
        ),
        "license": {"name": "MIT", "identifier": "MIT"},
    },
    "servers": [{"url": "/", "description": "This server"}],
}

SWAGGER_ASSETS = {
    "swagger-ui.css",
    "swagger-ui-bundle.js",
    "swagger-ui-standalone-preset.js",
    "favicon-32x32.png",
    "favicon-16x16.png",
}

DOCS_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Proposals API — interactive docs</title>
<link rel="stylesheet" href="/docs/assets/swagger-ui.css">
<link rel="icon" type="image/png" href="/docs/assets/favicon-32x32.png">
</head>
<body>
<div id="swagger-ui"></div>
<script src="/docs/assets/swagger-ui-bundle.js"></script>
<script src="/docs/swagger-init.js"></script>
</body>
</html>
"""

DOCS_INIT = """window.ui = SwaggerUIBundle({
  url: "/v1/openapi.json",
  dom_id: "#swagger-ui",
  deepLinking: true,
  presets: [SwaggerUIBundle.presets.apis],
  validatorUrl: null
});
"""

LANDING_PAGE = """<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Proposals API</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:46rem;margin:3rem auto;padding:0 1rem}code{background:#f3f3f3;padding:0 .2em}</style>
</head>
<body>
<h1>Proposals API</h1>
<p>A public data API for diplomatic draft proposals: the draft agreements, their clauses, the
parties, the talks that negotiate them, and what officials said. Every record cites its sources.
The first dataset is Russia's December 2021 draft security-guarantee agreements with the United
States and NATO, and the talks of January 2022.</p>
<ul>
<li><a href="/explore/">Explorer</a>: the drafts clause by clause beside what the sources quote, a timeline
of the talks and statements, and every item's history</li>
<li><a href="/docs">Interactive documentation</a></li>
<li><a href="/v1/openapi.json">OpenAPI document</a></li>
<li><a href="/v1/proposals">Proposals</a>, <a href="/v1/clauses">clauses</a>, <a href="/v1/parties">parties</a>,
<a href="/v1/talks">talks</a>, <a href="/v1/statements">statements</a></li>
<li><a href="/v1/sources">Sources</a>: where every fact comes from</li>
<li><a href="/v1/export">Export</a>: the whole dataset with its history, as NDJSON</li>
</ul>
<p>Try: <code>curl http://HOST/v1/talks</code></p>
</body>
</html>
"""


def _revalidated(response: Response) -> Response:
    """A page that changes only with a deploy: an ETag of its bytes, so a browser revalidates it
    for a 304 (the Swagger UI assets get theirs from send_from_directory)."""
    response.add_etag()
    response.headers["Cache-Control"] = REVALIDATE
    return response.make_conditional(request)


def _html(text: str) -> Response:
    return _revalidated(Response(text, mimetype="text/html"))


@pages.get("/")
def landing() -> Response:
    return _html(LANDING_PAGE)


@pages.get("/docs")
def docs_page() -> Response:
    return _html(DOCS_PAGE)


@pages.get("/docs/swagger-init.js")
def docs_init() -> Response:
    return _revalidated(Response(DOCS_INIT, mimetype="text/javascript"))


@pages.get("/docs/assets/<name>")
def docs_asset(name: str) -> Response:
    if name not in SWAGGER_ASSETS:
        abort(404)
    response = send_from_directory(str(swagger_ui_path), name, max_age=86400)
    return response


@pages.get("/favicon.ico")
def favicon() -> Response:
    """Browsers ask for it on every page; Swagger UI's icon will do."""
    return send_from_directory(str(swagger_ui_path), "favicon-32x32.png", max_age=86400, mimetype="image/png")

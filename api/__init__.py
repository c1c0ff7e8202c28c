"""The application factory: settings → database → API → blueprints, top to bottom."""

from __future__ import annotations

from apispec.ext.marshmallow import MarshmallowPlugin
from flask import Flask

from api.config import Settings
from api.http import auth, connection, fastpath, hooks, logs, metrics, negotiation, ratelimit, serving
from api.http.openapi import ProblemApi, QueryExamplesInDescriptions, schema_name
from api.pages import docs, explorer
from api.resources import (
    changes,
    clauses,
    export,
    health,
    parties,
    people,
    proposals,
    search,
    sources,
    statements,
    talks,
)

API_VERSION = "1.0.0"
RESOURCES = (parties, proposals, clauses, people, talks, statements, sources, search, changes, export, health)


def create_app(settings: Settings | None = None) -> Flask:
    settings = settings or Settings.from_env()
    logs.configure(settings.log_level)
    app = Flask(__name__)
    app.url_map.merge_slashes = False  # `/v1/talks//revisions` is no route: 404, not a redirect
    app.config.update(
        SETTINGS=settings,
        API_TITLE="Proposals API",
        API_VERSION=API_VERSION,
        OPENAPI_VERSION="3.1.0",
        OPENAPI_URL_PREFIX="/v1",
        OPENAPI_JSON_PATH="openapi.json",
        API_SPEC_OPTIONS=docs.SPEC_OPTIONS,
        MAX_CONTENT_LENGTH=1024 * 1024,
        JSON_SORT_KEYS=False,
    )
    connection.init_app(app, settings)
    api = ProblemApi(
        app,
        spec_kwargs={
            "marshmallow_plugin": MarshmallowPlugin(schema_name_resolver=schema_name),
            "extra_plugins": [QueryExamplesInDescriptions()],
        },
    )
    api.spec.components.security_scheme("bearerAuth", auth.SECURITY_SCHEME)
    for resource in RESOURCES:
        api.register_blueprint(resource.blp)
    negotiation.init_app(app, api.spec)
    app.register_blueprint(docs.pages)
    app.register_blueprint(explorer.explorer)
    hooks.init_app(app, settings, ratelimit.init_app(app, settings))
    metrics.init_app(app, settings.metrics_token)
    fastpath.init_app(app, settings)  # inside the request log, so its answers are logged alike
    serving.init_app(app, settings.web_threads)
    logs.init_app(app)
    return app

"""Liveness and readiness, for load balancers and orchestrators."""

from flask import Response
from flask.views import MethodView

from api.http.blueprint import ApiBlueprint
from api.http.connection import connection
from api.http.errors import ApiError
from schemas.health import StatusSchema

blp = ApiBlueprint("operations", __name__, description="Whether the service is alive and ready.")


def _status(text: str) -> Response:
    response = Response(b'{"status":"' + text.encode() + b'"}', mimetype="application/json")
    response.headers["Cache-Control"] = "no-store"
    return response


@blp.route("/healthz")
class Health(MethodView):
    @blp.doc(operationId="checkHealth", security=[])
    @blp.no_query()
    @blp.response(200, StatusSchema, description='The process is alive: `{"status": "ok"}`.')
    def get(self):
        """Liveness: answers while the process runs, whatever the database does.

        For a process supervisor: a failure here means restart the process. It never touches the database.
        """
        return _status("ok")


@blp.route("/readyz")
class Ready(MethodView):
    @blp.doc(operationId="checkReadiness", security=[])
    @blp.no_query()
    @blp.response(200, StatusSchema, description='The database answers: `{"status": "ready"}`.')
    @blp.alt_response(503, response="SERVICE_UNAVAILABLE")  # with Retry-After (api/http/openapi.py)
    def get(self):
        """Readiness: 200 when the database answers, 503 with Retry-After when it does not.

        For a load balancer: send no traffic here while it answers 503. The service reconnects by itself.
        """
        try:
            connection().execute("SELECT 1")
        except Exception as error:  # any failure to reach the database means "not ready"
            raise ApiError(503, "The database is unavailable.", headers={"Retry-After": "1"}) from error
        return _status("ready")

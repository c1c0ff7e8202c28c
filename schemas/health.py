"""What the liveness and readiness probes answer."""

from marshmallow import fields, validate

from schemas.common import StrictSchema


class StatusSchema(StrictSchema):
    status = fields.String(
        required=True,
        validate=validate.OneOf(["ok", "ready"]),
        metadata={"description": "`ok` from /healthz, `ready` from /readyz.", "example": "ok"},
    )

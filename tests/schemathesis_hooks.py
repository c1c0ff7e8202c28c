"""Schemathesis hooks, loaded through SCHEMATHESIS_HOOKS by tests/test_openapi.py."""

import uuid

import schemathesis


@schemathesis.hook
def before_call(ctx, case, **kwargs):
    if case.meta is None or case.meta.generation.mode.name != "POSITIVE":
        return
    # A cursor is a signed token only the server can mint: any generated value, however
    # well-formed, is rightly refused with 400. Forged cursors are tested in test_errors.py.
    if case.query and "cursor" in case.query:
        del case.query["cursor"]
    # The change feed's `since` is a cursor or an instant: a generated string is neither (400).
    if case.query and "since" in case.query:
        del case.query["since"]
    # An Idempotency-Key names one request; reusing it with another body is rightly 422.
    # A client makes a fresh key per new request, so the generated ones do too.
    if case.headers and "Idempotency-Key" in case.headers:
        case.headers["Idempotency-Key"] = f"st-{uuid.uuid4()}"
    # `as_of` reads history: after a DELETE, the item as it stood at an earlier instant is rightly
    # still there (200), which the stateful use-after-free check takes for a deleted resource
    # served. Sequences therefore read the present; as_of is fuzzed in the other phases.
    if case.meta.phase.name == "stateful" and case.query and "as_of" in case.query:
        del case.query["as_of"]

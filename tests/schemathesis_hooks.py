"""Schemathesis hooks, loaded through SCHEMATHESIS_HOOKS by tests/test_openapi.py."""

import schemathesis


@schemathesis.hook
def before_call(ctx, case, **kwargs):
    # A cursor is a signed token only the server can mint: any generated value, however
    # well-formed, is rightly refused with 400, which schemathesis would count as a valid
    # request rejected. Forged cursors are covered by tests/test_errors.py instead.
    if case.query and "cursor" in case.query and case.meta.generation.mode.name == "POSITIVE":
        del case.query["cursor"]

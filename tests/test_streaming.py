"""A streamed export holds a database connection of its own until its last line.

Flask gives the request's connection back as soon as the view returns, before a streamed body
is produced. An export that read on that connection once shared it with the next requests: their
writes ran inside the export's transaction and vanished when the client hung up, after they had
been answered 200. bench/load.py found it.
"""

from __future__ import annotations

import http.client
import json
import uuid
from urllib.parse import urlsplit

from api.http.auth import create_token
from tests.support import new_talk


def test_writes_during_an_open_export_are_kept(live_server, db):
    token = create_token(db, f"stream-{uuid.uuid4().hex[:8]}", "write", None)
    address = urlsplit(live_server)
    talk_id = f"stream-{uuid.uuid4().hex[:8]}"
    writer = http.client.HTTPConnection(address.hostname, address.port, timeout=30)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    body = new_talk(talk_id, summary="Revision 1.")
    writer.request("POST", "/v1/talks", json.dumps(body), headers)
    created = writer.getresponse()
    answered = created.read()
    assert created.status == 201, answered
    etag = created.getheader("ETag")

    acknowledged = 1
    for _ in range(20):  # several exports, each left open while writes land on both workers
        export = http.client.HTTPConnection(address.hostname, address.port, timeout=30)
        export.request("GET", "/v1/export")
        stream = export.getresponse()
        assert stream.status == 200 and stream.read(64)
        for _ in range(8):
            patch = {"summary": f"Revision {acknowledged + 1}."}
            writer.request("PATCH", f"/v1/talks/{talk_id}", json.dumps(patch), headers | {"If-Match": etag})
            answer = writer.getresponse()
            answer.read()
            assert answer.status == 200, answer.status
            etag = answer.getheader("ETag")
            acknowledged += 1
        export.close()  # the client hangs up mid-stream

    stored = db.execute("SELECT revision, doc->>'summary' FROM talks WHERE id = %s", (talk_id,)).fetchone()
    history = db.execute(
        "SELECT count(*) FROM revisions WHERE collection = 'talks' AND item_id = %s", (talk_id,)
    ).fetchone()[0]
    assert stored == (acknowledged, f"Revision {acknowledged}.") and history == acknowledged

"""The landing page and the interactive docs, served with local assets only."""

import re


def test_landing_page_links_to_docs_spec_and_sources(client):
    page = client.get("/")
    assert page.status_code == 200
    assert page.mimetype == "text/html"
    html = page.get_data(as_text=True)
    for link in ('href="/docs"', 'href="/v1/openapi.json"', 'href="/v1/sources"', 'href="/v1/talks"'):
        assert link in html


def test_docs_page_loads_only_local_assets(client):
    html = client.get("/docs").get_data(as_text=True)
    assets = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert assets and all(a.startswith("/docs/") for a in assets)
    for asset in assets:
        response = client.get(asset)
        assert response.status_code == 200, asset
        assert len(response.get_data()) > 100
    init = client.get("/docs/swagger-init.js").get_data(as_text=True)
    assert '"/v1/openapi.json"' in init


def test_docs_assets_outside_the_bundle_are_404(client):
    assert client.get("/docs/assets/..%2F__init__.py").status_code == 404
    assert client.get("/docs/assets/index.html").status_code == 404


def test_health_and_readiness(client):
    assert client.get("/healthz").get_json() == {"status": "ok"}
    assert client.get("/readyz").get_json() == {"status": "ready"}

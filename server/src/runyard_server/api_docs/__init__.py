"""The API docs at ``/api/v1/docs``: swagger-ui served from this server.

FastAPI's own page loads swagger-ui from a CDN (no integrity check) and starts it
with an inline script, both of which the Content-Security-Policy forbids. Here the
page, its start-up script and swagger-ui itself (vendored, see
``static/swagger-ui/VERSION``) are files under ``/api/v1/docs/static``.
"""

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from runyard.models import API_PREFIX

STATIC_DIR = Path(__file__).parent / "static"
DOCS_PATH = f"{API_PREFIX}/docs"
_PAGE = (STATIC_DIR / "index.html").read_text().replace("%API_PREFIX%", API_PREFIX)


def install_api_docs(app: FastAPI) -> None:
    """Serve the docs page at ``DOCS_PATH`` and its assets under ``DOCS_PATH/static``."""

    @app.get(DOCS_PATH, include_in_schema=False)
    async def docs() -> HTMLResponse:
        return HTMLResponse(_PAGE, headers={"Cache-Control": "no-cache"})

    app.mount(f"{DOCS_PATH}/static", StaticFiles(directory=STATIC_DIR), name="api-docs")

"""The web UI: static HTML, CSS and JavaScript modules served by the server itself.

There is no build step and nothing is fetched from elsewhere: the browser loads
``/`` and ``/static/...`` from this server and talks to the same versioned API
as every other client: the page carries ``API_PREFIX`` in a ``<meta>`` tag that
``api.js`` reads, so the prefix is written once. The pages need no token; the API
calls they make do.
"""

from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from runyard.models import API_PREFIX

STATIC_DIR = Path(__file__).parent / "static"
_PAGE = (STATIC_DIR / "index.html").read_text().replace("%API_PREFIX%", API_PREFIX)

router = APIRouter(include_in_schema=False)


@router.get("/")
async def index() -> HTMLResponse:
    """The single page; the UI routes inside it with ``#/...`` fragments."""
    # no-cache: the page names its modules, so a stale page could pair with new modules.
    return HTMLResponse(_PAGE, headers={"Cache-Control": "no-cache"})


def install_web(app: FastAPI) -> None:
    """Serve the UI at ``/`` and its assets under ``/static``."""
    app.include_router(router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

"""The web application (`services/gateway/web`, built by `make web`) and the API docs, served from
the gateway's own files: no CDN, so an air-gapped deployment works and the CSP names only 'self'.

Hashed build assets (`/assets/*`) are cached for a year as immutable, and sent gzipped to browsers
that accept it; `index.html` is revalidated
on every load, so a new build reaches browsers at once. Any other GET outside the API prefixes
is a client route and answers with the app (SPA fallback); the API prefixes keep their JSON 404.
Without a build the API still works and `/` says how to build the app."""

from __future__ import annotations

import gzip
import hashlib
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, HTMLResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.types import Receive, Scope, Send

# No inline script or style, nothing from elsewhere. KaTeX and React set element styles through
# the CSSOM, which style-src does not govern; fonts and images come from the build.
APP_CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; "
           "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
# Swagger UI writes <style> elements of its own; its script is still only ours.
DOCS_CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
            "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"
# Paths the app never answers for, even for a GET that matches no route.
API_PREFIXES = ("/api", "/v1", "/ws", "/.well-known")

_DOCS_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} - API docs</title>
<link rel="stylesheet" href="/swagger/swagger-ui.css"><link rel="icon" href="/swagger/favicon-32x32.png">
</head>
<body>
<div id="swagger-ui"></div>
<script src="/swagger/swagger-ui-bundle.js"></script>
<script src="/swagger/swagger-ui-standalone-preset.js"></script>
<script src="/swagger/init.js"></script>
</body>
</html>
"""

_NOT_BUILT = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Web app not built</title></head>
<body><h1>The web app is not built</h1>
<p>The API works (<code>/api/v1</code>, <code>/v1</code>). To serve the browser app and the API docs from here, build them
once: <code>make web</code> (or <code>make run</code>, which builds them before it starts the fleet), then reload.</p>
</body></html>
"""


def is_api_path(path: str) -> bool:
    return any(path == prefix or path.startswith(prefix + "/") for prefix in API_PREFIXES)


_COMPRESSIBLE = (".js", ".css", ".svg", ".json", ".map", ".txt", ".html")


class _ImmutableAssets(StaticFiles):
    """Hashed build files: immutable, and gzip-compressed once (kept in memory, a build's worth)
    for browsers that accept it, so the JavaScript shipped is what `bench/web.py` counts."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._gzipped: dict[str, tuple[bytes, str]] = {}

    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        if response.status_code == 200 and path.endswith(_COMPRESSIBLE) and _accepts_gzip(scope):
            response = self._gzip(path, response)
        if response.status_code in (200, 304):
            response.headers["Cache-Control"] = IMMUTABLE
            response.headers["Vary"] = "Accept-Encoding"
        return response

    def _gzip(self, path: str, original: Response) -> Response:
        if path not in self._gzipped:
            full, _ = self.lookup_path(path)
            self._gzipped[path] = (gzip.compress(Path(full).read_bytes(), compresslevel=9), original.media_type or "")
        body, media_type = self._gzipped[path]
        headers = {"Content-Encoding": "gzip", "ETag": original.headers.get("etag", "")}
        return Response(body, media_type=original.headers.get("content-type", media_type), headers=headers)


def _accepts_gzip(scope: Scope) -> bool:
    return any(name == b"accept-encoding" and b"gzip" in value for name, value in scope.get("headers") or ())


class WebApp:
    """The built app in `root` (dist/): index.html, hashed assets, and a few root files."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()

    @property
    def built(self) -> bool:
        return (self.root / "index.html").is_file()

    def index(self, request: Request) -> Response:
        if not self.built:
            return HTMLResponse(_NOT_BUILT, status_code=503, headers={"Cache-Control": REVALIDATE})
        body = (self.root / "index.html").read_bytes()  # small; read each time so a rebuild shows at once
        etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
        headers = {"Cache-Control": REVALIDATE, "ETag": etag, "Content-Security-Policy": APP_CSP}
        if etag in request.headers.get("if-none-match", ""):
            return Response(status_code=304, headers=headers)
        return HTMLResponse(body, headers=headers)

    def root_file(self, path: str) -> Path | None:
        """A file the build put beside index.html (favicon, Swagger UI), never outside the build,
        never a hidden file or a source map."""
        if not path or path.startswith("assets/") or path.endswith(".map") or any(part.startswith(".") for part in path.split("/")):
            return None
        candidate = (self.root / path).resolve()
        if candidate.is_relative_to(self.root) and candidate.is_file() and candidate.name != "index.html":
            return candidate
        return None

    def docs(self, title: str) -> Response:
        if not (self.root / "swagger" / "swagger-ui-bundle.js").is_file():
            return HTMLResponse(_NOT_BUILT, status_code=503, headers={"Cache-Control": REVALIDATE})
        return HTMLResponse(_DOCS_PAGE.format(title=title), headers={"Cache-Control": REVALIDATE, "Content-Security-Policy": DOCS_CSP})


def install(app: FastAPI, root: Path, docs_url: str) -> None:
    """Serves the app from `root` at `/` and Swagger UI at `docs_url` (create the FastAPI app with
    docs_url=None). Call after every API router is included: routes keep precedence, the app only
    answers requests that matched none."""
    web = WebApp(root)
    app.mount("/assets", _ImmutableAssets(directory=root / "assets", check_dir=False), name="web-assets")

    @app.get(docs_url, include_in_schema=False)
    async def api_docs() -> Response:
        return web.docs(app.title)

    not_found = app.router.default

    async def fallback(scope: Scope, receive: Receive, send: Send) -> None:
        path = scope["path"]
        if scope["type"] != "http" or scope["method"] not in ("GET", "HEAD") or is_api_path(path):
            await not_found(scope, receive, send)
            return
        file = web.root_file(path.lstrip("/"))
        if file is None and "." in path.rsplit("/", 1)[-1]:
            # A file that is not there (favicon.ico, robots.txt, a stale script): 404, not the app
            # as HTML under a name that promises something else.
            await not_found(scope, receive, send)
            return
        response = (FileResponse(file, headers={"Cache-Control": REVALIDATE}) if file is not None
                    else web.index(Request(scope, receive)))
        await response(scope, receive, send)

    app.router.default = fallback

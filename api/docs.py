"""The docs page: Swagger UI reading the OpenAPI document, from the files
the ``flask-swagger-ui`` distribution packages (``flask_swagger_ui/dist``)
and served by the API itself. The page loads nothing from another origin,
and its Content-Security-Policy tells the browser so: scripts, styles,
images and requests stay on the page's own origin."""

from __future__ import annotations

import html
import importlib.resources
from pathlib import Path

ASSETS = {
    "swagger-ui.css": "text/css",
    "swagger-ui-bundle.js": "text/javascript",
    "favicon-32x32.png": "image/png",
}
"""The packaged files the page uses, with their media types."""

INIT_JS = """window.onload = () => {
  const root = document.getElementById("swagger-ui");
  window.ui = SwaggerUIBundle({
    url: root.dataset.spec,
    dom_id: "#swagger-ui",
    deepLinking: true,
    validatorUrl: null,
  });
};
"""
"""Starts Swagger UI on the document ``data-spec`` names (validatorUrl
null: no spec is sent to the public validator)."""

POLICY = (
    "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
)
"""Content-Security-Policy of the page (Swagger UI sets inline styles)."""

PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>meshplan API</title>
<link rel="stylesheet" href="{css}">
<link rel="icon" type="image/png" href="{icon}">
</head>
<body>
<div id="swagger-ui" data-spec="{spec}"></div>
<script src="{bundle}"></script>
<script src="{init}"></script>
</body>
</html>
"""


def asset_folder() -> Path:
    """Where the installed ``flask-swagger-ui`` keeps Swagger UI's files."""
    return Path(str(importlib.resources.files("flask_swagger_ui").joinpath("dist")))


def page(spec: str, asset: dict[str, str], init: str) -> str:
    """The HTML page; ``spec``, ``asset[name]`` (for each of :data:`ASSETS`)
    and ``init`` (the script :data:`INIT_JS`) are same-origin URLs."""
    urls = {
        "spec": spec,
        "css": asset["swagger-ui.css"],
        "icon": asset["favicon-32x32.png"],
        "bundle": asset["swagger-ui-bundle.js"],
        "init": init,
    }
    return PAGE.format(**{name: html.escape(url) for name, url in urls.items()})

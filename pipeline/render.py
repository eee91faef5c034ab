"""HTML pages from Jinja2 templates (autoescaped), with the vendored JavaScript inlined.

Every page skypatrol writes is one self-contained file: it opens from a phone's downloads,
a WeChat forward or a USB stick with no network. Templates live in ``pipeline/templates``;
the vendored libraries (Apache ECharts, Leaflet; versions and licences in
``pipeline/static/README.md``) in ``pipeline/static``.
"""

from __future__ import annotations

import base64
import json
from functools import cache
from importlib import resources
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from pipeline.i18n import t


@cache
def static_text(name: str) -> str:
    """A vendored file's text (``echarts.min.js``, ``leaflet.js``, ``leaflet.css``)."""
    return resources.files("pipeline").joinpath("static", name).read_text(encoding="utf-8")


def inline_script(name: str) -> Markup:
    """A vendored script for a ``<script>`` element (a ``</`` inside would end it early)."""
    return Markup(static_text(name).replace("</", "<\\/"))


def inline_style(name: str) -> Markup:
    """A vendored stylesheet for a ``<style>`` element (not HTML-escaped: CSS uses ``>``)."""
    return Markup(static_text(name).replace("</", "<\\/"))


def json_script(value: Any) -> Markup:
    """Data for a ``<script>`` element: JSON with ``<``, ``>`` and ``&`` escaped."""
    text = json.dumps(value, ensure_ascii=False, default=str)
    return Markup(text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026"))


def data_uri(data: bytes | None, mime: str = "image/jpeg") -> str:
    """Bytes as a ``data:`` URI (empty when there are none)."""
    return f"data:{mime};base64,{base64.b64encode(data).decode()}" if data else ""


@cache
def environment() -> Environment:
    """The one Jinja2 environment: autoescaped HTML, undefined names are errors."""
    env = Environment(loader=PackageLoader("pipeline", "templates"),
                      autoescape=select_autoescape(["html", "j2"], default=True),
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.globals.update(inline_script=inline_script, inline_style=inline_style,
                       json_script=json_script)
    return env


def render(template: str, lang: str, **context: Any) -> str:
    """Render ``template`` in ``lang``; ``t(key)`` in a template translates."""
    tmpl = environment().get_template(template)
    return tmpl.render(lang=lang, t=lambda key: t(key, lang), **context)

"""Rendering a page: Jinja2 templates (autoescaped) with what every page needs: the language (中文 first, English on
request), who is signed in, the CSRF token for forms, and the navigation of this kind of node."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from jinja2 import pass_context
from markupsafe import Markup, escape

from exchange.domain.clock import SHANGHAI

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=HERE / "templates")


@pass_context
def csrf_field(context: Any) -> Markup:
    """The hidden input carrying the CSRF token, for every form."""
    return Markup('<input type="hidden" name="csrf_token" value="{}">').format(escape(context["csrf_token"]))


templates.env.globals["csrf_field"] = csrf_field


def when(value: str | datetime | None) -> str:
    """An instant as offices in China write it: 2026-11-02 10:00, China time."""
    if not value:
        return ""
    instant = datetime.fromisoformat(value) if isinstance(value, str) else value
    return instant.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M")


templates.env.filters["when"] = when
LANG_COOKIE = "mpx_lang"
LANGUAGES = ("zh", "en")
#: The navigation of a node's and of a monitor's pages: (path, Chinese, English). The dashboard adds its entries
#: to NAV["monitor"], the workbench to NAV["node"].
NAV: dict[str, list[tuple[str, str, str]]] = {"node": [], "monitor": []}


def language(request: Request) -> str:
    lang = request.cookies.get(LANG_COOKIE, "zh")
    return lang if lang in LANGUAGES else "zh"


def page(request: Request, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    """`template` rendered for this request. In templates, `t("中文", "English")` picks the page's language,
    `user` is the signed-in person's `WebUser` (or None) and `csrf_field()` the hidden input every form carries."""
    lang = language(request)
    user = getattr(request.state, "web_user", None)
    role = request.app.state.node.settings.role
    return templates.TemplateResponse(request, template, {
        "lang": lang, "t": (lambda zh, en: zh if lang == "zh" else en), "user": user,
        "csrf_token": user.csrf_token if user else getattr(request.state, "signin_csrf", ""),
        "nav": NAV[role], "role_here": role, **context}, status_code=status_code)

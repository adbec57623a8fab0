"""Mail and in-app texts from Jinja2 templates per locale: templates/<locale>/<kind>.txt.j2
gives the subject, the in-app summary and the plain-text mail; the locale's mail.html.j2
lays the same text out as HTML. Times are written in the recipient's time zone."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from jinja2 import (
    Environment,
    FileSystemLoader,
    StrictUndefined,
    Template,
    pass_context,
    select_autoescape,
)
from jinja2.runtime import Context

from chassis.money import Money
from services.messaging.domain.notifications import Kind

ROOT = Path(__file__).parent / "templates"
FALLBACK_LOCALE = "en"
_PARAGRAPHS = re.compile(r"\n\s*\n")


@dataclass(frozen=True)
class Rendered:
    """One notice in words: a subject (also the in-app title), a summary (the in-app body)
    and the mail's plain text and HTML."""

    subject: str
    summary: str
    text: str
    html: str


def zone_named(name: str) -> ZoneInfo:
    """The IANA zone of that name, or UTC for a name that is not one."""
    try:
        return ZoneInfo(name) if name else ZoneInfo("UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


# Day and month names of the languages other than English (strftime's are the machine's
# locale's, which a service must not depend on).
_DAYS = {"es": ("lunes", "martes", "miércoles", "jueves", "viernes", "sábado", "domingo")}
_MONTHS = {
    "es": (
        "enero",
        "febrero",
        "marzo",
        "abril",
        "mayo",
        "junio",
        "julio",
        "agosto",
        "septiembre",
        "octubre",
        "noviembre",
        "diciembre",
    )
}
# Languages that group thousands with a point and mark decimals with a comma.
_DECIMAL_COMMA = frozenset({"es"})


@pass_context
def local_time(context: Context, instant: datetime | None) -> str:
    """An instant as the recipient reads it: in their zone and language, the zone named."""
    if instant is None:
        return ""
    zone = zone_named(context.get("zone", ""))
    at = instant.astimezone(zone)
    locale = context.get("locale", FALLBACK_LOCALE)
    if locale in _DAYS:
        day, month = _DAYS[locale][at.weekday()], _MONTHS[locale][at.month - 1]
        return f"{day} {at.day} de {month} de {at.year}, {at:%H:%M} ({zone.key})"
    return f"{at:%A %d %B %Y, %H:%M} ({zone.key})"


@pass_context
def money_text(context: Context, amount: Money) -> str:
    """An amount as a reader of the recipient's language writes it: 1,234.50 EUR in
    English, 1.234,50 EUR in Spanish; 5,000 JPY."""
    written = str(amount)
    if context.get("locale", FALLBACK_LOCALE) in _DECIMAL_COMMA:
        written = written.translate(str.maketrans(",.", ".,"))
    return written


class Templates:
    """The templates of every locale, loaded once."""

    def __init__(self, root: Path = ROOT) -> None:
        self._env = Environment(
            loader=FileSystemLoader(root),
            autoescape=select_autoescape(enabled_extensions=("html.j2",), default=False),
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self._env.filters["local"] = local_time
        self._env.filters["money"] = money_text
        self.locales = frozenset(p.name for p in root.iterdir() if p.is_dir())

    def locale_for(self, wanted: str) -> str:
        """The locale written for: the wanted one, its language ("pt" for "pt-BR"), or
        English."""
        for candidate in (wanted, wanted.split("-")[0].lower()):
            if candidate in self.locales:
                return candidate
        return FALLBACK_LOCALE

    def render(self, kind: Kind, locale: str, context: Mapping[str, Any]) -> Rendered:
        """A notice in the recipient's language, or in English where that language has no
        template for its kind yet."""
        locale = self.locale_for(locale)
        template = self._env.select_template(
            [f"{locale}/{kind.value}.txt.j2", f"{FALLBACK_LOCALE}/{kind.value}.txt.j2"]
        )
        # The layout of the language the words are in.
        locale = str(template.name).split("/")[0]
        values = {**context, "locale": locale}
        subject = _block(template, "subject", values)
        text = template.render(values).strip() + "\n"
        body = _block(template, "body", values)
        html = self._env.get_template(f"{locale}/mail.html.j2").render(
            {
                **values,
                "subject": subject,
                "paragraphs": [p.strip() for p in _PARAGRAPHS.split(body) if p.strip()],
                "link_label": _block(template, "link_label", values),
            }
        )
        return Rendered(subject, _block(template, "summary", values), text, html)


def _block(template: Template, name: str, values: Mapping[str, Any]) -> str:
    return "".join(template.blocks[name](template.new_context(dict(values)))).strip()

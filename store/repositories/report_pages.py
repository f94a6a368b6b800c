"""Rendered report pages (:class:`store.models.ReportPage`): a report's page
for one renderer version, and keeping a newly rendered one."""

from __future__ import annotations

import hashlib

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from store.models import ReportPage
from store.types import utcnow


def page_etag(html: str) -> str:
    """The page's entity tag: the SHA-256 of its UTF-8 bytes, in hex."""
    return hashlib.sha256(html.encode()).hexdigest()


def cached_page(session: Session, report_id: int, renderer: str) -> ReportPage | None:
    """The report's page as ``renderer`` rendered it, or None (never
    rendered, or by another renderer version). Its ``html`` loads on first
    access, so reading only the ETag costs no page transfer."""
    page = session.get(ReportPage, report_id)
    return page if page is not None and page.renderer == renderer else None


def keep_page(session: Session, report_id: int, renderer: str, html: str) -> ReportPage:
    """Keep ``html`` as the report's page for ``renderer`` in one statement
    (an upsert: two requests keeping the same page at once do not collide),
    replacing a page of another renderer version; not committed. Returns
    the kept page, detached from ``session``."""
    values = {
        "report_id": report_id,
        "renderer": renderer,
        "etag": page_etag(html),
        "html": html,
        "created_at": utcnow(),
    }
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    statement = insert(ReportPage).values(values)
    replace = {name: statement.excluded[name] for name in values if name != "report_id"}
    session.execute(statement.on_conflict_do_update(index_elements=["report_id"], set_=replace))
    return ReportPage(**values)

"""A county's to-do list (待办): what the caller's counties must do, soonest due first, as JSON, CSV or Excel."""

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from contracts.payloads.verification import Urgency
from exchange.config import Settings
from exchange.domain.clock import utcnow
from exchange.domain.worklist import Kind, LiveStatus
from exchange.entrypoints.http.auth import counties_for
from exchange.entrypoints.http.deps import NodeDep, ReadingPrincipal, WorklistDep
from exchange.entrypoints.http.document import PARAMETERS, PERMITTED, problems
from exchange.entrypoints.http.exports import TABLES, XLSX, Format, render
from exchange.entrypoints.http.models import WorklistPage
from exchange.service.worklist import CURSOR_PATTERN

#: The columns of the list as a table, in order (headings in exchange/entrypoints/http/exports.py).
COLUMNS = ["kind", "status", "due_at", "message_id", "record_id", "message_type", "sender", "receiver", "received_at",
           "next_step", "href"]


def table(answer: dict[str, Any]) -> dict[str, Any]:
    """A page as the rows of a table: kind and status in both languages, the next step as one text."""
    return {"as_of": answer["as_of"], "items": [
        {**item, "kind": item["kind_label"], "status": item["status_label"],
         "next_step": f"{item['next']['zh']} {item['next']['en']}",
         "href": f"{item['next']['method']} {item['next']['href']}"} for item in answer["items"]]}


def format_asked(request: Request, format_: Format | None) -> Format:
    """`format` if given, else what the Accept header prefers of CSV and Excel, else JSON."""
    if format_ is not None:
        return format_
    accept = request.headers.get("accept", "")
    return "xlsx" if XLSX in accept else "csv" if "text/csv" in accept else "json"


def router(settings: Settings) -> APIRouter:
    """The route; `settings` bounds a page (MPX_PAGE_MAX, in the document)."""
    api = APIRouter(tags=["deadlines"])

    @api.get("/v1/worklist", response_model=WorklistPage,
             responses={**TABLES, **problems(PERMITTED, PARAMETERS, 400)})
    async def get_worklist(
        request: Request,
        node: NodeDep,
        worklist: WorklistDep,
        principal: ReadingPrincipal,
        county: Annotated[str | None, Query(description="Only this served county.")] = None,
        kind: Annotated[Kind | None, Query(description="Only this kind: feedback 反馈, clarification 补充说明, "
                                                       "verification 协查, roster_registration 清查差异(户籍地), "
                                                       "roster_residence 清查差异(现居住地).")] = None,
        status: Annotated[LiveStatus | None, Query(description="Only this status: on_time 未到期, due_today 今日到期, "
                                                               "overdue 已逾期, waiting 等待补充说明.")] = None,
        urgency: Annotated[Urgency | None, Query(description="Only verification requests of this urgency: urgent 紧急, "
                                                             "expedited 急, certificate_check 证明核验.")] = None,
        cursor: Annotated[str | None, Query(pattern=CURSOR_PATTERN,
                                            description="next_cursor of the previous page.")] = None,
        limit: Annotated[int, Query(ge=1, le=settings.page_max)] = 100,
        format: Annotated[Format | None, Query(  # noqa: A002
            description="csv or xlsx: the page as a table (or ask with Accept: text/csv or the Excel type).")] = None,
    ) -> Response | dict[str, Any]:
        """待办: what the caller's counties must do, soonest due first, with the live status (computed now, Asia/Shanghai)
        and the next step. Ids and codes only, never a personal field."""
        counties = counties_for(principal, node.settings.served, county)
        answer = await worklist.page(counties=counties, kind=kind, status=status, urgency=urgency, cursor=cursor,
                                     limit=limit, now=utcnow())
        fmt = format_asked(request, format)
        return answer if fmt == "json" else render(table(answer), fmt, "worklist", COLUMNS)

    return api

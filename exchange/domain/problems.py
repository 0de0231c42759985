"""RFC 9457 problem details, in Chinese and English.

Every refusal the node gives is a `Problem`: a stable machine-readable `type`
(``urn:mpx:problem:<code>``), the HTTP status, and the title and detail in both
languages (``title``/``detail`` in English, ``title_zh``/``detail_zh`` in Chinese).
Field errors list where and why, never the submitted value, so no personal data
is echoed back or logged.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from contracts import ERROR_MESSAGES

PROBLEM_JSON = "application/problem+json"

# code -> (status, title_zh, title_en)
CATALOGUE: dict[str, tuple[int, str, str]] = {
    "malformed_json": (400, "请求体不是合法的 JSON", "Request body is not valid JSON"),
    "validation_failed": (422, "报文未通过校验", "The message failed validation"),
    "unknown_message_type": (422, "未知的报文类型", "Unknown message type"),
    "unknown_schema_version": (422, "未知的报文版本", "Unknown payload schema version"),
    "sender_not_served": (403, "发送地不是本节点服务的县区", "The sender county is not served by this node"),
    "county_not_served": (403, "该县区不由本节点服务", "That county is not served by this node"),
    "forbidden": (403, "无权执行该操作", "Not allowed"),
    "unauthenticated": (401, "需要有效的身份凭证", "A valid API key or token is required"),
    "csrf_failed": (403, "表单已失效或并非来自本站，请刷新页面后重试", "The form has expired or did not come from this site: reload the page and try again"),
    "not_your_county": (403, "无权代表该县区", "Not allowed to act for that county"),
    "province_not_monitored": (403, "本监测节点不覆盖该省份", "This monitor does not oversee that province"),
    "key_not_found": (404, "没有该密钥", "No such API key"),
    "rate_limited": (429, "请求过于频繁", "Too many requests"),
    "unknown_region": (422, "不是有效的行政区划代码", "Not a GB/T 2260 region code"),
    "region_not_found": (404, "没有该行政区划", "No such region (GB/T 2260)"),
    "month_not_begun": (422, "该月尚未开始，没有月度通报", "The month has not begun: there is no bulletin for it"),
    "invalid_agreement": (422, "协作协议无效", "Invalid cooperation agreement"),
    "no_agreement_key": (409, "本节点不能签署协作协议", "This node cannot sign agreements"),
    "message_not_found": (404, "报文不存在", "No such message"),
    "not_answerable": (409, "该报文不能反馈", "This message cannot be answered"),
    "record_withdrawn": (409, "该报文已被发送方撤回，不能反馈", "The record was withdrawn by its sender: it cannot be answered"),
    "duplicate_message_id": (409, "报文编号已用于不同内容", "The message id was already used for different content"),
    "already_answered": (409, "该报文已被反馈，不能撤回", "The record has been answered and can no longer be withdrawn"),
    "not_withdrawable": (409, "只能撤回本县区发出的业务报文", "Only a record the county sent itself can be withdrawn"),
    "deadline_passed": (409, "反馈期限已过，不能请求补充说明", "The feedback deadline has passed: clarification can no longer be asked"),
    "not_clarifiable": (409, "只能对本县区收到且尚待反馈的业务报文请求补充说明", "Clarification can be asked only about a record the county received and still owes feedback on"),
    "clarification_pending": (409, "已请求补充说明，尚待答复", "A clarification request about this record awaits its answer"),
    "not_a_clarification_request": (409, "该报文不是本县区收到的补充说明请求", "The message is not a clarification request the county received"),
    "already_clarified": (409, "该补充说明请求已答复", "The clarification request has been answered already"),
    "not_a_verification_request": (409, "该报文不是本县区收到的协查请求", "The message is not a verification request the county received"),
    "step_out_of_order": (409, "协查步骤顺序不符：应依次为配对、核实、协查反馈，每步一次", "The verification step is out of order: matched, verified, answered, each once"),
    "request_withdrawn": (409, "该协查请求已被发起方撤回", "The verification request was withdrawn by its sender"),
    "month_not_closed": (409, "该月尚未到清查截止日，不能清查", "The month is not closed yet: its roster check cannot run before the cut-off day"),
    "sender_required": (409, "多个发送地使用了该报文编号，请指明发送地", "Several senders used this message id: name the sender"),
    "payload_too_large": (413, "请求体过大", "Request body too large"),
    "batch_too_large": (413, "批量报文数量超过上限", "Too many messages in one batch"),
    "unsupported_media_type": (415, "只接受 JSON", "Only application/json is accepted"),
    "invalid_cursor": (400, "分页游标无效", "Invalid pagination cursor"),
    "not_found": (404, "资源不存在", "Not found"),
    "method_not_allowed": (405, "不支持该方法", "Method not allowed"),
    "bad_request": (400, "请求无效", "Bad request"),
    "replay_rejected": (422, "隔离记录重新处理后仍被拒绝", "The quarantined record was rejected again"),
    "service_unavailable": (503, "服务暂不可用", "Service temporarily unavailable"),
    "internal_error": (500, "内部错误", "Internal error"),
}

# Chinese for pydantic's own error types; custom contract codes come from contracts.ERROR_MESSAGES.
_PYDANTIC_ZH = {
    "missing": "缺少必填字段",
    "extra_forbidden": "不允许的字段",
    "string_type": "应为字符串",
    "string_too_short": "字符串过短",
    "string_too_long": "字符串过长",
    "string_pattern_mismatch": "格式不正确",
    "int_type": "应为整数",
    "int_parsing": "应为整数",
    "bool_type": "应为布尔值",
    "bool_parsing": "应为布尔值",
    "float_parsing": "应为数字",
    "date_type": "应为日期",
    "date_parsing": "日期格式不正确",
    "date_from_datetime_parsing": "日期格式不正确",
    "datetime_type": "应为日期时间",
    "datetime_parsing": "日期时间格式不正确",
    "enum": "取值不在允许范围内",
    "literal_error": "取值不在允许范围内",
    "greater_than_equal": "数值过小",
    "less_than_equal": "数值过大",
    "greater_than": "数值过小",
    "less_than": "数值过大",
    "model_type": "应为对象",
    "dict_type": "应为对象",
    "list_type": "应为数组",
    "too_short": "元素过少",
    "too_long": "元素过多",
    "value_error": "取值无效",
    "uuid_parsing": "编号格式不正确",
    "json_invalid": "不是合法的 JSON",
}


@dataclass
class Problem(Exception):
    """A refusal; raising it anywhere in a request rolls the request back."""

    code: str
    detail_en: str = ""
    detail_zh: str = ""
    errors: list[dict[str, Any]] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)
    #: Extension members of the problem (RFC 9457 section 3.2), e.g. the senders to choose from.
    extensions: dict[str, Any] = field(default_factory=dict)

    @property
    def status(self) -> int:
        return CATALOGUE[self.code][0]

    def body(self, instance: str | None = None) -> dict[str, Any]:
        status, title_zh, title_en = CATALOGUE[self.code]
        body: dict[str, Any] = {
            "type": f"urn:mpx:problem:{self.code}",
            "title": title_en,
            "title_zh": title_zh,
            "status": status,
            "detail": self.detail_en or title_en,
            "detail_zh": self.detail_zh or title_zh,
        }
        if instance:
            body["instance"] = instance
        if self.errors:
            body["errors"] = self.errors
        return {**self.extensions, **body}


def message_zh(code: str) -> str:
    """The Chinese of an error code: a contract's own, else pydantic's."""
    return ERROR_MESSAGES.get(code, (_PYDANTIC_ZH.get(code, "取值无效"), ""))[0]


def field_errors(exc: ValidationError, prefix: tuple[str | int, ...] = ()) -> list[dict[str, Any]]:
    """Pydantic errors as problem entries: location, code, both languages; the input value is dropped."""
    out = []
    for err in exc.errors(include_input=False, include_url=False):
        code = err["type"]
        zh, en = ERROR_MESSAGES.get(code, (_PYDANTIC_ZH.get(code, "取值无效"), err["msg"]))
        out.append(
            {
                "field": "/".join(str(part) for part in (*prefix, *err["loc"])),
                "code": code,
                "message": en,
                "message_zh": zh,
            }
        )
    return out


def validation_problem(exc: ValidationError, prefix: tuple[str | int, ...] = ()) -> Problem:
    return Problem("validation_failed", errors=field_errors(exc, prefix))

"""Error codes of the contracts, in Chinese and English.

Every check the contracts add on top of pydantic's own raises a stable
snake_case code, so that the node can turn it into an RFC 9457 problem body
in both languages and clients can branch on it. Messages never include the
offending value: inputs are personal data (ID numbers, names).
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError
from pydantic_core import PydanticCustomError

#: code -> (Chinese text, English text)
ERROR_MESSAGES: dict[str, tuple[str, str]] = {
    # message type and version
    "unknown_message_type": ("未知的消息类型", "Unknown message type"),
    "unknown_schema_version": (
        "该消息类型没有此数据结构版本",
        "Unknown payload schema version for this message type",
    ),
    # identity card number (GB 11643)
    "invalid_id_format": (
        "公民身份号码格式错误：应为18位，前17位为数字，末位为数字或X",
        "Invalid resident ID number format: 18 characters, 17 digits then a digit or X",
    ),
    "invalid_id_checksum": (
        "公民身份号码校验码错误",
        "Resident ID number check character is wrong",
    ),
    "invalid_id_birth_date": (
        "公民身份号码中的出生日期无效",
        "The birth date inside the resident ID number is not a valid past date",
    ),
    "unknown_id_region": (
        "公民身份号码前6位不是有效的行政区划代码",
        "The first 6 digits of the resident ID number are not a real region code",
    ),
    "id_birth_date_mismatch": (
        "出生日期与公民身份号码中的出生日期不一致",
        "Birth date does not match the birth date in the resident ID number",
    ),
    "id_sex_mismatch": (
        "性别与公民身份号码第17位不一致（奇数为男，偶数为女）",
        "Sex does not match the 17th digit of the resident ID number (odd = male, even = female)",
    ),
    # region codes (GB/T 2260)
    "unknown_region_code": (
        "不是有效的行政区划代码（GB/T 2260，6位数字）",
        "Not a real administrative division code (GB/T 2260, 6 digits)",
    ),
    "not_a_county_code": (
        "不是县级行政区划代码",
        "Not a county-level administrative division code",
    ),
    # dates
    "date_in_future": ("日期不能晚于今天（北京时间）", "Date is in the future (China Standard Time)"),
    "date_before_birth": ("日期早于本人出生日期", "Date is before the person's birth date"),
    "child_birth_before_parent": (
        "婴儿出生日期必须晚于父母的出生日期",
        "The child's birth date must be after the parents' birth dates",
    ),
    "next_check_before_check": (
        "下次孕检日期不能早于本次孕检日期",
        "Next check due date is before the check date",
    ),
    # people and roles
    "sex_role_mismatch": (
        "性别与身份不符（孕检对象和母亲应为女性，父亲应为男性）",
        "Sex does not fit the role (pregnancy check subject and mother female, father male)",
    ),
    "spouse_not_allowed": (
        "未婚、离婚或丧偶者不应填写配偶",
        "A spouse is not allowed for an unmarried, divorced or widowed person",
    ),
    "same_person": (
        "两个人员的公民身份号码相同",
        "Two people in the record have the same resident ID number",
    ),
    # documents
    "certificate_incomplete": (
        "婚育证明编号与发证日期须同时填写或同时不填",
        "Certificate number and issue date must be given together or not at all",
    ),
    # pregnancy check
    "gestational_weeks_required": ("孕检结果为怀孕时须填写孕周", "Gestational weeks are required when pregnant"),
    "gestational_weeks_forbidden": (
        "孕检结果不是怀孕时不应填写孕周",
        "Gestational weeks are only allowed when pregnant",
    ),
    # verification (协查)
    "duplicate_subject": ("协查事项重复", "A verification subject is listed twice"),
    "certificate_number_required": (
        "协查事项包含婚育证明时须填写证明编号",
        "The certificate number is required when the certificate is to be verified",
    ),
    "step_fields": (
        "协查进展的字段与步骤不符：配对填 found，核实填 method，协查反馈填 result 和 findings",
        "A verification step carries its own fields only: matched found, verified method, answered result and "
        "findings",
    ),
    # feedback
    "feedback_reason_required": (
        "反馈状态为查无此人、已再流动或退回时须填写原因",
        "A reason is required when the status is not_found, moved_on or rejected",
    ),
    "new_region_required": (
        "反馈状态为已再流动时须填写新的流入地",
        "The new region is required when the status is moved_on",
    ),
    "new_region_forbidden": (
        "只有反馈状态为已再流动时才可填写新的流入地",
        "The new region is only allowed when the status is moved_on",
    ),
    "roster_part_beyond_parts": ("清查名单的部分序号不能大于部分总数", "The roster's part is beyond its number of parts"),
    "roster_new_region_forbidden": (
        "只有清查结果为已离开时才可填写去向",
        "The new region is only allowed when the finding is left",
    ),
    # envelope
    "sender_equals_receiver": ("发送地与接收地不能相同", "Sender and receiver region must differ"),
    "inreplyto_required": (
        "反馈和送达回执必须注明所答复的消息编号",
        "inreplyto is required for feedback and delivery receipts",
    ),
    "inreplyto_forbidden": (
        "只有反馈和送达回执可以注明所答复的消息编号",
        "inreplyto is only allowed for feedback and delivery receipts",
    ),
    "inreplyto_self": ("消息不能答复自身", "A message cannot reply to itself"),
    "dataschema_mismatch": (
        "dataschema 与消息类型和版本不一致",
        "dataschema does not match the message type and schema version",
    ),
    # reconciliation
    "digest_part_out_of_range": (
        "对账摘要的分片序号或数量超出范围",
        "Digest part number or count is out of range",
    ),
    "digest_inconsistent": (
        "对账摘要的编号列表与数量或摘要值不一致（或有重复）",
        "Digest ids do not match their count or SHA-256 (or repeat)",
    ),
    "receipt_ids_repeated": ("批量送达回执中有重复的消息编号", "Delivery receipts name a record more than once"),
}

#: Chinese texts for pydantic's own error types that bad input commonly hits,
#: so that every error can be shown in both languages.
PYDANTIC_MESSAGES_ZH: dict[str, str] = {
    "missing": "缺少必填字段",
    "extra_forbidden": "不允许的字段",
    "string_type": "应为字符串",
    "string_too_short": "字符串过短",
    "string_too_long": "字符串过长",
    "string_pattern_mismatch": "字符串格式不符合要求",
    "int_type": "应为整数",
    "int_parsing": "应为整数",
    "int_from_float": "应为整数",
    "bool_type": "应为布尔值",
    "bool_parsing": "应为布尔值",
    "greater_than": "数值过小",
    "greater_than_equal": "数值过小",
    "less_than": "数值过大",
    "less_than_equal": "数值过大",
    "enum": "不是允许的取值",
    "literal_error": "不是允许的取值",
    "date_type": "应为日期",
    "date_parsing": "日期格式错误，应为 YYYY-MM-DD",
    "date_from_datetime_parsing": "日期格式错误，应为 YYYY-MM-DD",
    "date_from_datetime_inexact": "日期不应包含时间",
    "datetime_type": "应为日期时间",
    "datetime_parsing": "日期时间格式错误，应为 ISO 8601",
    "datetime_from_date_parsing": "日期时间格式错误，应为 ISO 8601",
    "timezone_aware": "日期时间必须带时区",
    "model_type": "应为对象",
    "model_attributes_type": "应为对象",
    "dict_type": "应为对象",
    "list_type": "应为数组",
}


def custom_error(code: str) -> PydanticCustomError:
    """Build the pydantic error for one of our codes (English message, Chinese in ctx)."""
    zh, en = ERROR_MESSAGES[code]
    return PydanticCustomError(code, en, {"message_zh": zh})


def describe_errors(exc: ValidationError) -> list[dict[str, Any]]:
    """Bilingual, input-free error list for problem bodies: code, loc, message_en, message_zh."""
    out: list[dict[str, Any]] = []
    for err in exc.errors(include_input=False, include_url=False, include_context=False):
        code = err["type"]
        zh = ERROR_MESSAGES[code][0] if code in ERROR_MESSAGES else PYDANTIC_MESSAGES_ZH.get(code, "数据校验失败")
        out.append({"code": code, "loc": list(err["loc"]), "message_en": err["msg"], "message_zh": zh})
    return out


class ContractError(ValueError):
    """A message that no contract describes; carries a stable code and both languages."""

    code: str = "contract_error"

    def __init__(self) -> None:
        self.message_zh, self.message_en = ERROR_MESSAGES[self.code]
        super().__init__(self.message_en)


class UnknownMessageType(ContractError):
    """The type is not one of the exchange's message types."""

    code = "unknown_message_type"


class UnknownSchemaVersion(ContractError):
    """The message type exists but not in this payload schema version."""

    code = "unknown_schema_version"

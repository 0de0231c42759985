"""The exchange's message types and their CloudEvents ``type`` strings."""

from __future__ import annotations

from enum import StrEnum

from contracts.errors import UnknownMessageType

CE_TYPE_PREFIX = "cn.mpx."


class MessageType(StrEnum):
    """What a message says; the value is also the payload schema's name."""

    OUTFLOW_REGISTRATION = "outflow_registration"  # 外出登记: registration county -> residence county
    PREGNANCY_CHECK = "pregnancy_check"  # 孕检: residence -> registration
    BIRTH = "birth"  # 出生: residence -> registration
    RETURN_CANCELLATION = "return_cancellation"  # 返回注销: registration -> former residence
    FEEDBACK = "feedback"  # 反馈: receiver of a record -> its sender
    DELIVERY_RECEIPT = "delivery_receipt"  # 送达回执: node -> node, automatic on storing (nodes before 批量回执)
    DELIVERY_RECEIPTS = "delivery_receipts"  # 批量送达回执: node -> node, the records of one sender stored in a batch
    RECONCILIATION_DIGEST = "reconciliation_digest"  # 对账摘要: node -> node, what a county sent a peer that day
    RESEND_REQUEST = "resend_request"  # 补发请求: node -> node, ids a digest listed that the receiver lacks
    WITHDRAWAL = "withdrawal"  # 撤回: sender of a record -> its receiver, until it is answered
    CLARIFICATION_REQUEST = "clarification_request"  # 请求补充说明: receiver of a record -> its sender, before the deadline
    CLARIFICATION = "clarification"  # 补充说明: sender of a record -> its receiver, answering a clarification request
    VERIFICATION_REQUEST = "verification_request"  # 协查请求: a county -> another, to verify a person's situation
    VERIFICATION_STEP = "verification_step"  # 协查进展: receiver of a verification request -> its sender, each step
    ROSTER = "roster"  # 清查名单: registration county -> residence county, monthly, made by the node
    ROSTER_ANSWER = "roster_answer"  # 清查反馈: residence county -> registration county, answering a roster at once


#: Types that refer to another message and so must carry ``inreplyto``: an answer (feedback, receipt, a
#: clarification request about a record, a clarification answering a request, a step of a verification request, a
#: roster answer) to a message its receiver sent its sender, or a withdrawal of a record its sender sent its receiver.
REPLY_TYPES = frozenset({MessageType.FEEDBACK, MessageType.DELIVERY_RECEIPT, MessageType.WITHDRAWAL,
                         MessageType.CLARIFICATION_REQUEST, MessageType.CLARIFICATION,
                         MessageType.VERIFICATION_STEP, MessageType.ROSTER_ANSWER})

#: Of those, the types a record's own sender sends about it: ``inreplyto`` names a record the sender sent the
#: receiver (not one the receiver sent).
SENDER_REPLY_TYPES = frozenset({MessageType.WITHDRAWAL})

#: Machine-to-machine types: nodes make them, no local system posts or reads them; no personal data.
CONTROL_TYPES = frozenset({MessageType.DELIVERY_RECEIPT, MessageType.DELIVERY_RECEIPTS,
                           MessageType.RECONCILIATION_DIGEST, MessageType.RESEND_REQUEST})

#: What acknowledges that a record was stored: a receipt per record (nodes before batch receipts) or per batch.
RECEIPT_TYPES = frozenset({MessageType.DELIVERY_RECEIPT, MessageType.DELIVERY_RECEIPTS})

#: The monthly roster check (定期清查): the roster and its answer (a reply). Nodes compose them, no local system
#: posts them, and neither opens a feedback obligation (the answer is made on receipt).
ROSTER_TYPES = frozenset({MessageType.ROSTER, MessageType.ROSTER_ANSWER})

#: Types that open an obligation at the receiver (records about a person): each may be withdrawn by its sender
#: and clarified by its receiver.
RECORD_TYPES = frozenset(MessageType) - REPLY_TYPES - CONTROL_TYPES - ROSTER_TYPES

#: Of those, the ones a request rather than a report: answered by its own reply (a verification request by its
#: ``answered`` step), never with feedback, and assessed at the monitor apart from the reports' timeliness.
REQUEST_TYPES = frozenset({MessageType.VERIFICATION_REQUEST})

#: The records answered with feedback (外出登记, 孕检, 出生, 返回注销): the monitor's timeliness figures.
FEEDBACK_TYPES = RECORD_TYPES - REQUEST_TYPES


def ce_type(message_type: MessageType) -> str:
    """CloudEvents ``type`` attribute for a message type, e.g. ``cn.mpx.birth``."""
    return CE_TYPE_PREFIX + MessageType(message_type).value


def message_type_of(value: str) -> MessageType:
    """Message type of a CloudEvents ``type`` string; raises UnknownMessageType."""
    if isinstance(value, str) and value.startswith(CE_TYPE_PREFIX):
        try:
            return MessageType(value[len(CE_TYPE_PREFIX) :])
        except ValueError:
            pass
    raise UnknownMessageType()


def as_message_type(value: MessageType | str) -> MessageType:
    """Accept a MessageType, its value (``birth``) or its CloudEvents type (``cn.mpx.birth``)."""
    if isinstance(value, MessageType):
        return value
    if isinstance(value, str):
        if value.startswith(CE_TYPE_PREFIX):
            return message_type_of(value)
        try:
            return MessageType(value)
        except ValueError:
            pass
    raise UnknownMessageType()

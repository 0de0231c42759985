"""The exchange standard: message envelope, payload models, schemas, compatibility.

Pure: imports nothing from ``exchange`` or ``adapters`` and does no network I/O;
its only data are its own schema files and python-stdnum's region table.
"""

from contracts.clock import CHINA_TZ, now_in_china, today_in_china
from contracts.dates import EventDate, EventTime
from contracts.envelope import Envelope, dataschema_for, source_for
from contracts.errors import (
    ERROR_MESSAGES,
    ContractError,
    UnknownMessageType,
    UnknownSchemaVersion,
    describe_errors,
)
from contracts.ethnicity import Ethnicity
from contracts.identity import ResidentIdNumber, Sex, id_birth_date, id_sex, normalize_id_number
from contracts.message_types import (
    CONTROL_TYPES,
    FEEDBACK_TYPES,
    RECORD_TYPES,
    REPLY_TYPES,
    REQUEST_TYPES,
    ROSTER_TYPES,
    SENDER_REPLY_TYPES,
    MessageType,
    as_message_type,
    ce_type,
    message_type_of,
)
from contracts.payloads import (
    Birth,
    Child,
    ContraceptionMethod,
    DeliveryReceipt,
    Feedback,
    FeedbackStatus,
    MaritalStatus,
    OutflowReason,
    OutflowRegistration,
    Person,
    PersonRef,
    PolicyReviewResult,
    PregnancyCheck,
    PregnancyCheckResult,
    ReconciliationDigest,
    ResendRequest,
    ReturnCancellation,
    ReturnReason,
)
from contracts.regions import CountyCode, RegionCode, is_county, is_region, region_name
from contracts.registry import CURRENT_VERSIONS, PAYLOAD_MODELS, SCHEMA_VERSIONS, payload_model, validate_payload

__all__ = [
    "CHINA_TZ",
    "CONTROL_TYPES",
    "CURRENT_VERSIONS",
    "ERROR_MESSAGES",
    "PAYLOAD_MODELS",
    "FEEDBACK_TYPES",
    "RECORD_TYPES",
    "REPLY_TYPES",
    "REQUEST_TYPES",
    "ROSTER_TYPES",
    "SCHEMA_VERSIONS",
    "SENDER_REPLY_TYPES",
    "Birth",
    "Child",
    "ContraceptionMethod",
    "ContractError",
    "CountyCode",
    "DeliveryReceipt",
    "Envelope",
    "Ethnicity",
    "EventDate",
    "EventTime",
    "Feedback",
    "FeedbackStatus",
    "MaritalStatus",
    "MessageType",
    "OutflowReason",
    "OutflowRegistration",
    "Person",
    "PersonRef",
    "PolicyReviewResult",
    "PregnancyCheck",
    "PregnancyCheckResult",
    "ReconciliationDigest",
    "RegionCode",
    "ResendRequest",
    "ResidentIdNumber",
    "ReturnCancellation",
    "ReturnReason",
    "Sex",
    "UnknownMessageType",
    "UnknownSchemaVersion",
    "as_message_type",
    "ce_type",
    "dataschema_for",
    "describe_errors",
    "id_birth_date",
    "id_sex",
    "is_county",
    "is_region",
    "message_type_of",
    "normalize_id_number",
    "now_in_china",
    "payload_model",
    "region_name",
    "source_for",
    "today_in_china",
    "validate_payload",
]

"""Payload models of each message type, one module per type and version."""

from contracts.payloads.birth import Birth, Child, PolicyReviewResult
from contracts.payloads.clarification import Clarification, ClarificationReason, ClarificationRequest
from contracts.payloads.common import ContraceptionMethod, Person, PersonRef
from contracts.payloads.delivery_receipt import ChainHead, DeliveryReceipt, DeliveryReceipt11
from contracts.payloads.delivery_receipts import DeliveryReceipts
from contracts.payloads.feedback import Feedback, FeedbackStatus
from contracts.payloads.outflow_registration import MaritalStatus, OutflowReason, OutflowRegistration
from contracts.payloads.pregnancy_check import PregnancyCheck, PregnancyCheckResult
from contracts.payloads.reconciliation import (
    MAX_IDS,
    ReconciliationDigest,
    ReconciliationDigest11,
    ResendRequest,
    ids_sha256,
)
from contracts.payloads.return_cancellation import ReturnCancellation, ReturnReason
from contracts.payloads.roster import Roster, RosterAnswer, RosterAnswerEntry, RosterEntry, RosterFinding
from contracts.payloads.verification import (
    Urgency,
    VerificationMethod,
    VerificationRequest,
    VerificationResult,
    VerificationStep,
    VerificationSubject,
)
from contracts.payloads.withdrawal import Withdrawal, WithdrawalReason

__all__ = [
    "MAX_IDS",
    "Birth",
    "ChainHead",
    "Child",
    "ContraceptionMethod",
    "DeliveryReceipt",
    "DeliveryReceipt11",
    "DeliveryReceipts",
    "Feedback",
    "FeedbackStatus",
    "MaritalStatus",
    "OutflowReason",
    "OutflowRegistration",
    "Person",
    "PersonRef",
    "PolicyReviewResult",
    "PregnancyCheck",
    "PregnancyCheckResult",
    "ReconciliationDigest",
    "ReconciliationDigest11",
    "ResendRequest",
    "ReturnCancellation",
    "ReturnReason",
    "Roster",
    "RosterAnswer",
    "RosterAnswerEntry",
    "RosterEntry",
    "RosterFinding",
    "Withdrawal",
    "Clarification",
    "ClarificationReason",
    "ClarificationRequest",
    "Urgency",
    "VerificationMethod",
    "VerificationRequest",
    "VerificationResult",
    "VerificationStep",
    "VerificationSubject",
    "WithdrawalReason",
    "ids_sha256",
]

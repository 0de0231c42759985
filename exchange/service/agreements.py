"""Publishing a cooperation agreement (区域协作协议) to the federation: checked by the domain's rules, signed with this
node's agreements key, taken into its own book, and queued for the agreements topic in one unit of work."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from exchange.adapters.crypto.signed_agreements import AgreementKeys, AgreementRefused
from exchange.domain import Agreement, AgreementBook, AgreementError
from exchange.domain.events import AgreementAnnounced
from exchange.domain.problems import Problem
from exchange.service.unit_of_work import UnitOfWorkFactory


class AgreementPublisher:
    def __init__(self, uow: UnitOfWorkFactory, book: AgreementBook, keys: AgreementKeys,
                 wake_relay: Callable[[], None]):
        self.uow = uow
        self.book = book
        self.keys = keys
        self.wake_relay = wake_relay

    async def publish(self, posted: dict[str, Any]) -> Agreement:
        """A new agreement, or a new version of one; refused (422, 409) as the domain's rules say."""
        try:
            agreement = Agreement.from_dict(posted)
            signed = self.keys.sign(agreement)  # refused unless this node holds an agreements key
            self.book.add(agreement)
        except AgreementError as exc:
            raise Problem("invalid_agreement", str(exc), "协作协议无效：" + str(exc)) from None
        except AgreementRefused:
            raise Problem("no_agreement_key", "this node has no agreements signing key (MPX_AGREEMENT_SIGNING_KEY)",
                          "本节点未配置协作协议签名密钥（MPX_AGREEMENT_SIGNING_KEY）") from None
        async with self.uow() as uow:
            uow.record(AgreementAnnounced(agreement.id, agreement.version, signed))
        self.wake_relay()
        return agreement

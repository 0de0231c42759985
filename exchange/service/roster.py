"""The monthly roster check (定期清查) at a node: the registration county's roster run, the residence county's answer
on receipt, the discrepancies both sides keep, and the return cancellations that resolve them.

The rules (which month may run, who is on a roster, what each finding is, what to do next) are the domain's
(exchange/domain/roster.py); this service applies them to what the unit of work keeps (``uow.rosters``) and sends
the roster and its answer as the node's own messages: sealed, signed, kept and recorded as any other.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any, Protocol

import orjson

from contracts import Envelope, MessageType
from contracts.payloads.roster import MAX_ENTRIES, RosterFinding
from exchange.adapters.crypto.trust import Trust
from exchange.config import Settings
from exchange.domain.clock import today_in_china, utcnow
from exchange.domain.commands import MessageIn
from exchange.domain.events import RosterAnswered
from exchange.domain.message import Outgoing
from exchange.domain.principals import Principal
from exchange.domain.problems import Problem
from exchange.domain.returns import person_key
from exchange.domain.roster import (
    REGISTRATION,
    RESIDENCE,
    Cancelled,
    Registered,
    Return,
    counts,
    cutoff,
    finding,
    in_parts,
    is_closed,
    latest_closed,
    match_rate,
    next_step,
    roster_answer_id,
    roster_id,
    rosters,
)
from exchange.service.unit_of_work import UnitOfWork, UnitOfWorkFactory

log = logging.getLogger(__name__)

#: What a county sees of a roster it sent or answered.
_KEPT = ("side", "month", "registration_county", "residence_county", "roster_id", "part", "parts", "entries",
         "sent_at", "answered_at", "still_here", "left", "never_arrived", "unknown")
#: The counts of an answer, by finding.
FINDINGS = tuple(f.value for f in RosterFinding)


class Compose(Protocol):
    """Checks, keeps and sends a message the node makes (exchange.service.sending.Outbound.compose)."""

    async def __call__(self, uow: UnitOfWork, item: MessageIn, principal: Principal | None, now: datetime,
                       admit: bool = True) -> Outgoing: ...


class Rosters:
    """The roster check of one node's counties, on both sides."""

    def __init__(self, settings: Settings, uow: UnitOfWorkFactory, compose: Compose, trust: Trust,
                 wake_relay: Callable[[], None]):
        self.settings = settings
        self.uow = uow
        self.compose = compose
        self.trust = trust  # opens the payloads sealed at rest
        self.wake_relay = wake_relay

    async def run(self, month: str) -> dict[str, Any]:
        """Send each residence county the roster of `month` from this node's counties: the persons of their outflow
        registrations there, less those a return cancellation cancelled or they withdrew (in parts of at most
        MAX_ENTRIES). Once per month and pair (the roster's id is derived from them): a pair sent already is listed
        apart and sent nothing. Refused (409 month_not_closed), sending nothing, before the month's cut-off day."""
        day = self.settings.roster_cutoff_day
        if not is_closed(month, today_in_china(), day):
            opens = cutoff(month, day).isoformat()
            raise Problem("month_not_closed", f"the roster of {month} may run from {opens}",
                          f"{month} 的清查自 {opens} 起方可进行")
        now = utcnow()
        sent, already = [], []
        async with self.uow() as uow:
            registrations, cancellations = self._sent_records(await uow.rosters.sent_registrations(
                self.settings.served))
            for (registration, residence), entries in sorted(rosters(registrations, cancellations).items()):
                parts = in_parts(entries, MAX_ENTRIES)
                pair = {"roster_id": roster_id(registration, residence, month), "registration_county": registration,
                        "residence_county": residence, "entries": len(entries), "parts": len(parts)}
                if await uow.messages.sent_hashes([(registration, pair["roster_id"])]):
                    already.append(pair)
                    continue
                for number, part in enumerate(parts, 1):
                    rid = roster_id(registration, residence, month, number)
                    await self.compose(uow, MessageIn(
                        id=rid, type=MessageType.ROSTER.value, sender=registration, receiver=residence,
                        data={"month": month, "part": number, "parts": len(parts), "entries": part}), None, now)
                    await uow.rosters.keep({
                        "side": REGISTRATION, "registration_county": registration, "roster_id": rid, "month": month,
                        "residence_county": residence, "part": number, "parts": len(parts), "entries": len(part),
                        "sent_at": now, "answered_at": None, **dict.fromkeys(FINDINGS)})
                sent.append(pair)
        if uow.published:
            self.wake_relay()
        log.info("roster run for %s: %d sent, %d sent before", month, len(sent), len(already))
        return {"month": month, "sent": sent, "already_sent": already}

    def _sent_records(self, rows: Iterable[Any]) -> tuple[list[Registered], list[Cancelled]]:
        registrations: list[Registered] = []
        cancellations: list[Cancelled] = []
        for row in rows:
            data = orjson.loads(self.trust.open_payload(row.payload, row.id))
            if row.type == MessageType.OUTFLOW_REGISTRATION:
                registrations.append(Registered(row.sender, row.receiver, row.id, data["person"]))
            else:
                cancellations.append(Cancelled(row.sender, row.receiver, data.get("outflow_message_id"),
                                               data["person"]["id_number"], len(registrations)))
        return registrations, cancellations

    async def run_periodically(self) -> None:
        """Forever (unless MPX_ROSTER_INTERVAL_SECONDS is 0), once an interval has passed and then every interval:
        the newest closed month's rosters (`run_due`). Not at start: a node restarted often sends nothing more."""
        if not self.settings.roster_interval_seconds:
            return
        while True:
            await asyncio.sleep(self.settings.roster_interval_seconds)
            await self.run_due()

    async def run_due(self) -> dict[str, Any] | None:
        """The newest closed month's rosters not sent yet (None if the run failed: it is tried again next time)."""
        try:
            return await self.run(latest_closed(today_in_china(), self.settings.roster_cutoff_day))
        except Exception as exc:  # noqa: BLE001 - try again next round
            log.warning("roster run failed: %s", type(exc).__name__)
            return None

    async def answer(self, uow: UnitOfWork, roster: Envelope, data: dict[str, Any], now: datetime) -> None:
        """A roster received (residence side): answered at once, in this unit of work, one finding per entry from
        what this county holds of each registration; the discrepancies kept, the counts sent to the monitor."""
        registration, residence = roster.senderregion, roster.receiverregion
        answer_id = roster_answer_id(residence, roster.id)
        if await uow.messages.sent_hashes([(residence, answer_id)]):
            return  # answered before (the roster came again after its inbox row was lost)
        entries = data["entries"]
        received, cancelled, latest = await uow.rosters.holdings(
            registration, residence, [e["registration_id"] for e in entries])
        findings = []
        for entry in entries:
            rid = entry["registration_id"]
            feedback = latest.get(rid)
            opened = orjson.loads(self.trust.open_payload(feedback.payload, feedback.id)) if feedback else None
            findings.append({"registration_id": rid, **finding(rid in received, rid in cancelled, opened)})
        out = await self.compose(uow, MessageIn(
            id=answer_id, type=MessageType.ROSTER_ANSWER.value, sender=residence,
            receiver=registration, in_reply_to=roster.id, data={"month": data["month"], "entries": findings}),
            None, now, admit=False)
        await uow.messages.mark_answered(registration, residence, roster.id, now)
        persons = {e["registration_id"]: e["person"] for e in entries}
        await self._discrepancies(uow, RESIDENCE, roster.id, data["month"], registration, residence, findings,
                                  persons, now)
        kept = {"month": data["month"], "registration_county": registration, "residence_county": residence,
                "roster_id": roster.id, "part": data["part"], "parts": data["parts"],
                **counts(f["finding"] for f in findings)}
        await uow.rosters.keep({**kept, "side": RESIDENCE, "sent_at": now, "answered_at": now})
        uow.record(RosterAnswered(residence, roster.id, {**kept, "answered_at": now.isoformat()}))
        log.info("roster %s answered by %s", out.id, residence)

    async def answered(self, uow: UnitOfWork, answer: Envelope, data: dict[str, Any], now: datetime) -> None:
        """The answer to a roster this county sent (registration side): its discrepancies kept, about the
        registrations the roster listed only, under the roster's month."""
        registration, residence = answer.receiverregion, answer.senderregion
        roster = await uow.rosters.sent_roster(registration, residence, answer.inreplyto or "")
        if roster is None:  # the counterpart check lets only answers to a roster sent through
            return
        sent = orjson.loads(self.trust.open_payload(roster.payload, roster.id))
        persons = {e["registration_id"]: e["person"] for e in sent["entries"]}
        findings = [f for f in data["entries"] if f["registration_id"] in persons]
        await self._discrepancies(uow, REGISTRATION, roster.id, sent["month"], registration, residence, findings,
                                  persons, now)
        tally = counts(f["finding"] for f in findings)
        await uow.rosters.answered(registration, roster.id, {f: tally[f] for f in FINDINGS} | {"answered_at": now})

    async def _discrepancies(self, uow: UnitOfWork, side: str, rid: str, month: str, registration: str,
                             residence: str, findings: list[dict[str, Any]], persons: dict[str, dict[str, Any]],
                             now: datetime) -> None:
        await uow.rosters.add_discrepancies([
            {"month": month, "side": side, "registration_county": registration,
             "registration_id": f["registration_id"], "residence_county": residence, "roster_id": rid,
             "finding": f["finding"], "new_region": f.get("new_region"),
             "person_key": person_key(self.settings.person_secret, {"person": persons[f["registration_id"]]}),
             "found_at": now}
            for f in findings if f["finding"] != "still_here"])

    async def view(self, month: str, counties: Iterable[str]) -> dict[str, Any]:
        """GET /v1/roster: the rosters of `month` that `counties` sent or answered, with their counts, and each
        side's discrepancies with what to do next; ids and codes, never a personal field."""
        async with self.uow() as uow:
            kept = await uow.rosters.kept(counties, month)
            found = await uow.rosters.discrepancies(counties, month)
        return {"month": month,
                "rosters": [{**{f: getattr(row, f) for f in _KEPT}, "match_rate": _rate(row)} for row in kept],
                "discrepancies": [discrepancy_view(row) for row in found]}


async def resolve_returns(uow: UnitOfWork, side: str, returns: Iterable[tuple[Envelope, dict[str, Any]]],
                          secret: bytes, now: datetime) -> None:
    """Return cancellations sent (registration side) or received (residence side) resolve the open discrepancies
    about the registration they name, or their person's."""
    named = [Return(env.senderregion, env.receiverregion, data.get("outflow_message_id"), person_key(secret, data),
                    env.id) for env, data in returns]
    if named:
        await uow.rosters.resolve_many(side, named, now)


def discrepancy_view(row: Any) -> dict[str, Any]:
    """A discrepancy as its county sees it (the to-do list's item too): ids, codes, and what to do next."""
    zh, en = next_step(row.side, row.finding)
    return {"month": row.month, "side": row.side, "registration_county": row.registration_county,
            "residence_county": row.residence_county, "registration_id": row.registration_id,
            "roster_id": row.roster_id, "finding": row.finding, "new_region": row.new_region,
            "next_step": zh, "next_step_en": en, "found_at": row.found_at, "resolved_at": row.resolved_at,
            "resolved_by": row.resolved_by}



def _rate(row: Any) -> float | None:
    return match_rate(row.still_here, row.entries) if row.answered_at is not None else None

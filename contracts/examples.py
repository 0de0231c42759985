"""Realistic, valid example payloads for tests, demos and the traffic simulator.

People come from three counties of the seeds: 621227 徽县 (Gansu),
542526 改则县 (Ngari, Tibet) and 330203 海曙区 (Ningbo). Names and ID numbers
vary with ``seed``; ID numbers get a correct check character from stdnum and
dates are relative to today in China, so every example is valid on any day.
All values are fictitious.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta
from typing import Any

from contracts.clock import CHINA_TZ, now_in_china, today_in_china
from contracts.envelope import dataschema_for, source_for
from contracts.identity import Sex, check_character
from contracts.message_types import REPLY_TYPES, MessageType, ce_type
from contracts.regions import region_name

HUI_COUNTY, GERZE, HAISHU = "621227", "542526", "330203"
REGIONS: tuple[str, ...] = (HUI_COUNTY, GERZE, HAISHU)

#: Hui County was renumbered in 2004 (622630 -> 621227); people born before keep the old code in their ID.
_OLD_ID_PREFIX: dict[str, tuple[str, int]] = {HUI_COUNTY: ("622630", 2004)}

_TOWNS = {
    HUI_COUNTY: ("城关镇", "伏家镇", "江洛镇", "柳林镇", "嘉陵镇", "永宁镇", "银杏树镇", "水阳镇"),
    GERZE: ("改则镇", "物玛乡", "先遣乡", "麻米乡"),
    HAISHU: ("鼓楼街道", "南门街道", "西门街道", "月湖街道", "白云街道", "段塘街道", "石碶街道", "古林镇"),
}
_SURNAMES = "王李张刘陈杨赵黄周吴徐孙马朱胡郭何罗"
_HAN_GIVEN = {
    Sex.FEMALE: ("秀英", "丽娟", "春梅", "海燕", "玉兰", "小芳", "晓红", "彩霞", "桂花", "丽萍", "雪梅"),
    Sex.MALE: ("建军", "志强", "永刚", "海涛", "卫东", "国平", "小龙", "文斌", "建华", "明亮", "宏伟"),
}
_TIBETAN_FIRST = ("次仁", "格桑", "索朗", "达瓦", "尼玛", "边巴", "旦增", "扎西", "普布")
_TIBETAN_SECOND = {
    Sex.FEMALE: ("卓玛", "央金", "拉姆", "曲珍", "德吉", "白珍", "措姆"),
    Sex.MALE: ("多吉", "顿珠", "平措", "罗布", "欧珠", "旺堆", "次仁"),
}
_NS = uuid.UUID("6f1f4a52-3c0e-4c47-9a55-2d8f1f4b7a10")


def example_id_number(region: str, birth_date: date, seq: int, sex: str) -> str:
    """A valid 18-character ID number: ``seq`` (0-498) picks the order code, odd for men."""
    if not 0 <= seq <= 498:
        raise ValueError("seq must be between 0 and 498")
    order = 2 * seq + (1 if Sex(sex) is Sex.MALE else 2)
    first17 = f"{region}{birth_date:%Y%m%d}{order:03d}"
    return first17 + check_character(first17)


def full_region_name(code: str) -> str:
    """Province + prefecture + county names, e.g. 甘肃省陇南市徽县."""
    parts = [region_name(code[:2] + "0000"), region_name(code[:4] + "00"), region_name(code)]
    return "".join(p for p in parts if p)


def _name(region: str, sex: Sex, seed: int) -> str:
    if region == GERZE:
        return (
            _TIBETAN_FIRST[seed % len(_TIBETAN_FIRST)] + _TIBETAN_SECOND[sex][(seed // 3) % len(_TIBETAN_SECOND[sex])]
        )
    given = _HAN_GIVEN[sex]
    return _SURNAMES[seed % len(_SURNAMES)] + given[(seed // len(_SURNAMES) + seed) % len(given)]


def _address(region: str, seed: int) -> str:
    towns = _TOWNS[region]
    return f"{full_region_name(region)}{towns[seed % len(towns)]}{'东西南北'[seed % 4]}街{seed % 97 + 1}号"


def _institution(region: str, kind: str) -> str:
    return f"{region_name(region)}{kind}"


def example_person(region: str, *, seed: int = 0, sex: str = Sex.FEMALE, age: int | None = None) -> dict[str, Any]:
    """A person registered in ``region``, aged 22-39 unless ``age`` is given."""
    sex = Sex(sex)
    today = today_in_china()
    years = age if age is not None else 22 + seed % 18
    born = date(today.year - years, 1 + seed % 12, 1 + (seed * 7) % 28)
    id_region = region
    if region in _OLD_ID_PREFIX and born.year < _OLD_ID_PREFIX[region][1]:
        id_region = _OLD_ID_PREFIX[region][0]
    person: dict[str, Any] = {
        "name": _name(region, sex, seed),
        "id_number": example_id_number(id_region, born, seed % 499, sex),
        "sex": sex.value,
        "birth_date": born.isoformat(),
        "ethnicity": "zang" if region == GERZE else "han",
        "registration_region": region,
        "registration_address": _address(region, seed),
        "phone": f"1{3 + seed % 7}{(seed * 7919 + 12345) % 10**9:09d}",
    }
    return person


def example_route(message_type: MessageType, *, seed: int = 0) -> tuple[str, str]:
    """(sender, receiver) county codes that fit ``example_payload`` for the same seed."""
    registration, residence = REGIONS[seed % 3], REGIONS[(seed + 1) % 3]
    if MessageType(message_type) in (MessageType.OUTFLOW_REGISTRATION, MessageType.RETURN_CANCELLATION,
                                     MessageType.WITHDRAWAL, MessageType.CLARIFICATION,
                                     MessageType.VERIFICATION_REQUEST, MessageType.ROSTER):
        return registration, residence
    return residence, registration


def _routes(seed: int, registration: str | None, residence: str | None) -> tuple[str, str]:
    reg = registration or REGIONS[seed % 3]
    res = residence or next(r for r in (REGIONS[(seed + 1) % 3], *REGIONS) if r != reg)
    return reg, res


def _days_ago(days: int) -> date:
    return today_in_china() - timedelta(days=days)


def outflow_registration_example(
    seed: int = 0, *, registration_region: str | None = None, residence_region: str | None = None
) -> dict[str, Any]:
    """A married woman (or, every fourth seed, an unmarried man) leaving for work."""
    reg, res = _routes(seed, registration_region, residence_region)
    outflow = _days_ago(20 + seed % 200)
    if seed % 4 == 3:
        return {
            "person": example_person(reg, seed=seed, sex=Sex.MALE, age=19 + seed % 6),
            "marital_status": "unmarried",
            "children_count": 0,
            "outflow_date": outflow.isoformat(),
            "destination_region": res,
            "reason": "work",
            "contraception_method": "none",
            "contract_signed": False,
        }
    issued = outflow - timedelta(days=7 + seed % 20)
    return {
        "person": example_person(reg, seed=seed, sex=Sex.FEMALE),
        "marital_status": "remarried" if seed % 10 == 9 else "first_marriage",
        "children_count": seed % 3,
        "spouse": {
            "name": _name(reg, Sex.MALE, seed + 1),
            "id_number": example_person(reg, seed=seed + 1, sex=Sex.MALE, age=24 + seed % 18)["id_number"],
        },
        "certificate_number": f"{reg}{issued.year}{seed % 100000:05d}",
        "certificate_issue_date": issued.isoformat(),
        "outflow_date": outflow.isoformat(),
        "destination_region": res,
        "destination_address": _address(res, seed + 5),
        "reason": ("work", "business", "family", "study")[seed % 4],
        "contraception_method": ("iud", "condom", "sterilization_female", "implant", "pill")[seed % 5],
        "contract_signed": seed % 5 != 4,
        "remarks": "夫妻同行外出务工" if seed % 2 == 0 else None,
    }


def pregnancy_check_example(
    seed: int = 0, *, registration_region: str | None = None, residence_region: str | None = None
) -> dict[str, Any]:
    """A check of a woman from the registration county, done in the residence county."""
    reg, res = _routes(seed, registration_region, residence_region)
    checked = _days_ago(1 + seed % 30)
    result = ("not_pregnant", "pregnant", "not_pregnant", "uncertain")[seed % 4]
    return {
        "person": example_person(reg, seed=seed, sex=Sex.FEMALE),
        "check_date": checked.isoformat(),
        "institution": _institution(res, "妇幼保健计划生育服务中心"),
        "check_region": res,
        "result": result,
        "gestational_weeks": 6 + seed % 30 if result == "pregnant" else None,
        "contraception_method": "none" if result == "pregnant" else ("iud", "implant", "condom")[seed % 3],
        "certificate_number": f"YJ{res}{checked.year}{seed % 10000:04d}",
        "next_check_due": (checked + timedelta(days=90)).isoformat(),
        "remarks": None,
    }


def birth_example(
    seed: int = 0, *, registration_region: str | None = None, residence_region: str | None = None
) -> dict[str, Any]:
    """A birth in the residence county to parents registered in the registration county."""
    reg, res = _routes(seed, registration_region, residence_region)
    born = _days_ago(1 + seed % 20)
    order = 1 + seed % 2
    return {
        "mother": example_person(reg, seed=seed, sex=Sex.FEMALE),
        "father": example_person(reg, seed=seed + 1, sex=Sex.MALE, age=24 + seed % 18),
        "child": {
            "sex": ("female", "male")[seed % 2],
            "name": None,
            "birth_date": born.isoformat(),
            "birth_weight_grams": 2600 + (seed * 37) % 1400,
            "birth_order": order,
        },
        "birth_region": res,
        "institution": _institution(res, "人民医院"),
        "birth_certificate_number": f"{'MNOPQRST'[seed % 8]}{(seed * 104729 + 620000001) % 10**9:09d}",
        "policy_review": ("compliant", "compliant", "pending_review", "non_compliant")[seed % 4],
        "remarks": None,
    }


def return_cancellation_example(
    seed: int = 0, *, registration_region: str | None = None, residence_region: str | None = None
) -> dict[str, Any]:
    """A person who came home (typically around the Spring Festival)."""
    reg, res = _routes(seed, registration_region, residence_region)
    return {
        "person": example_person(reg, seed=seed, sex=(Sex.FEMALE, Sex.MALE)[seed % 2]),
        "return_date": _days_ago(seed % 20).isoformat(),
        "former_residence_region": res,
        "reason": ("returned_home", "returned_home", "moved_on", "other")[seed % 4],
        "outflow_message_id": str(uuid.uuid5(_NS, f"outflow_registration:{seed}")),
        "remarks": "春节返乡" if seed % 2 == 0 else None,
    }


_FEEDBACK_REASONS = {
    "not_found": "经入户核查，现居住地查无此人",
    "moved_on": "本人已于上月再流动",
    "rejected": "婚育证明编号与档案不符，请核实后重新提交",
}


def feedback_example(seed: int = 0, *, status: str | None = None, sender: str | None = None) -> dict[str, Any]:
    """An answer to a record (by ``sender``, the county answering); the status cycles through all five with the seed."""
    status = status or ("received", "confirmed", "not_found", "moved_on", "rejected")[seed % 5]
    sender, receiver = sender or REGIONS[(seed + 1) % 3], REGIONS[seed % 3]
    return {
        "status": status,
        "reason": _FEEDBACK_REASONS.get(status),
        "new_region": REGIONS[(seed + 2) % 3] if status == "moved_on" else None,
        "handled_by": f"{region_name(sender)}卫生健康局流动人口服务管理股",
        "handled_on": today_in_china().isoformat(),
        "remarks": None,
    } | ({"remarks": f"已转{region_name(receiver)}"} if status == "confirmed" and seed % 2 else {})


def clarification_request_example(seed: int = 0, *, reason: str | None = None) -> dict[str, Any]:
    """A receiver's request for clarification; the reason cycles through all five with the seed."""
    reason = reason or ("missing_field", "contradictory", "person_not_found", "unreadable", "other")[seed % 5]
    return {"reason": reason, "question": "请补充现居住地详细地址"}


def clarification_example(seed: int = 0) -> dict[str, Any]:
    """The sender's answer to a clarification request."""
    return {"answer": "现居住地为海曙区某街道，详细地址已核实"}


def verification_request_example(seed: int = 0, *, urgency: str | None = None,
                                 registration_region: str | None = None) -> dict[str, Any]:
    """A registration county asks the residence county to verify a woman's pregnancy (urgent), her marital and
    childbearing status (expedited) or her 婚育证明 (a certificate check), cycling with the seed."""
    reg = registration_region or REGIONS[seed % 3]
    urgency = urgency or ("urgent", "expedited", "certificate_check")[seed % 3]
    subjects = {"urgent": ["pregnancy", "residence"], "expedited": ["marital_childbearing"],
                "certificate_check": ["certificate"]}[urgency]
    return {
        "person": example_person(reg, seed=seed, sex=Sex.FEMALE, age=24 + seed % 12),
        "subjects": subjects,
        "urgency": urgency,
        "question": "请核实该人员现居住地及孕情",
    } | ({"certificate_number": f"婚育证明{320000 + seed:06d}号"} if "certificate" in subjects else {})


def verification_step_example(seed: int = 0, *, step: str | None = None) -> dict[str, Any]:
    """A step the residence county took on a verification request; the step cycles with the seed."""
    step = step or ("matched", "verified", "answered")[seed % 3]
    return {"matched": {"step": "matched", "found": True},
            "verified": {"step": "verified", "method": "visit"},
            "answered": {"step": "answered", "result": "confirmed", "findings": "经入户核实，该人员现居住于本辖区，孕情属实"},
            }[step]


def roster_example(seed: int = 0, *, registration_region: str | None = None,
                   residence_region: str | None = None) -> dict[str, Any]:
    """A registration county's monthly roster: two persons it believes live in the residence county."""
    reg, _ = _routes(seed, registration_region, residence_region)
    return {"month": "2026-11", "entries": [
        {"registration_id": str(uuid.uuid5(_NS, f"outflow_registration:{seed + i}")),
         "person": example_person(reg, seed=seed + i, sex=(Sex.FEMALE, Sex.MALE)[(seed + i) % 2])}
        for i in range(2)]}


def roster_answer_example(seed: int = 0) -> dict[str, Any]:
    """The residence county's answer to a roster: one still here, one left (for another county)."""
    return {"month": "2026-11", "entries": [
        {"registration_id": str(uuid.uuid5(_NS, f"outflow_registration:{seed}")), "finding": "still_here"},
        {"registration_id": str(uuid.uuid5(_NS, f"outflow_registration:{seed + 1}")), "finding": "left",
         "new_region": REGIONS[(seed + 2) % 3]}]}


def withdrawal_example(seed: int = 0, *, reason: str | None = None) -> dict[str, Any]:
    """A record withdrawn by its sender; the reason cycles through all five with the seed."""
    reason = reason or ("sent_in_error", "wrong_receiver", "wrong_person", "duplicate", "other")[seed % 5]
    return {"reason": reason} | ({"remarks": "系统重复推送"} if reason == "duplicate" else {})


def delivery_receipt_example(seed: int = 0) -> dict[str, Any]:
    """The automatic receipt a node sends once it stored a record."""
    receiver = REGIONS[(seed + 1) % 3]
    received = now_in_china().replace(microsecond=0) - timedelta(seconds=seed % 3600)
    return {"received_at": received.isoformat(), "receiver_node_id": f"node-{receiver}"}


def delivery_receipts_example(seed: int = 0) -> dict[str, Any]:
    """The receipt a node sends for the records of one sender it stored in one batch (1 to 3 of them)."""
    ids = [example_message_id(MessageType.OUTFLOW_REGISTRATION, seed * 10 + n) for n in range(1 + seed % 3)]
    return {**delivery_receipt_example(seed), "ids": ids}


def reconciliation_digest_example(seed: int = 0) -> dict[str, Any]:
    """Yesterday's digest: a few record ids, in one part."""
    from contracts.payloads.reconciliation import ids_sha256

    ids = sorted(example_message_id(MessageType.OUTFLOW_REGISTRATION, seed * 10 + n) for n in range(1 + seed % 4))
    return {
        "day": (today_in_china() - timedelta(days=1)).isoformat(),
        "until": datetime.combine(today_in_china(), datetime.min.time(), CHINA_TZ).isoformat(),
        "total": len(ids),
        "part": 1,
        "parts": 1,
        "count": len(ids),
        "sha256": ids_sha256(ids),
        "ids": ids,
    }


def resend_request_example(seed: int = 0) -> dict[str, Any]:
    """The receiver lacks one id of a digest."""
    return {
        "digest_id": example_message_id(MessageType.RECONCILIATION_DIGEST, seed),
        "day": (today_in_china() - timedelta(days=1)).isoformat(),
        "ids": [example_message_id(MessageType.OUTFLOW_REGISTRATION, seed * 10)],
    }


def example_payload(
    message_type: MessageType | str,
    *,
    seed: int = 0,
    registration_region: str | None = None,
    residence_region: str | None = None,
) -> dict[str, Any]:
    """A valid JSON-able payload (v1.0) of ``message_type``, different for each seed.

    ``registration_region``/``residence_region`` override the counties (for
    record types); by default they follow ``example_route`` for the seed.
    """
    mt = MessageType(message_type)
    regions = {"registration_region": registration_region, "residence_region": residence_region}
    match mt:
        case MessageType.OUTFLOW_REGISTRATION:
            return outflow_registration_example(seed, **regions)
        case MessageType.PREGNANCY_CHECK:
            return pregnancy_check_example(seed, **regions)
        case MessageType.BIRTH:
            return birth_example(seed, **regions)
        case MessageType.RETURN_CANCELLATION:
            return return_cancellation_example(seed, **regions)
        case MessageType.FEEDBACK:
            return feedback_example(seed)
        case MessageType.DELIVERY_RECEIPT:
            return delivery_receipt_example(seed)
        case MessageType.DELIVERY_RECEIPTS:
            return delivery_receipts_example(seed)
        case MessageType.RECONCILIATION_DIGEST:
            return reconciliation_digest_example(seed)
        case MessageType.RESEND_REQUEST:
            return resend_request_example(seed)
        case MessageType.WITHDRAWAL:
            return withdrawal_example(seed)
        case MessageType.CLARIFICATION_REQUEST:
            return clarification_request_example(seed)
        case MessageType.CLARIFICATION:
            return clarification_example(seed)
        case MessageType.VERIFICATION_REQUEST:
            return verification_request_example(seed, registration_region=registration_region)
        case MessageType.VERIFICATION_STEP:
            return verification_step_example(seed)
        case MessageType.ROSTER:
            return roster_example(seed, **regions)
        case MessageType.ROSTER_ANSWER:
            return roster_answer_example(seed)


def example_message_id(message_type: MessageType | str, seed: int = 0) -> str:
    """A deterministic message id for an example (UUID 5 of type and seed)."""
    return str(uuid.uuid5(_NS, f"{MessageType(message_type).value}:{seed}"))


def example_envelope(message_type: MessageType | str, *, seed: int = 0, inreplyto: str | None = None) -> dict[str, Any]:
    """A valid JSON-able envelope matching ``example_payload`` for the same seed."""
    mt = MessageType(message_type)
    sender, receiver = example_route(mt, seed=seed)
    if mt in REPLY_TYPES and inreplyto is None:
        inreplyto = example_message_id(MessageType.OUTFLOW_REGISTRATION, seed)
    return {
        "specversion": "1.0",
        "id": example_message_id(mt, seed),
        "source": source_for(sender),
        "type": ce_type(mt),
        "schemaversion": "1.0",
        "time": now_in_china().replace(microsecond=0).isoformat(),
        "dataschema": dataschema_for(mt, "1.0"),
        "datacontenttype": "application/json",
        "senderregion": sender,
        "receiverregion": receiver,
        "inreplyto": inreplyto if mt in REPLY_TYPES else None,
        "agreementid": None,
    }

"""Scenarios of the exchange standard: what a county office may send, and what it may not."""

from __future__ import annotations

import ast
import json
import re
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import TypeAdapter, ValidationError
from stdnum.cn import ric

import contracts
from contracts import (
    ERROR_MESSAGES,
    SCHEMA_VERSIONS,
    ContractError,
    CountyCode,
    Envelope,
    FeedbackStatus,
    MessageType,
    RegionCode,
    UnknownMessageType,
    UnknownSchemaVersion,
    ce_type,
    describe_errors,
    is_county,
    message_type_of,
    payload_model,
    region_name,
    validate_payload,
)
from contracts.dates import today_in_china
from contracts.examples import example_envelope, example_id_number, example_payload, example_person

CONTRACTS_DIR = Path(contracts.__file__).parent


def codes(exc: ValidationError) -> set[str]:
    return {e["type"] for e in exc.errors()}


def rejected(message_type: str, data: dict[str, Any]) -> set[str]:
    """Error codes for an invalid payload (fails the test if it is accepted)."""
    with pytest.raises(ValidationError) as info:
        validate_payload(message_type, "1.0", data)
    return codes(info.value)


def outflow(seed: int = 0) -> dict[str, Any]:
    return example_payload(MessageType.OUTFLOW_REGISTRATION, seed=seed)


def with_id(person: dict[str, Any], first17: str) -> dict[str, Any]:
    """The person with a (correctly checksummed) ID number built from 17 digits."""
    return {**person, "id_number": first17 + ric.calc_check_digit(first17 + "0")}


# -- valid records -------------------------------------------------------------


@pytest.mark.parametrize("message_type", list(MessageType))
@pytest.mark.parametrize("seed", range(8))
def test_every_example_record_is_valid(message_type: MessageType, seed: int) -> None:
    payload = example_payload(message_type, seed=seed)
    json.dumps(payload)  # JSON-able as is
    model = validate_payload(message_type, "1.0", payload)
    assert isinstance(model, payload_model(message_type, "1.0"))
    envelope = Envelope.model_validate(example_envelope(message_type, seed=seed))
    assert envelope.message_type is message_type


def test_examples_vary_with_the_seed_and_use_the_three_counties() -> None:
    people = [example_payload(MessageType.PREGNANCY_CHECK, seed=s)["person"] for s in range(30)]
    assert len({p["id_number"] for p in people}) == 30
    assert len({p["name"] for p in people}) > 10
    assert {p["registration_region"] for p in people} == {"621227", "542526", "330203"}


def test_example_id_numbers_are_valid_and_carry_sex_in_the_17th_digit() -> None:
    man = example_id_number("542526", date(1988, 4, 12), 7, "male")
    woman = example_id_number("330203", date(1995, 12, 31), 7, "female")
    assert ric.is_valid(man) and ric.is_valid(woman)
    assert man.startswith("54252619880412") and int(man[16]) % 2 == 1
    assert woman.startswith("33020319951231") and int(woman[16]) % 2 == 0


def test_a_lower_case_x_check_character_is_normalised() -> None:
    for seq in range(499):
        number = example_id_number("621227", date(2005, 6, 1), seq, "female")
        if number.endswith("X"):
            break
    person = {**example_person("621227"), "id_number": number.lower(), "birth_date": "2005-06-01"}
    record = validate_payload(
        MessageType.PREGNANCY_CHECK, "1.0", {**example_payload("pregnancy_check"), "person": person}
    )
    assert record.person.id_number == number  # type: ignore[attr-defined]


def test_a_record_round_trips_through_json() -> None:
    record = validate_payload("birth", "1.0", example_payload("birth", seed=2))
    again = validate_payload("birth", "1.0", json.loads(record.model_dump_json()))
    assert again == record


# -- identity numbers ------------------------------------------------------------


def test_a_wrong_check_character_is_rejected() -> None:
    data = outflow()
    number = data["person"]["id_number"]
    data["person"]["id_number"] = number[:-1] + ("0" if number[-1] != "0" else "1")
    assert rejected("outflow_registration", data) == {"invalid_id_checksum"}


@pytest.mark.parametrize(
    "bad", ["62122719900101002", "6212271990010100221", "62122719900101002A", "abcdefghijklmnopqr"]
)
def test_a_malformed_id_number_is_rejected(bad: str) -> None:
    data = outflow()
    data["person"]["id_number"] = bad
    assert rejected("outflow_registration", data) == {"invalid_id_format"}


def test_an_impossible_birth_date_inside_the_id_is_rejected() -> None:
    data = outflow()
    data["person"] = with_id(data["person"], "62122719900230002")  # 30 February
    assert "invalid_id_birth_date" in rejected("outflow_registration", data)


def test_an_id_number_from_an_unknown_region_is_rejected() -> None:
    data = outflow()
    data["person"] = with_id(data["person"], "99999919900101002")
    assert "unknown_id_region" in rejected("outflow_registration", data)


def test_an_old_region_code_inside_an_id_number_is_valid() -> None:
    # Hui County was 622630 from 1985 to 2004; a woman born in 1980 got her number with it.
    # (stdnum itself insists the code existed in the birth year and would refuse her.)
    born = date(1980, 3, 8)
    number = example_id_number("622630", born, 12, "female")
    assert not ric.is_valid(number)
    data = outflow()
    data["person"].update(id_number=number, birth_date=born.isoformat(), registration_region="621227")
    record = validate_payload("outflow_registration", "1.0", data)
    assert record.person.id_number.startswith("622630")  # type: ignore[attr-defined]
    assert region_name("622630") == "徽县"


def test_the_birth_date_must_equal_the_one_inside_the_id_number() -> None:
    data = outflow()
    data["person"]["birth_date"] = "1990-01-02"
    assert rejected("outflow_registration", data) == {"id_birth_date_mismatch"}


def test_the_sex_must_agree_with_the_17th_digit() -> None:
    data = outflow()
    data["person"]["sex"] = "male"  # the example is a woman: even 17th digit
    assert rejected("outflow_registration", data) == {"id_sex_mismatch"}


# -- region codes ----------------------------------------------------------------


def test_region_codes_are_real_gbt2260_codes_current_or_historical() -> None:
    regions, counties = TypeAdapter(RegionCode), TypeAdapter(CountyCode)
    assert regions.validate_python("620000") == "620000"  # Gansu, a province
    assert regions.validate_python("621200") == "621200"  # Longnan, a prefecture
    assert counties.validate_python("621227") == "621227"  # Hui County
    assert counties.validate_python("110103") == "110103"  # Chongwen District, merged away in 2010
    for code, expected in [
        ("999999", "unknown_region_code"),
        ("629999", "unknown_region_code"),
        ("62122", "unknown_region_code"),
    ]:
        with pytest.raises(ValidationError) as info:
            regions.validate_python(code)
        assert codes(info.value) == {expected}
    with pytest.raises(ValidationError) as info:
        counties.validate_python("620000")
    assert codes(info.value) == {"not_a_county_code"}


def test_region_names_and_levels() -> None:
    assert region_name("621227") == "徽县"
    assert region_name("542526") == "改则县"
    assert region_name("330203") == "海曙区"
    assert region_name("120110") == "东丽区" and region_name("120110", year=1990) == "东郊区"
    assert region_name("999999") is None
    assert is_county("542526") and not is_county("620000") and not is_county("621200")
    assert not is_county("620101")  # 市辖区, a statistical placeholder


def test_a_destination_that_is_a_province_is_rejected() -> None:
    data = outflow()
    data["destination_region"] = "620000"
    assert rejected("outflow_registration", data) == {"not_a_county_code"}


# -- dates -------------------------------------------------------------------------


def test_an_outflow_dated_tomorrow_is_rejected() -> None:
    data = outflow()
    data["outflow_date"] = (today_in_china() + timedelta(days=1)).isoformat()
    assert rejected("outflow_registration", data) == {"date_in_future"}


def test_today_in_china_is_accepted() -> None:
    data = example_payload("feedback")
    data["handled_on"] = today_in_china().isoformat()
    validate_payload("feedback", "1.0", data)


def test_a_next_pregnancy_check_may_be_due_in_the_future_but_not_before_this_one() -> None:
    data = example_payload("pregnancy_check")
    data["next_check_due"] = (today_in_china() + timedelta(days=60)).isoformat()
    validate_payload("pregnancy_check", "1.0", data)
    data["next_check_due"] = (date.fromisoformat(data["check_date"]) - timedelta(days=1)).isoformat()
    assert rejected("pregnancy_check", data) == {"next_check_before_check"}


def test_nobody_leaves_before_they_are_born() -> None:
    data = outflow()
    before = (date.fromisoformat(data["person"]["birth_date"]) - timedelta(days=1)).isoformat()
    data["outflow_date"] = before
    assert rejected("outflow_registration", data) == {"date_before_birth"}


def test_a_delivery_receipt_from_the_future_is_rejected() -> None:
    data = example_payload("delivery_receipt")
    data["received_at"] = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    assert rejected("delivery_receipt", data) == {"date_in_future"}
    data["received_at"] = "2024-05-01T10:00:00"  # no time zone
    assert rejected("delivery_receipt", data) == {"timezone_aware"}


# -- record rules ----------------------------------------------------------------------


def test_an_unmarried_person_has_no_spouse() -> None:
    data = outflow()
    data["marital_status"] = "unmarried"
    assert rejected("outflow_registration", data) == {"spouse_not_allowed"}


def test_a_certificate_number_comes_with_its_issue_date() -> None:
    data = outflow()
    del data["certificate_issue_date"]
    assert rejected("outflow_registration", data) == {"certificate_incomplete"}
    del data["certificate_number"]
    validate_payload("outflow_registration", "1.0", data)  # no certificate issued (yet)


def test_gestational_weeks_are_given_if_and_only_if_pregnant() -> None:
    data = example_payload("pregnancy_check", seed=1)
    assert data["result"] == "pregnant"
    del data["gestational_weeks"]
    assert rejected("pregnancy_check", data) == {"gestational_weeks_required"}
    data.update(result="not_pregnant", gestational_weeks=12)
    assert rejected("pregnancy_check", data) == {"gestational_weeks_forbidden"}


def test_pregnancy_checks_and_mothers_are_women_fathers_are_men() -> None:
    check = example_payload("pregnancy_check")
    check["person"] = example_person("621227", seed=4, sex="male")
    assert rejected("pregnancy_check", check) == {"sex_role_mismatch"}
    birth = example_payload("birth")
    birth["father"] = example_person("621227", seed=5, sex="female")
    assert rejected("birth", birth) == {"sex_role_mismatch"}


def test_a_child_is_born_after_the_mother() -> None:
    data = example_payload("birth")
    data["child"]["birth_date"] = data["mother"]["birth_date"]
    assert rejected("birth", data) == {"child_birth_before_parent"}


@pytest.mark.parametrize(
    ("field", "value"),
    [("birth_weight_grams", 200), ("birth_weight_grams", 7500), ("birth_order", 0), ("birth_order", 16)],
)
def test_implausible_birth_figures_are_rejected(field: str, value: int) -> None:
    data = example_payload("birth")
    data["child"][field] = value
    assert rejected("birth", data) <= {"greater_than_equal", "less_than_equal"}


# -- feedback ----------------------------------------------------------------------------


@pytest.mark.parametrize("status", ["not_found", "moved_on", "rejected"])
def test_negative_feedback_needs_a_reason(status: str) -> None:
    data = example_payload("feedback", seed=0) | {"status": status, "reason": None}
    data["new_region"] = "542526" if status == "moved_on" else None
    assert rejected("feedback", data) == {"feedback_reason_required"}
    data["reason"] = "   "
    assert rejected("feedback", data) == {"feedback_reason_required"}


@pytest.mark.parametrize("status", ["received", "confirmed"])
def test_positive_feedback_needs_no_reason(status: str) -> None:
    data = {"status": status, "handled_on": today_in_china().isoformat()}
    assert validate_payload("feedback", "1.0", data).reason is None  # type: ignore[attr-defined]


def test_moved_on_names_the_new_county_and_only_moved_on_does() -> None:
    data = {"status": "moved_on", "reason": "已去宁波务工", "handled_on": today_in_china().isoformat()}
    assert rejected("feedback", data) == {"new_region_required"}
    validate_payload("feedback", "1.0", data | {"new_region": "330203"})
    assert rejected("feedback", data | {"status": "confirmed", "new_region": "330203"}) == {"new_region_forbidden"}
    assert rejected("feedback", data | {"new_region": "330000"}) == {"not_a_county_code"}


def test_feedback_statuses_are_the_five_of_the_assessment() -> None:
    assert {s.value for s in FeedbackStatus} == {"received", "confirmed", "not_found", "moved_on", "rejected"}


# -- closed shapes -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("message_type", "path", "value"),
    [
        ("outflow_registration", ("marital_status",), "married"),
        ("outflow_registration", ("contraception_method",), "abstinence"),
        ("outflow_registration", ("reason",), "tourism"),
        ("outflow_registration", ("person", "sex"), "unknown"),
        ("outflow_registration", ("person", "ethnicity"), "汉族"),
        ("pregnancy_check", ("result",), "positive"),
        ("birth", ("policy_review",), "ok"),
        ("return_cancellation", ("reason",), "emigrated"),
        ("feedback", ("status",), "done"),
    ],
)
def test_closed_enums_reject_unknown_values(message_type: str, path: tuple[str, ...], value: str) -> None:
    data = example_payload(message_type)
    target = data
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    assert rejected(message_type, data) == {"enum"}


@pytest.mark.parametrize("message_type", list(MessageType))
def test_unknown_fields_are_rejected(message_type: MessageType) -> None:
    data = example_payload(message_type) | {"hukou_type": "agricultural"}
    assert rejected(message_type, data) == {"extra_forbidden"}


def test_unknown_fields_inside_a_person_are_rejected() -> None:
    data = outflow()
    data["person"]["religion"] = "none"
    assert rejected("outflow_registration", data) == {"extra_forbidden"}


# -- types and versions ----------------------------------------------------------------------


def test_message_types_and_cloudevents_types_map_both_ways() -> None:
    for mt in MessageType:
        assert ce_type(mt) == f"cn.mpx.{mt.value}"
        assert message_type_of(ce_type(mt)) is mt
    for bad in ["cn.mpx.marriage", "outflow_registration", "org.example.birth", ""]:
        with pytest.raises(UnknownMessageType):
            message_type_of(bad)


def test_every_type_has_version_1_0_and_receipts_and_digests_1_1_with_the_evidence_head() -> None:
    with_head = {MessageType.DELIVERY_RECEIPT, MessageType.RECONCILIATION_DIGEST}
    assert SCHEMA_VERSIONS == {mt: frozenset({"1.0", "1.1"} if mt in with_head else {"1.0"}) for mt in MessageType}
    receipt = {"received_at": "2026-12-04T10:00:00+08:00", "receiver_node_id": "n-330203"}
    assert validate_payload(MessageType.DELIVERY_RECEIPT, "1.0", receipt)
    head = {"seq": 41, "hash": "ab" * 32}
    assert validate_payload(MessageType.DELIVERY_RECEIPT, "1.1", {**receipt, "chain_head": head}).chain_head.seq == 41
    with pytest.raises(ValidationError):
        validate_payload(MessageType.DELIVERY_RECEIPT, "1.0", {**receipt, "chain_head": head})


def test_an_unknown_type_or_version_is_a_contract_error_with_a_code() -> None:
    with pytest.raises(UnknownMessageType) as unknown_type:
        validate_payload("marriage", "1.0", {})
    with pytest.raises(UnknownSchemaVersion) as unknown_version:
        validate_payload(MessageType.BIRTH, "2.0", example_payload("birth"))
    with pytest.raises(UnknownSchemaVersion):
        payload_model("feedback", "0.9")
    for exc, code in [(unknown_type.value, "unknown_message_type"), (unknown_version.value, "unknown_schema_version")]:
        assert isinstance(exc, ContractError) and isinstance(exc, ValueError)
        assert exc.code == code
        assert (exc.message_zh, exc.message_en) == ERROR_MESSAGES[code]


# -- envelope ------------------------------------------------------------------------------


def envelope(message_type: str = "outflow_registration", **changes: Any) -> dict[str, Any]:
    return example_envelope(message_type) | changes


def envelope_codes(data: dict[str, Any]) -> set[str]:
    with pytest.raises(ValidationError) as info:
        Envelope.model_validate(data)
    return codes(info.value)


def test_a_new_envelope_is_valid_and_knows_its_type() -> None:
    env = Envelope.for_message(MessageType.BIRTH, sender="330203", receiver="621227")
    assert env.type == "cn.mpx.birth" and env.message_type is MessageType.BIRTH
    assert env.source == "urn:mpx:county:330203" and env.dataschema == "urn:mpx:schema:birth:1.0"
    assert env.time.tzinfo is not None
    assert Envelope.model_validate(env.model_dump(mode="json")) == env


def test_envelope_attribute_names_are_valid_cloudevents_names() -> None:
    for name in Envelope.model_fields:
        assert re.fullmatch(r"[a-z0-9]{1,20}", name), name


def test_an_unknown_schema_version_in_the_envelope_is_rejected() -> None:
    assert envelope_codes(envelope(schemaversion="9.9", dataschema=None)) == {"unknown_schema_version"}


def test_an_unknown_cloudevents_type_is_rejected() -> None:
    assert "unknown_message_type" in envelope_codes(envelope(type="cn.mpx.marriage"))


def test_a_county_does_not_send_to_itself() -> None:
    data = envelope()
    assert envelope_codes(data | {"receiverregion": data["senderregion"]}) == {"sender_equals_receiver"}


def test_sender_and_receiver_are_counties() -> None:
    assert envelope_codes(envelope(senderregion="620000")) == {"not_a_county_code"}
    assert envelope_codes(envelope(receiverregion="999999")) == {"unknown_region_code"}


def test_feedback_and_receipts_must_answer_a_message_and_records_must_not() -> None:
    assert envelope_codes(envelope("feedback", inreplyto=None)) == {"inreplyto_required"}
    assert envelope_codes(envelope("delivery_receipt", inreplyto=None)) == {"inreplyto_required"}
    assert envelope_codes(envelope("birth", inreplyto="abc-1")) == {"inreplyto_forbidden"}
    data = envelope("feedback")
    assert envelope_codes(data | {"inreplyto": data["id"]}) == {"inreplyto_self"}


def test_envelope_time_must_carry_a_time_zone() -> None:
    assert envelope_codes(envelope(time="2024-05-01T10:00:00")) == {"timezone_aware"}


def test_dataschema_must_name_the_payload_schema() -> None:
    assert envelope_codes(envelope(dataschema="urn:mpx:schema:birth:1.0")) == {"dataschema_mismatch"}


@pytest.mark.parametrize("bad_id", ["", "a" * 65, "has space", "中文"])
def test_message_ids_are_header_safe(bad_id: str) -> None:
    assert envelope_codes(envelope(id=bad_id)) <= {"string_too_short", "string_too_long", "string_pattern_mismatch"}


def test_unknown_envelope_attributes_are_rejected() -> None:
    assert envelope_codes(envelope(traceparent="00-abc")) == {"extra_forbidden"}


# -- errors never carry personal data ------------------------------------------------------


def bad_records() -> list[tuple[str, dict[str, Any]]]:
    checksum = outflow(1)
    number = checksum["person"]["id_number"]
    checksum["person"]["id_number"] = number[:-1] + ("0" if number[-1] != "0" else "1")
    sex = outflow(2)
    sex["person"]["sex"] = "male"
    birth = outflow(5)
    birth["person"]["birth_date"] = "2001-01-01"
    region = outflow(6)
    region["person"]["registration_region"] = "999999"
    name = outflow(9)
    name["person"]["name"] = "王" * 51
    spouse = outflow(10)
    spouse["spouse"]["id_number"] = spouse["spouse"]["id_number"][:-1] + "Z"
    return [("outflow_registration", d) for d in (checksum, sex, birth, region, name, spouse)]


@pytest.mark.parametrize("index", range(6))
def test_error_messages_never_contain_the_id_number_or_name(index: int) -> None:
    message_type, data = bad_records()[index]
    secrets = [data["person"]["id_number"], data["person"]["name"], data["spouse"]["id_number"], data["spouse"]["name"]]
    with pytest.raises(ValidationError) as info:
        validate_payload(message_type, "1.0", data)
    exc = info.value
    texts = [
        str(exc),
        repr(exc),
        exc.json(include_input=False),
        json.dumps(exc.errors(include_input=False), ensure_ascii=False, default=str),
        json.dumps(describe_errors(exc), ensure_ascii=False),
    ]
    for text in texts:
        for secret in secrets:
            assert secret not in text


def test_described_errors_are_bilingual() -> None:
    data = outflow()
    data["person"]["sex"] = "male"
    data["extra"] = 1
    with pytest.raises(ValidationError) as info:
        validate_payload("outflow_registration", "1.0", data)
    described = describe_errors(info.value)
    assert {d["code"] for d in described} == {"id_sex_mismatch", "extra_forbidden"}
    for d in described:
        assert d["message_en"] and re.search(r"[\u4e00-\u9fff]", d["message_zh"])


def test_every_custom_error_code_has_chinese_and_english_text() -> None:
    used: set[str] = set()
    for path in CONTRACTS_DIR.rglob("*.py"):
        used |= set(re.findall(r'custom_error\("([a-z_]+)"\)', path.read_text(encoding="utf-8")))
        used |= set(re.findall(r'^\s+code = "([a-z_]+)"', path.read_text(encoding="utf-8"), flags=re.M))
    assert used and used <= set(ERROR_MESSAGES)
    for code, (zh, en) in ERROR_MESSAGES.items():
        assert re.fullmatch(r"[a-z][a-z0-9_]*", code)
        assert re.search(r"[\u4e00-\u9fff]", zh) and en.isascii() and "{" not in en


# -- purity -----------------------------------------------------------------------------------


def test_contracts_import_nothing_from_the_node_or_adapters() -> None:
    for path in CONTRACTS_DIR.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.module:
                names.append(node.module)
            for name in names:
                assert name.split(".")[0] not in {
                    "exchange",
                    "adapters",
                    "httpx",
                    "aiokafka",
                    "sqlalchemy",
                    "fastapi",
                }, path

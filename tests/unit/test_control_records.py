"""Records of the control topics on their own: agreements signed by a trusted key, key records and monitoring
events held to their contracts (a timestamp without time zone is refused, never guessed)."""

import json

import orjson
import pytest
from pydantic import ValidationError

from contracts.control import MonitoringEvent
from exchange.adapters.crypto.key_records import KeyRefused, parse
from exchange.adapters.crypto.signed_agreements import (
    AgreementKeys,
    AgreementRefused,
    load_signed_agreements,
    new_agreement_key,
)
from exchange.domain import Agreement

AGREEMENT = {"id": "zj-gs", "version": 1, "name": "浙甘协作", "parties": ["330000", "620000"],
             "effective_from": "2026-01-01", "feedback_deadlines": {"birth": 10}}


def test_an_agreement_is_believed_only_signed_by_a_trusted_key():
    signing, trusted = new_agreement_key("nhc")
    keys = AgreementKeys.parse(trusted, signing)
    record = keys.sign(Agreement.from_dict(AGREEMENT))
    assert keys.verify(record).feedback_deadlines["birth"].days == 10
    body = orjson.loads(record)
    body["agreement"]["feedback_deadlines"]["birth"] = {"days": 1, "unit": "working"}
    refusals = {
        "bad_signature": orjson.dumps(body),
        "untrusted_key": AgreementKeys.parse(new_agreement_key("rogue")[1], new_agreement_key("rogue")[0]).sign(
            Agreement.from_dict(AGREEMENT)),
        "malformed": orjson.dumps(AGREEMENT),  # unsigned
    }
    for code, raw in refusals.items():
        with pytest.raises(AgreementRefused) as refused:
            keys.verify(raw)
        assert refused.value.code == code


def test_an_agreements_file_is_signed_on_loading_or_refused(tmp_path):
    plain = tmp_path / "agreements.json"
    plain.write_text(json.dumps([AGREEMENT]), encoding="utf-8")
    signing, trusted = new_agreement_key("nhc")
    [loaded] = load_signed_agreements(plain, AgreementKeys.parse(trusted, signing))
    assert loaded.id == "zj-gs"
    with pytest.raises(AgreementRefused) as refused:  # a node without the key cannot vouch for it
        load_signed_agreements(plain, AgreementKeys.parse(trusted))
    assert refused.value.code == "no_agreement_key"
    signed = tmp_path / "signed.json"
    signed.write_text(json.dumps([orjson.loads(AgreementKeys.parse(trusted, signing).sign(loaded))]))
    assert load_signed_agreements(signed, AgreementKeys.parse(trusted))[0] == loaded  # signed elsewhere: fine


def test_control_records_with_a_naive_timestamp_are_refused_not_crashing():
    key = {"county": "621227", "key_id": "k1", "public": "A" * 43, "not_before": "2026-01-01T00:00:00"}
    with pytest.raises(KeyRefused) as refused:
        parse(orjson.dumps({"key": key, "endorsed_by": "k1", "endorsement": "A" * 86}))
    assert refused.value.code == "malformed"
    for junk in (b"[]", b"not json", orjson.dumps({"kind": "revocation"})):
        with pytest.raises(KeyRefused):
            parse(junk)
    event = {"event": "opened", "revision": 1, "message_id": "m", "message_type": "birth", "sender": "621227",
             "receiver": "330203", "agreement_id": "default", "agreement_version": 1, "calendar_id": "CN@1",
             "received_at": "2026-11-02T02:00:00", "due_at": "2026-11-09T16:00:00+00:00", "due_day": "2026-11-09",
             "provisional": False}
    with pytest.raises(ValidationError):
        MonitoringEvent.model_validate(event)
    assert MonitoringEvent.model_validate({**event, "received_at": "2026-11-02T02:00:00+00:00"}).revision == 1

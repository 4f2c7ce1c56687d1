"""The checked-in AsyncAPI document is what the event contracts generate."""

from pathlib import Path

from yui_common.events import load_all_contracts
from yui_common.events.asyncapi import build, main

REPO = Path(__file__).resolve().parents[2]


def test_asyncapi_document_is_up_to_date() -> None:
    assert main(["--check", str(REPO / "docs" / "asyncapi.json")]) == 0, "run `make docs`"


def test_every_event_contract_is_versioned_past_tense_and_documented() -> None:
    document = build()
    for event_type, model in load_all_contracts().items():
        if not model.__module__.startswith("yui_common.events."):
            continue  # a test's own event type (tests/reliability registers one)
        producer, _what, version = event_type.split(".")
        assert version.startswith("v") and version[1:].isdigit()
        assert model.model_config.get("frozen") is True
        assert model.producer == producer
        assert any(c["address"] == event_type for c in document["channels"].values())


def test_every_consumed_event_has_a_producer() -> None:
    document = build()
    sent = {op["channel"]["$ref"] for op in document["operations"].values() if op["action"] == "send"}
    received = {op["channel"]["$ref"] for op in document["operations"].values() if op["action"] == "receive"}
    assert received <= sent

"""Generates the AsyncAPI 3.0 document of Yui's events from the contracts and each service's subscriptions.

python -m yui_common.events.asyncapi            # print the document
python -m yui_common.events.asyncapi --check F  # exit 1 when F is not what would be generated
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from pathlib import Path
from typing import Any

from yui_common.events import Envelope, load_all_contracts

SERVICES = ("identity", "consent", "timeline", "portal", "notify", "federation")


def subscriptions_by_service() -> dict[str, list[Any]]:
    """Each service's consumer subscriptions, read off the worker its factory builds (imported by name)."""
    found: dict[str, list[Any]] = {}
    for service in SERVICES:
        try:
            worker_module = importlib.import_module(f"{service}.worker")
            settings_module = importlib.import_module(f"{service}.settings")
        except ImportError:
            continue
        worker = worker_module.build_worker(settings_module.Settings())
        found[service] = list(worker.subscriptions)
    return found


def build() -> dict[str, Any]:
    # The workers first: importing them registers the services' internal events too.
    subscriptions = subscriptions_by_service()
    # Only Yui's own events: the contracts between services, and a service's events to itself (its
    # ``internal_events`` module: on the same exchange, so documented, but no other service may rely on them).
    # Tests register event types of their own in the same registry.
    contracts = {
        event_type: model
        for event_type, model in load_all_contracts().items()
        if model.__module__.startswith("yui_common.events.") or model.__module__.endswith(".internal_events")
    }
    envelope_schema = Envelope.model_json_schema()
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    for event_type, model in sorted(contracts.items()):
        key = event_type.replace(".", "_").replace("-", "_")
        messages[key] = {
            "name": model.__name__,
            "title": event_type,
            "summary": (model.__doc__ or "").strip().splitlines()[0] if model.__doc__ else event_type,
            "contentType": "application/json",
            "payload": {
                "allOf": [
                    {"$ref": "#/components/schemas/Envelope"},
                    {
                        "type": "object",
                        "properties": {"type": {"const": event_type}, "data": model.model_json_schema()},
                    },
                ]
            },
        }
        internal = model.__module__.endswith(".internal_events")
        channels[key] = {
            "address": event_type,
            "description": f"Routing key {event_type} on the topic exchange yui.events"
            + (
                f" ({model.producer}'s own follow-up work: not a contract for other services)"
                if internal
                else ""
            ),
            "messages": {key: {"$ref": f"#/components/messages/{key}"}},
        }
        operations[f"{model.producer}_sends_{key}"] = {
            "action": "send",
            "channel": {"$ref": f"#/channels/{key}"},
            "summary": f"{model.producer} publishes through its transactional outbox",
        }
    for service, subs in sorted(subscriptions.items()):
        for sub in subs:
            for event_type in sorted([*sub.handlers, *sub.batch_handlers]):
                key = event_type.replace(".", "_").replace("-", "_")
                operations[f"{service}_receives_{key}"] = {
                    "action": "receive",
                    "channel": {"$ref": f"#/channels/{key}"},
                    "summary": f"{service} consumes from quorum queue {sub.queue} (DLQ {sub.queue}.dlq)",
                }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "Yui events",
            "version": "1.0.0",
            "description": "Events on the RabbitMQ topic exchange yui.events. Every event travels in the envelope; "
            "the AMQP message_id is the envelope id and the W3C traceparent rides in the headers.",
        },
        "defaultContentType": "application/json",
        "channels": channels,
        "operations": dict(sorted(operations.items())),
        "components": {"messages": messages, "schemas": {"Envelope": envelope_schema}},
    }


def render() -> str:
    return json.dumps(build(), indent=2, ensure_ascii=False, sort_keys=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", type=Path, help="compare with this file instead of printing")
    parser.add_argument("--write", type=Path, help="write the document to this file")
    args = parser.parse_args(argv)
    document = render()
    if args.check:
        if not args.check.exists() or args.check.read_text(encoding="utf-8") != document:
            print(f"{args.check} is out of date: run `make docs`", file=sys.stderr)
            return 1
        return 0
    if args.write:
        args.write.write_text(document, encoding="utf-8")
        return 0
    sys.stdout.write(document)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

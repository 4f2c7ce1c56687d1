"""A local SMTP server (aiosmtpd) keeping each message as an .eml file: make run's mailbox and the tests'."""

from __future__ import annotations

import argparse
import email
import email.policy
import socket
import threading
import time
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session


class SaveMessages:
    """aiosmtpd handler: each accepted message is written to ``directory`` and kept in ``messages``."""

    def __init__(self, directory: Path | None = None) -> None:
        self.directory = directory
        self.messages: list[EmailMessage] = []
        self.arrived = threading.Condition()
        if directory is not None:
            directory.mkdir(parents=True, exist_ok=True)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:  # noqa: N802
        raw = envelope.original_content or b""
        message = email.message_from_bytes(raw, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        if self.directory is not None:
            name = f"{time.strftime('%Y%m%d-%H%M%S')}-{len(self.messages):05d}.eml"
            (self.directory / name).write_bytes(raw)
        with self.arrived:
            self.messages.append(message)
            self.arrived.notify_all()
        return "250 Message accepted for delivery"


def start(
    *, host: str = "127.0.0.1", port: int = 0, directory: Path | None = None
) -> tuple[Controller, SaveMessages]:
    """Start the catcher in its own thread; ``port=0`` picks a free port (then read ``controller.port``)."""
    if port == 0:
        # aiosmtpd checks readiness by connecting to its configured port, so it needs a real number up front.
        with socket.socket() as probe:
            probe.bind((host, 0))
            port = probe.getsockname()[1]
    handler = SaveMessages(directory)
    controller = Controller(handler, hostname=host, port=port, ready_timeout=30)
    controller.start()
    return controller, handler


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8025)
    parser.add_argument("--directory", type=Path, default=Path(".run/mail"))
    args: Any = parser.parse_args(argv)
    controller, _ = start(host=args.host, port=args.port, directory=args.directory)
    print(
        f"mail catcher: SMTP on {args.host}:{args.port}; messages saved in {args.directory.resolve()}",
        flush=True,
    )
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        controller.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Fixtures every test in the repository can use: real infrastructure and the in-process Yui stack."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import ExitStack

import pytest
from notify import mail_catcher
from notify.settings import Settings as NotifySettings

from tests.support import infrastructure
from tests.support.stack import Stack


@pytest.fixture(scope="session")
def infra(
    tmp_path_factory: pytest.TempPathFactory, worker_id: str
) -> Iterator[infrastructure.Infrastructure]:
    with ExitStack() as stack:
        found = infrastructure.start(stack, worker_id, tmp_path_factory.mktemp("infra"))
        if found.uses_local_rabbitmq:
            # A clean virtual host: nothing left over from an earlier run reaches this one.
            infrastructure.rabbitmqctl("delete_vhost", found.amqp_vhost)
            infrastructure.ensure_vhost(found.amqp_vhost)
        infrastructure.export(found)
        yield found
        if found.uses_local_rabbitmq:
            # Leave the shared broker and server as we found them: a machine that ran many suites would
            # otherwise collect thousands of idle quorum queues and databases.
            infrastructure.rabbitmqctl("delete_vhost", found.amqp_vhost)
            infrastructure.drop_databases(found)


@pytest.fixture(scope="session")
async def stack(infra: infrastructure.Infrastructure) -> AsyncIterator[Stack]:
    """Every service's API and worker, started once for the whole session."""
    # Notify sends to a mail server of this session's own, never to whatever answers on the machine's default
    # SMTP port (make run's catcher, or a process that accepts and never replies): what another program does
    # with a connection must not decide how this session's notify worker behaves or stops. (Nothing is queued
    # to send before the port is set: the stack has no people yet.)
    mail_server, _ = mail_catcher.start()
    try:
        yui = Stack()
        try:
            await yui.start()
            notify_settings = yui["notify"].settings
            assert isinstance(notify_settings, NotifySettings)
            notify_settings.smtp_port = mail_server.port
            yield yui
        finally:
            await yui.close()
    finally:
        mail_server.stop()

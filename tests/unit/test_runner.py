"""How the runner sets up logging before Kopf starts."""

from __future__ import annotations

import logging

from astra_token_operator.runner import quiet_access_log, quiet_event_handlers


def test_the_access_log_of_each_review_is_kept_only_when_verbose() -> None:
    access = logging.getLogger("aiohttp.access")
    try:
        quiet_access_log(verbose=False)
        assert not access.isEnabledFor(logging.INFO)
        quiet_access_log(verbose=True)
        assert access.isEnabledFor(logging.INFO)
    finally:
        access.setLevel(logging.NOTSET)


def test_the_success_of_each_watch_event_handler_is_logged_only_when_verbose(caplog) -> None:  # type: ignore[no-untyped-def]
    objects = logging.getLogger("kopf.objects")
    try:
        quiet_event_handlers(verbose=False)
        with caplog.at_level(logging.INFO, logger="kopf.objects"):
            objects.info("Handler 'wake-token' succeeded.")
            objects.info("Handler 'revoke' succeeded.")
            objects.error("Handler 'wake-token' failed with an exception. Will retry.")
        assert [r.getMessage() for r in caplog.records] == [
            "Handler 'revoke' succeeded.", "Handler 'wake-token' failed with an exception. Will retry."]
        caplog.clear()
        quiet_event_handlers(verbose=True)
        with caplog.at_level(logging.INFO, logger="kopf.objects"):
            objects.info("Handler 'wake-token' succeeded.")
        assert [r.getMessage() for r in caplog.records] == ["Handler 'wake-token' succeeded."]
    finally:
        quiet_event_handlers(verbose=True)

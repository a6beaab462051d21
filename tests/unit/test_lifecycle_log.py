"""One log vocabulary: one line per lifecycle action, the same keys in the
same order everywhere, nothing empty."""

from __future__ import annotations

import logging
from collections.abc import Callable

import pytest

from astra_token_operator.lifecycle_log import debug_action, log_action, warn_action

LOGGER = "astra_token_operator.lifecycle"
LogFn = Callable[..., None]


def one_record(caplog: pytest.LogCaptureFixture) -> logging.LogRecord:
    records = [r for r in caplog.records if r.name == LOGGER]
    assert len(records) == 1
    return records[0]


def test_keys_come_in_the_documented_order_whatever_order_they_were_given(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    log_action("mint", lease_id="astra-tokens/o-1/c-1", name="app", namespace="team-a", client_id="c-1",
               logical_name="billing", role="reader", org="o-1")
    assert one_record(caplog).getMessage() == (
        "action=mint org=o-1 role=reader logical_name=billing client_id=c-1 namespace=team-a name=app "
        "lease_id=astra-tokens/o-1/c-1"
    )


def test_other_keys_follow_in_alphabetical_order_then_the_message(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    log_action("renew", message="lease extended", org="o-1", renewals=3, increment="1h")
    assert one_record(caplog).getMessage() == "action=renew org=o-1 increment=1h renewals=3 lease extended"


@pytest.mark.parametrize("empty", [None, ""])
def test_empty_values_are_left_out(caplog: pytest.LogCaptureFixture, empty: str | None) -> None:
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    log_action("revoke", org="o-1", role=empty, client_id="c-1", reason=empty)
    assert one_record(caplog).getMessage() == "action=revoke org=o-1 client_id=c-1"


def test_zero_and_false_are_values_not_empties(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    log_action("renew", renewals=0, capped=False)
    assert one_record(caplog).getMessage() == "action=renew capped=False renewals=0"


def test_a_line_without_a_message_has_no_trailing_blank(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    log_action("mint", org="o-1")
    assert one_record(caplog).getMessage() == "action=mint org=o-1"


def test_the_line_is_one_line(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    log_action("mint", message="done", org="o-1", namespace="team-a")
    assert "\n" not in one_record(caplog).getMessage()


@pytest.mark.parametrize(("log", "level"), [
    (log_action, logging.INFO),
    (warn_action, logging.WARNING),
    (debug_action, logging.DEBUG),
])
def test_each_function_logs_at_its_level(caplog: pytest.LogCaptureFixture, log: LogFn, level: int) -> None:
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    log("rollback", client_id="c-1")
    record = one_record(caplog)
    assert record.levelno == level
    assert record.getMessage() == "action=rollback client_id=c-1"


def test_debug_lines_are_silent_at_info(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER)
    debug_action("wait", org="o-1")
    assert [r for r in caplog.records if r.name == LOGGER] == []


def test_the_fields_travel_as_structured_extra_for_json_formatters(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    warn_action("rollback", org="o-1", client_id="c-1")
    assert one_record(caplog).__dict__["astra"] == {"action": "rollback", "org": "o-1", "client_id": "c-1"}

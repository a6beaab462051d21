"""How the runner sets up logging before Kopf starts."""

from __future__ import annotations

import logging

from astra_token_operator.runner import quiet_access_log


def test_the_access_log_of_each_review_is_kept_only_when_verbose() -> None:
    access = logging.getLogger("aiohttp.access")
    try:
        quiet_access_log(verbose=False)
        assert not access.isEnabledFor(logging.INFO)
        quiet_access_log(verbose=True)
        assert access.isEnabledFor(logging.INFO)
    finally:
        access.setLevel(logging.NOTSET)

"""The SDK matrix: the same full check list (mcp_checks.run_mcp_checks) against every target, with
the official Python SDK as the client. A proxied target must behave exactly like its direct twin.
"""

from __future__ import annotations

import asyncio

import pytest

from conftest import ALL_TARGETS, TRANSLATED_TARGETS, Target
from mcp_checks import run_mcp_checks


@pytest.mark.parametrize("target", ALL_TARGETS + TRANSLATED_TARGETS, indirect=True)
def test_python_sdk_full_check_list(target: Target) -> None:
    report = asyncio.run(run_mcp_checks(target.url, target.profile, proxied=target.proxied))
    print(report.table())
    assert report.results, "no check ran"
    if report.failures:
        pytest.fail(report.failure_text(), pytrace=False)

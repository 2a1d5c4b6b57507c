"""Shared fixtures: one sandbox per test session (real loopback HTTP), a fresh client per test."""

from __future__ import annotations

from typing import Any, Iterator

import pytest

from wechatpay_chain.sandbox import Sandbox


@pytest.fixture(scope="session")
def sandbox() -> Iterator[Sandbox]:
    with Sandbox() as sb:
        yield sb


@pytest.fixture
def client(sandbox: Sandbox) -> Iterator[Any]:
    """`sandbox.client()`, closed (and any injected fault cleared) after the test."""
    c = sandbox.client()
    try:
        yield c
    finally:
        c.get_driver().close()
        sandbox.clear_faults()


@pytest.fixture(scope="session")
def cert_sb() -> Iterator[Sandbox]:
    """A sandbox in platform-certificate mode (its answers are signed by the platform certificate)."""
    with Sandbox(mode="certificate") as sb:
        yield sb


@pytest.fixture(scope="session")
def pk_only_sb() -> Iterator[Sandbox]:
    """A public-key-only merchant's sandbox: v3/certificates answers 404 RESOURCE_NOT_EXISTS."""
    with Sandbox(certificates=False) as sb:
        yield sb

"""The registry adapter against the real Verdaccio, and its fail-closed faults."""

from __future__ import annotations

import pytest

from gatekeeper._internal.registry import RegistryClient, escape_name
from gatekeeper.errors import RegistryError
from gatekeeper.secret import Secret
from tests._support.verdaccio import Verdaccio


def test_whoami_tokens_and_missing_things(verdaccio: Verdaccio) -> None:
    user = verdaccio.unique("reg")
    login = verdaccio.add_user(user, "pw-reg-client-1")
    ro = verdaccio.create_token(login, "pw-reg-client-1", readonly=True)
    client = RegistryClient(verdaccio.url, Secret(login), retries=0)
    assert client.whoami() == user
    tokens = client.tokens()
    assert tokens is not None and any(t.get("readonly") is True for t in tokens)
    assert client.packument(verdaccio.unique("absent")) is None
    assert client.keys() is None  # Verdaccio serves no signing keys
    assert RegistryClient(verdaccio.url, Secret("npm_" + "x" * 36), retries=0).whoami() is None
    assert ro not in repr(client.__dict__)


def test_unreachable_registry_is_a_fault_not_an_answer() -> None:
    client = RegistryClient("http://127.0.0.1:9/", Secret("npm_secretvalue_0000000000"), retries=1, backoff=0.01)
    with pytest.raises(RegistryError) as exc:
        client.whoami()
    msg = exc.value.diagnostic()
    assert "after 2 attempts" in msg and "Nothing was published" in msg
    assert "secretvalue" not in msg


def test_escape_name() -> None:
    assert escape_name("@scope/name") == "@scope%2Fname"
    assert escape_name("plain") == "plain"

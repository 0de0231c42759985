"""A client generated from a running node's OpenAPI document (openapi-python-client, as a county's developer would
run it) is typed where it matters, and one round trip with it works: an outflow registration built from the typed
models is accepted, and the same message read back through the client carries the same payload."""

from __future__ import annotations

import importlib
import subprocess
import sys
from collections.abc import Iterator

import httpx
import pytest

from contracts import MessageType
from tests.integration.test_openapi_cli import REPO, Node, running_node  # noqa: F401 - the node, a fixture
from tests.integration.test_round_trip import HAISHU, HUI, message

GENERATOR = REPO / ".venv-generator" / "bin" / "openapi-python-client"


@pytest.fixture(scope="module")
def node_client(running_node: Node, tmp_path_factory) -> Iterator[object]:  # noqa: F811
    """The package generated from the node's document, importable as `node_client`."""
    where = tmp_path_factory.mktemp("generated")
    document = where / "openapi.json"
    document.write_bytes(httpx.get(f"{running_node.url}/openapi.json").content)
    config = where / "config.yaml"
    config.write_text("package_name_override: node_client\npost_hooks: []\n")
    result = subprocess.run([str(GENERATOR), "generate", "--path", str(document), "--output-path",
                             str(where / "node_client"), "--meta", "none", "--config", str(config)],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    sys.path.insert(0, str(where))
    try:
        yield importlib.import_module("node_client")
    finally:
        sys.path.remove(str(where))
        for name in [m for m in sys.modules if m == "node_client" or m.startswith("node_client.")]:
            del sys.modules[name]


def test_a_generated_client_sends_a_typed_record_and_reads_it_back(running_node: Node,  # noqa: F811
                                                                   node_client) -> None:
    from node_client import AuthenticatedClient
    from node_client.api.messages import get_message_v1_messages_message_id_get as get_message
    from node_client.api.messages import post_message_v1_messages_post as post_message
    from node_client.models import Accepted, MessageView, OutflowRegistration, OutflowRegistrationMessageIn, Person

    sent = message(MessageType.OUTFLOW_REGISTRATION, HUI, HAISHU, 41)
    body = OutflowRegistrationMessageIn.from_dict(sent)
    # Typed where it matters: the payload and the person in it are models, not dictionaries.
    assert isinstance(body.data, OutflowRegistration) and isinstance(body.data.person, Person)
    assert body.data.person.id_number == sent["data"]["person"]["id_number"]

    with AuthenticatedClient(base_url=running_node.url, token=running_node.county_key) as client:
        accepted = post_message.sync(client=client, body=body)
        assert isinstance(accepted, Accepted), accepted
        view = get_message.sync(accepted.id, client=client)
    assert isinstance(view, MessageView), view
    assert (view.id, view.type_, view.sender, view.receiver) == (accepted.id, "outflow_registration", HUI, HAISHU)
    assert view.data.to_dict() == _given(sent["data"])


def _given(data: object) -> object:
    """A payload as the node keeps it: fields given as null are not kept."""
    if isinstance(data, dict):
        return {k: _given(v) for k, v in data.items() if v is not None}
    return data

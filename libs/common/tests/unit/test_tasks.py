"""The embedded broker (kombu's filesystem transport, as configured for the fleet) keeps every
file it writes under var/: nothing in the working directory or the system's temporary folder."""

import tempfile

from kombu import Connection

from chatbot_common.tasks import QUEUE, broker_config


def test_the_embedded_broker_writes_only_under_var(tmp_path, monkeypatch):
    elsewhere = {name: tmp_path / name for name in ("cwd", "tmp")}
    for folder in elsewhere.values():
        folder.mkdir()
    monkeypatch.chdir(elsewhere["cwd"])
    monkeypatch.setattr(tempfile, "tempdir", str(elsewhere["tmp"]))
    config = broker_config("", tmp_path / "var", visibility_timeout=60)

    with Connection(config["broker_url"], transport_options=config["broker_transport_options"]) as connection:
        queue = connection.SimpleQueue(QUEUE)
        queue.put({"document_ids": ["doc_1"]})
        message = queue.get(timeout=5)
        message.ack()
        queue.close()

    assert message.payload == {"document_ids": ["doc_1"]}
    broker = tmp_path / "var" / "broker"
    assert [p.name for p in (broker / "control").iterdir()]  # the exchange table
    assert not list((broker / "queue").iterdir()) and not list((broker / "processed").iterdir())
    assert not list(elsewhere["cwd"].iterdir()) and not list(elsewhere["tmp"].iterdir())


def test_a_broker_url_is_used_as_given(tmp_path):
    config = broker_config("redis://127.0.0.1:6379/0", tmp_path, visibility_timeout=660)
    assert config == {"broker_url": "redis://127.0.0.1:6379/0", "broker_transport_options": {"visibility_timeout": 660}}

"""The ingestion queue as both sides see it: the broker choice, the delivery guarantees and
the task names. The gateway enqueues by name; only the worker imports the task code.

Broker: `redis://…` or `amqp://…` by configuration; the embedded default is kombu's filesystem
transport under `var/broker` (queue, processed and control folders, nothing elsewhere), which
needs no server and works across processes on one machine.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from queue import Empty

from celery import Celery
from kombu.transport import TRANSPORT_ALIASES
from kombu.transport import filesystem

QUEUE = "ingest"
TASK_INGEST_DOCUMENT = "ingest.document"
# Several documents of one upload in one task: claimed, embedded and indexed together.
TASK_INGEST_DOCUMENTS = "ingest.documents"
MAX_TASK_DOCUMENTS = 20
TASK_PURGE_MESSAGES = "retention.purge_messages"
# Online evaluation: a sampled grounded answer judged in the background (the conversation service enqueues).
TASK_EVALUATE_ANSWER = "evaluation.judge_answer"


class AtomicFilesystemChannel(filesystem.Channel):
    """kombu's filesystem channel, with messages published atomically and taken under `var/`.

    kombu writes a message file in place, so a consumer polling the folder can take the file
    while it is still empty, lose the message and stop the worker on the JSON error. Here the
    message is written under a name the consumer ignores and renamed into place when complete.
    kombu also moves each message it takes into the system's temporary folder; here it is
    renamed into the processed folder beside the queue (one rename: one consumer wins) and
    removed once read.
    """

    def _put(self, queue, payload, **kwargs):
        final = os.path.join(self.data_folder_out, f"{int(filesystem.monotonic() * 1000)}_{uuid.uuid4()}.{queue}.msg")
        temporary = os.path.join(self.data_folder_out, f".incoming-{uuid.uuid4().hex}")
        try:
            with open(temporary, "wb") as handle:
                handle.write(filesystem.str_to_bytes(filesystem.dumps(payload)))
            os.replace(temporary, final)
        except OSError as exc:
            raise filesystem.ChannelError(f"cannot add a message to {self.data_folder_out!r}") from exc

    def _get(self, queue):
        suffix = f"{queue}.msg"
        for name in sorted(os.listdir(self.data_folder_in)):
            if name.partition(".")[2] != suffix:
                continue
            taken = os.path.join(self.processed_folder, name)
            try:
                os.rename(os.path.join(self.data_folder_in, name), taken)
            except OSError:  # another consumer took it first
                continue
            try:
                with open(taken, "rb") as handle:
                    payload = handle.read()
                os.remove(taken)
            except OSError as exc:
                raise filesystem.ChannelError(f"cannot read {taken!r} from the queue") from exc
            return filesystem.loads(filesystem.bytes_to_str(payload))
        raise Empty()


class AtomicFilesystemTransport(filesystem.Transport):
    Channel = AtomicFilesystemChannel


TRANSPORT_ALIASES.setdefault("chatbotfs", f"{__name__}:AtomicFilesystemTransport")


def broker_config(broker_url: str, var_dir: Path, visibility_timeout: float) -> dict:
    if broker_url:
        options: dict = {}
        if broker_url.startswith(("redis://", "rediss://")):
            # A message taken by a worker that died comes back after this long.
            options = {"visibility_timeout": visibility_timeout}
        return {"broker_url": broker_url, "broker_transport_options": options}
    folders = {name: var_dir / "broker" / name for name in ("queue", "processed", "control")}
    for folder in folders.values():
        folder.mkdir(parents=True, exist_ok=True)
    return {
        "broker_url": "chatbotfs://",
        "broker_transport_options": {
            "data_folder_in": str(folders["queue"]),
            "data_folder_out": str(folders["queue"]),
            "processed_folder": str(folders["processed"]),
            # Exchange tables; kombu's default is `control/` in the working directory.
            "control_folder": str(folders["control"]),
            # The transport polls the folder; kombu's default of 1 s would idle a worker between tasks.
            "polling_interval": 0.1,
        },
    }


def create_celery(name: str, broker_url: str, var_dir: Path, *, task_time_limit: float = 600) -> Celery:
    app = Celery(name)
    app.conf.update(broker_config(broker_url, var_dir, visibility_timeout=task_time_limit + 60))
    app.conf.update(
        task_default_queue=QUEUE,
        task_serializer="json",
        accept_content=["json"],
        result_backend=None,
        task_ignore_result=True,
        broker_connection_retry_on_startup=True,
        broker_connection_timeout=5,
        worker_hijack_root_logger=False,
    )
    return app

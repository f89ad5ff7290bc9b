import sys

from chatbot_common.entrypoint import load_settings
from chatbot_common.logging import configure_logging
from ingest_worker.settings import IngestSettings


def main() -> None:
    settings = load_settings(IngestSettings)
    if sys.argv[1:2] == ["alive"]:  # the liveness probe: is the consumer loop still turning?
        from ingest_worker.heartbeat import is_fresh

        sys.exit(0 if is_fresh(settings.heartbeat_file, settings.heartbeat_max_age_seconds) else 1)
    configure_logging("ingest-worker", settings.log_level, settings.log_json)
    from chatbot_common.tracing import configure_tracing, instrument_celery, shutdown_tracing
    from ingest_worker.worker import run

    if configure_tracing("ingest-worker", settings.traces_file):
        instrument_celery()  # each task continues the trace of the upload that enqueued it
    try:
        run(settings)
    finally:
        shutdown_tracing()


if __name__ == "__main__":
    main()

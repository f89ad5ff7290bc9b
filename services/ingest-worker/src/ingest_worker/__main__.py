from chatbot_common.entrypoint import load_settings
from chatbot_common.logging import configure_logging
from ingest_worker.settings import IngestSettings


def main() -> None:
    settings = load_settings(IngestSettings)
    configure_logging("ingest-worker", settings.log_level, settings.log_json)
    from ingest_worker.worker import run

    run(settings)


if __name__ == "__main__":
    main()

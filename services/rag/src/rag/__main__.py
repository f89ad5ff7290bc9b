from chatbot_common.entrypoint import load_settings, run_service
from rag.settings import RagSettings


def main() -> None:
    settings = load_settings(RagSettings)
    from rag.server import migrate, serve

    run_service("rag", settings, serve, migrate)


if __name__ == "__main__":
    main()

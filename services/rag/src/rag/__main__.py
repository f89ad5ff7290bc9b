from chatbot_common.entrypoint import run_service
from rag.settings import RagSettings


def main() -> None:
    from rag.server import migrate, serve

    run_service("rag", RagSettings, serve, migrate)


if __name__ == "__main__":
    main()

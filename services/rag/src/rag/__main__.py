from chatbot_common.entrypoint import run_service
from rag.settings import RagSettings


def main() -> None:
    from rag.server import serve

    run_service("rag", RagSettings, serve)


if __name__ == "__main__":
    main()

from chatbot_common.entrypoint import run_service
from conversation.settings import ConversationSettings


def main() -> None:
    from conversation.server import migrate, serve

    run_service("conversation", ConversationSettings, serve, migrate)


if __name__ == "__main__":
    main()

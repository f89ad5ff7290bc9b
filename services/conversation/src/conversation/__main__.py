from chatbot_common.entrypoint import load_settings, run_service
from conversation.settings import ConversationSettings


def main() -> None:
    settings = load_settings(ConversationSettings)
    from conversation.server import migrate, serve

    run_service("conversation", settings, serve, migrate)


if __name__ == "__main__":
    main()

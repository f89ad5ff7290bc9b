from chatbot_common.entrypoint import load_settings, run_service
from llm_orchestrator.settings import LlmSettings


def main() -> None:
    settings = load_settings(LlmSettings)
    from llm_orchestrator.server import migrate, serve

    run_service("llm-orchestrator", settings, serve, migrate)


if __name__ == "__main__":
    main()

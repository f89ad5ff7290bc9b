from chatbot_common.entrypoint import run_service
from llm_orchestrator.settings import LlmSettings


def main() -> None:
    from llm_orchestrator.server import serve

    run_service("llm-orchestrator", LlmSettings, serve)


if __name__ == "__main__":
    main()

"""Each service as a real process (`python -m <package>`) with one bad variable: it exits with
status 2 and one line naming the variable, no traceback, before it loads anything heavy."""

import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.contract

BAD = [
    ("gateway", "GATEWAY_PORT", "eighty", "GATEWAY_PORT (or APP_PORT): Input should be a valid integer"),
    ("conversation", "CONVERSATION_DATABASE_URL", "mysql://chat:hunter2@db/chat",
     "CONVERSATION_DATABASE_URL (or DATABASE_URL): unsupported database backend 'mysql'"),
    ("llm_orchestrator", "LLM_MODEL_ALIASES", "default", "LLM_MODEL_ALIASES: not valid JSON"),
    ("rag", "EMBEDDING_BACKEND", "tensorflow", "EMBEDDING_BACKEND: Input should be 'onnx-int8', 'onnx' or 'torch'"),
    ("ingest_worker", "INGEST_BROKER_URL", "hunter2", "INGEST_BROKER_URL (or CELERY_BROKER_URL, REDIS_URL): not a broker URL"),
]


@pytest.mark.parametrize(("package", "variable", "value", "line"), BAD, ids=[b[0] for b in BAD])
def test_a_service_with_a_bad_variable_exits_at_once_naming_it(tmp_path, package, variable, value, line):
    env = {**os.environ, variable: value, f"{package.split('_')[0].upper()}_VAR_DIR": str(tmp_path)}
    done = subprocess.run([sys.executable, "-m", package], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith(f"invalid configuration: {line}") and done.stderr.count("\n") == 1, done.stderr
    assert "Traceback" not in done.stderr and "hunter2" not in done.stderr + done.stdout
    assert not list(tmp_path.iterdir())  # refused before writing anything

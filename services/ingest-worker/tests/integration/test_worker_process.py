"""The worker as a real process on the embedded filesystem broker: healthy once consuming,
and it stops cleanly on SIGTERM."""

import os
import signal
import subprocess
import sys
import time

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from fleet import free_port

pytestmark = pytest.mark.contract


def test_worker_reports_serving_and_stops_on_sigterm(tmp_path):
    port = free_port()
    env = {**os.environ, "INGEST_GRPC_PORT": str(port), "INGEST_VAR_DIR": str(tmp_path), "INGEST_BROKER_URL": ""}
    env.pop("REDIS_URL", None)
    proc = subprocess.Popen([sys.executable, "-m", "ingest_worker"], env=env)
    try:
        status = None
        deadline = time.monotonic() + 60
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = health_pb2_grpc.HealthStub(channel)
            while time.monotonic() < deadline:
                try:
                    status = stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=1).status
                    if status == health_pb2.HealthCheckResponse.SERVING:
                        break
                except grpc.RpcError:
                    pass
                time.sleep(0.2)
        assert status == health_pb2.HealthCheckResponse.SERVING
        assert (tmp_path / "broker" / "queue").is_dir()
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(30)
    assert code == 0

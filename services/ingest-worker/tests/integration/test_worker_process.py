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


def alive(env: dict) -> int:
    return subprocess.run([sys.executable, "-m", "ingest_worker", "alive"], env=env).returncode


def test_worker_reports_serving_and_stops_on_sigterm(tmp_path):
    port = free_port()
    env = {**os.environ, "INGEST_GRPC_PORT": str(port), "INGEST_VAR_DIR": str(tmp_path), "INGEST_BROKER_URL": "",
           "INGEST_HEARTBEAT_INTERVAL_SECONDS": "0.2", "INGEST_HEARTBEAT_MAX_AGE_SECONDS": "5"}
    heartbeat = tmp_path / "ingest-worker.heartbeat"
    assert alive(env) == 1, "no heartbeat before the worker runs"
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
        # the consumer keeps touching its heartbeat, and the liveness probe sees it fresh
        first = heartbeat.stat().st_mtime
        while heartbeat.stat().st_mtime == first:
            assert time.monotonic() < deadline + 30, "the heartbeat stopped"
            time.sleep(0.05)
        assert alive(env) == 0
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(30)
    assert code == 0
    assert not heartbeat.exists() and alive(env) == 1, "a stopped consumer is not alive"

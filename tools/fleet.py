"""Starts the whole fleet as real processes on loopback, waits until it is ready, and stops
it cleanly. `make run` uses it in the foreground; tests/e2e use it on free ports.

    python tools/fleet.py            # embedded defaults, gateway on 127.0.0.1:8000
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Ports:
    gateway: int = 8000
    conversation: int = 50051
    llm: int = 50052
    rag: int = 50053
    ingest: int = 50054
    # Prometheus listeners of the gRPC services and the worker (0: none; the gateway serves
    # /api/v1/metrics on its own port).
    metrics: dict[str, int] = field(default_factory=dict)

    @classmethod
    def free(cls) -> Ports:
        return cls(free_port(), free_port(), free_port(), free_port(), free_port(),
                   {prefix: free_port() for prefix in ("CONVERSATION", "LLM", "RAG", "INGEST")})


@dataclass
class Fleet:
    var_dir: Path
    ports: Ports = field(default_factory=Ports)
    env: dict[str, str] = field(default_factory=dict)
    log_dir: Path | None = None
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.ports.gateway}"

    def _env(self) -> dict[str, str]:
        p = self.ports
        env = {
            **os.environ,
            "GATEWAY_VAR_DIR": str(self.var_dir), "CONVERSATION_VAR_DIR": str(self.var_dir),
            "LLM_VAR_DIR": str(self.var_dir), "RAG_VAR_DIR": str(self.var_dir), "INGEST_VAR_DIR": str(self.var_dir),
            "GATEWAY_PORT": str(p.gateway),
            "GATEWAY_CONVERSATION_TARGET": f"127.0.0.1:{p.conversation}",
            "GATEWAY_LLM_TARGET": f"127.0.0.1:{p.llm}",
            "GATEWAY_RAG_TARGET": f"127.0.0.1:{p.rag}",
            "GATEWAY_INGEST_TARGET": f"127.0.0.1:{p.ingest}",
            "CONVERSATION_GRPC_PORT": str(p.conversation),
            "CONVERSATION_LLM_TARGET": f"127.0.0.1:{p.llm}",
            "CONVERSATION_RAG_TARGET": f"127.0.0.1:{p.rag}",
            "LLM_GRPC_PORT": str(p.llm),
            "LLM_RAG_TARGET": f"127.0.0.1:{p.rag}",
            "RAG_GRPC_PORT": str(p.rag),
            "INGEST_GRPC_PORT": str(p.ingest),
            "INGEST_RAG_TARGET": f"127.0.0.1:{p.rag}",
            "INGEST_CONVERSATION_TARGET": f"127.0.0.1:{p.conversation}",
            "INGEST_LLM_TARGET": f"127.0.0.1:{p.llm}",
            **{f"{prefix}_METRICS_PORT": str(port) for prefix, port in p.metrics.items()},
            "HF_HUB_OFFLINE": "1",
            # The exported embedding model is shared by every fleet on this machine.
            "EMBEDDING_CACHE_DIR": os.environ.get("EMBEDDING_CACHE_DIR", str(ROOT / "var" / "models")),
        }
        env.update(self.env)
        return env

    def _spawn(self, name: str, module: str, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen:
        out = None
        if self.log_dir is not None:
            self.log_dir.mkdir(parents=True, exist_ok=True)
            out = open(self.log_dir / f"{name}.log", "ab")  # noqa: SIM115 - closed with the process
        # A process group of its own: Ctrl-C reaches only this runner, which stops the services
        # front first; were they in the terminal's group, each would also get the SIGINT and the
        # SIGTERM that follows could land in the middle of its exit.
        return subprocess.Popen([sys.executable, "-m", module, *args], env={**self._env(), **(env or {})}, stdout=out,
                                stderr=subprocess.STDOUT if out else None, cwd=ROOT, process_group=0)

    def migrate(self) -> None:
        for module in ("gateway", "conversation", "llm_orchestrator", "rag"):
            subprocess.run([sys.executable, "-m", module, "migrate"], env=self._env(), check=True, cwd=ROOT)

    # service -> its Python module, in the order they start (the gateway last: it waits on the rest)
    MODULES = {"llm-orchestrator": "llm_orchestrator", "rag": "rag", "ingest-worker": "ingest_worker",
               "conversation": "conversation", "gateway": "gateway"}

    def start(self, timeout: float = 120.0) -> None:
        self.var_dir.mkdir(parents=True, exist_ok=True)
        self.migrate()
        for name, module in self.MODULES.items():
            self.processes[name] = self._spawn(name, module)
        self.wait_ready(timeout)

    def restart(self, name: str, timeout: float = 60.0) -> None:
        """Starts a service again once its process has ended (e.g. after a SIGTERM a test sent)."""
        if self.processes[name].poll() is None:
            raise RuntimeError(f"{name} is still running")
        self.processes[name] = self._spawn(name, self.MODULES[name])
        self.wait_ready(timeout)

    def start_gateway_replica(self, name: str, port: int, timeout: float = 60.0, env: dict[str, str] | None = None) -> str:
        """Another gateway process in front of the same services (a second replica, `env` on top
        of the fleet's); its URL. `stop` stops it too, first."""
        self.processes[name] = self._spawn(name, "gateway", env={**(env or {}), "GATEWAY_PORT": str(port)})
        url = f"http://127.0.0.1:{port}"
        self.wait_ready(timeout, url)
        return url

    def wait_ready(self, timeout: float, url: str | None = None) -> None:
        deadline = time.monotonic() + timeout
        last = ""
        while time.monotonic() < deadline:
            for name, proc in self.processes.items():
                if proc.poll() is not None:
                    raise RuntimeError(f"{name} exited with {proc.returncode} while starting")
            try:
                with urllib.request.urlopen(f"{url or self.url}/api/v1/ready", timeout=2) as reply:
                    if reply.status == 200:
                        return
            except urllib.error.HTTPError as exc:
                last = exc.read().decode(errors="replace")
            except OSError as exc:
                last = str(exc)
            time.sleep(0.25)
        raise TimeoutError(f"fleet not ready after {timeout}s: {last}")

    def stop(self, grace: float = 15.0) -> dict[str, int | None]:
        # Front first, so no new work reaches services that are draining.
        services = ["conversation", "llm-orchestrator", "rag", "ingest-worker"]
        order = [name for name in self.processes if name not in services] + services
        for name in order:
            proc = self.processes.get(name)
            if proc and proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        codes: dict[str, int | None] = {}
        deadline = time.monotonic() + grace
        for name in order:
            proc = self.processes.get(name)
            if proc is None:
                continue
            try:
                codes[name] = proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                codes[name] = proc.wait()
        self.processes.clear()
        return codes


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--var-dir", type=Path, default=ROOT / "var")
    parser.add_argument("--port", type=int, default=int(os.environ.get("GATEWAY_PORT", "8000")))
    args = parser.parse_args()
    fleet = Fleet(args.var_dir, Ports(gateway=args.port))
    stop = started = False

    def on_signal(_sig, _frame) -> None:
        nonlocal stop
        stop = True
        if not started:  # no use waiting for a fleet that is to stop
            raise KeyboardInterrupt

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):  # SIGHUP: the terminal closed
        signal.signal(sig, on_signal)
    print("starting the fleet (gateway, conversation, llm-orchestrator, rag, ingest-worker)...", flush=True)
    try:
        fleet.start()
    except (RuntimeError, TimeoutError, KeyboardInterrupt) as exc:
        print(f"fleet failed to start: {str(exc) or 'stopped'}", file=sys.stderr)
        fleet.stop()
        return 1
    started = True
    print(f"\nready: {fleet.url}\n  API docs  {fleet.url}/api/v1/docs\n  OpenAI    {fleet.url}/v1\nCtrl-C stops everything.\n", flush=True)
    try:
        while not stop:
            for name, proc in fleet.processes.items():
                if proc.poll() is not None:
                    print(f"{name} exited with {proc.returncode}; stopping the fleet", file=sys.stderr)
                    stop = True
            time.sleep(0.5)
    finally:
        print("stopping...", flush=True)
        codes = fleet.stop()
        print("stopped: " + ", ".join(f"{n}={c}" for n, c in codes.items()), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

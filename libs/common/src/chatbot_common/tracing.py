"""OpenTelemetry tracing, off unless configured: the standard `OTEL_EXPORTER_OTLP_ENDPOINT` (or
`..._TRACES_ENDPOINT`) sends spans over OTLP/HTTP to a collector; `<PREFIX>_TRACES_FILE` writes
them as JSON lines (development, tests). The gateway's HTTP spans and every gRPC call (client and
server) are traced, one trace across the services of a request.

Every exported span passes the same scrubber as the logs: secrets and personal data (e-mail
addresses, card numbers, IBANs, national ids, international phone numbers, keys and tokens)
are redacted from its name, attributes and events before it leaves the process.

An upload's trace crosses the broker too: the task carries the trace context in its headers
(Celery's instrumentation), and the worker's calls to rag join it. LLM and retrieval spans carry
the OpenTelemetry GenAI attributes (`GENAI_*` below), never message text or documents."""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import unquote

from chatbot_common.logging import scrub

_enabled = False


def enabled() -> bool:
    return _enabled


def _clean_text(value: str) -> str:
    # URLs carry values percent-encoded (maria%40example.org): decoded before they are scrubbed.
    return scrub(unquote(value) if "%" in value else value)


def _clean(value):
    if isinstance(value, str):
        return _clean_text(value)
    if isinstance(value, (tuple, list)):
        return type(value)(_clean_text(v) if isinstance(v, str) else v for v in value)
    return value


def _scrubbed_exporter(inner):
    from opentelemetry.sdk.trace import Event, ReadableSpan
    from opentelemetry.sdk.trace.export import SpanExporter

    class ScrubbingExporter(SpanExporter):
        def export(self, spans: Sequence[ReadableSpan]):
            clean = [
                ReadableSpan(
                    name=scrub(s.name), context=s.context, parent=s.parent, resource=s.resource,
                    attributes={k: _clean(v) for k, v in (s.attributes or {}).items()},
                    events=[Event(scrub(e.name), {k: _clean(v) for k, v in (e.attributes or {}).items()}, e.timestamp) for e in s.events],
                    links=s.links, kind=s.kind, status=s.status, start_time=s.start_time, end_time=s.end_time,
                    instrumentation_scope=s.instrumentation_scope,
                )
                for s in spans
            ]
            return inner.export(clean)

        def shutdown(self) -> None:
            inner.shutdown()

        def force_flush(self, timeout_millis: int = 30000) -> bool:
            return inner.force_flush(timeout_millis)

    return ScrubbingExporter()


def _file_exporter(path: Path):
    from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

    class JsonLinesExporter(SpanExporter):
        def __init__(self) -> None:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._file = open(path, "a", encoding="utf-8")  # noqa: SIM115 - closed on shutdown
            self._lock = threading.Lock()

        def export(self, spans):
            with self._lock:
                for span in spans:
                    self._file.write(span.to_json(indent=None) + "\n")
                self._file.flush()
            return SpanExportResult.SUCCESS

        def shutdown(self) -> None:
            with self._lock:
                self._file.close()

    return JsonLinesExporter()


def configure_tracing(service: str, traces_file: Path | None) -> bool:
    """Installs the tracer provider when an exporter is configured; returns whether it did."""
    global _enabled
    endpoint = os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
    if not endpoint and traces_file is None:
        return False
    from opentelemetry import trace
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    provider = TracerProvider(resource=Resource.create({"service.name": os.environ.get("OTEL_SERVICE_NAME", service)}))
    if endpoint:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(BatchSpanProcessor(_scrubbed_exporter(OTLPSpanExporter())))
    if traces_file is not None:
        provider.add_span_processor(BatchSpanProcessor(_scrubbed_exporter(_file_exporter(traces_file)), schedule_delay_millis=200))
    trace.set_tracer_provider(provider)
    _enabled = True
    return True


def shutdown_tracing() -> None:
    if not _enabled:
        return
    from opentelemetry import trace

    provider = trace.get_tracer_provider()
    if hasattr(provider, "shutdown"):
        provider.shutdown()


def server_interceptors() -> list:
    if not _enabled:
        return []
    from opentelemetry.instrumentation.grpc import aio_server_interceptor

    return [aio_server_interceptor()]


def client_interceptors() -> list:
    if not _enabled:
        return []
    from opentelemetry.instrumentation.grpc import aio_client_interceptors

    return list(aio_client_interceptors())


def traced_sync_channel(channel):
    """A blocking channel (the worker's) with the same client spans as the asyncio ones."""
    if not _enabled:
        return channel
    from opentelemetry.instrumentation.grpc import client_interceptor
    from opentelemetry.instrumentation.grpc.grpcext import intercept_channel

    return intercept_channel(channel, client_interceptor())


def instrument_celery() -> None:
    """Publishing a task injects the trace context into its headers; running one continues it."""
    if not _enabled:
        return
    from opentelemetry.instrumentation.celery import CeleryInstrumentor

    instrumentor = CeleryInstrumentor()
    if not instrumentor.is_instrumented_by_opentelemetry:
        instrumentor.instrument()


def current_trace_id() -> str:
    """The current trace's id in hex (what X-Trace-Id and the logs carry), or "" outside a trace."""
    if not _enabled:
        return ""
    from opentelemetry import trace

    context = trace.get_current_span().get_span_context()
    return format(context.trace_id, "032x") if context.is_valid else ""


def current_ids() -> tuple[str, str]:
    """(trace id, span id) in hex, or ("", "")."""
    if not _enabled:
        return "", ""
    from opentelemetry import trace

    context = trace.get_current_span().get_span_context()
    return (format(context.trace_id, "032x"), format(context.span_id, "016x")) if context.is_valid else ("", "")


def tracer(name: str):
    """A tracer (a no-op one while tracing is off)."""
    from opentelemetry import trace

    return trace.get_tracer(name)

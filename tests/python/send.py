#!/usr/bin/env python3
"""Sends traces, metrics and logs to an OTLP/HTTP endpoint with the
OpenTelemetry Python SDK and its real OTLP exporters, then prints a JSON
summary of what it sent (ids, names, attributes, values) on stdout.

Usage: send.py proto|json|grpc

proto and json are OTLP/HTTP; grpc is OTLP/gRPC. Endpoint, headers and
compression come from the standard OTEL_EXPORTER_OTLP_* environment
variables, as for any application.
Exits non-zero when an export does not succeed.
"""

import importlib
import json
import logging
import sys

from opentelemetry import trace
from opentelemetry._logs import SeverityNumber
from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, Status, StatusCode

try:  # The in-memory log exporter moved between SDK releases.
    from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter as InMemoryLogExporter
except ImportError:  # pragma: no cover
    from opentelemetry.sdk._logs.export import InMemoryLogExporter
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor

PROTOCOL = sys.argv[1]
if PROTOCOL not in ("proto", "json", "grpc"):
    sys.exit("usage: send.py proto|json|grpc")
MODULE = {
    "proto": "opentelemetry.exporter.otlp.proto.http",
    "json": "opentelemetry.exporter.otlp.json.http",
    "grpc": "opentelemetry.exporter.otlp.proto.grpc",
}[PROTOCOL]
SpanExporter = importlib.import_module(MODULE + ".trace_exporter").OTLPSpanExporter
MetricExporter = importlib.import_module(MODULE + ".metric_exporter").OTLPMetricExporter
LogExporter = importlib.import_module(MODULE + "._log_exporter").OTLPLogExporter

RESOURCE = Resource.create({"service.name": f"python-e2e-{PROTOCOL}", "deployment.environment": "test"})


def hexid(value, width):
    return format(value, f"0{width}x")


def record_traces():
    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=RESOURCE)
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("e2e.tracer", "1.2.3")
    with tracer.start_as_current_span("checkout", kind=SpanKind.SERVER) as root:
        root.set_attribute("http.route", "/checkout")
        root.set_attribute("http.response.status_code", 200)
        root.set_attribute("cart.ratio", 0.75)
        root.set_attribute("cart.gift", True)
        root.set_attribute("cart.items", ["book", "pen"])
        root.add_event("validated", {"items": 2})
        for i in range(3):
            with tracer.start_as_current_span(f"db query {i}", kind=SpanKind.CLIENT) as child:
                child.set_attribute("db.rows", i * 10)
                if i == 2:
                    child.set_status(Status(StatusCode.ERROR, "timeout"))
    provider.shutdown()
    return memory.get_finished_spans()


def record_metrics():
    reader = InMemoryMetricReader()
    provider = MeterProvider(resource=RESOURCE, metric_readers=[reader])
    meter = provider.get_meter("e2e.meter", "1.0")
    requests = meter.create_counter("e2e.requests", unit="{request}")
    for value in (1, 2, 3):
        requests.add(value, {"route": "/checkout"})
    requests.add(10, {"route": "/cart"})
    latency = meter.create_histogram("e2e.latency", unit="ms")
    for value in (5.0, 15.0, 25.0):
        latency.record(value, {"route": "/checkout"})
    queue = meter.create_up_down_counter("e2e.queue")
    queue.add(7)
    queue.add(-2)
    data = reader.get_metrics_data()
    provider.shutdown()
    return data


def record_logs(spans):
    memory = InMemoryLogExporter()
    provider = LoggerProvider(resource=RESOURCE)
    provider.add_log_record_processor(SimpleLogRecordProcessor(memory))
    logger = logging.getLogger(f"e2e.{PROTOCOL}")
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    logger.addHandler(LoggingHandler(logger_provider=provider))
    tracer = TracerProvider(resource=RESOURCE).get_tracer("e2e.logs")
    with tracer.start_as_current_span("log context"):
        logger.warning("payment %s declined", "p-42", extra={"user.id": 42})
    logger.error("disk almost full", extra={"disk.free_ratio": 0.05})
    logger.info("started")
    provider.shutdown()
    return memory.get_finished_logs()


def attr_dict(attrs):
    return {k: list(v) if isinstance(v, tuple) else v for k, v in (attrs or {}).items()}


def main():
    spans = record_traces()
    metrics = record_metrics()
    logs = record_logs(spans)

    results = {
        "traces": SpanExporter().export(spans).name,
        "metrics": MetricExporter().export(metrics).name,
        "logs": LogExporter().export(logs).name,
    }
    if any(r != "SUCCESS" for r in results.values()):
        sys.exit(f"export failed: {results}")

    summary = {
        "service": RESOURCE.attributes["service.name"],
        "spans": sorted(
            (
                {
                    "traceId": hexid(s.context.trace_id, 32),
                    "spanId": hexid(s.context.span_id, 16),
                    "parentSpanId": hexid(s.parent.span_id, 16) if s.parent else "",
                    "name": s.name,
                    # OTLP's SpanKind is the SDK's enum value plus one.
                    "kind": s.kind.value + 1,
                    "attributes": attr_dict(s.attributes),
                    "events": [e.name for e in s.events],
                    "statusCode": {StatusCode.UNSET: 0, StatusCode.OK: 1, StatusCode.ERROR: 2}[s.status.status_code],
                }
                for s in spans
            ),
            key=lambda s: s["spanId"],
        ),
        "metrics": {},
        "logs": [],
    }
    for rm in metrics.resource_metrics:
        for sm in rm.scope_metrics:
            for m in sm.metrics:
                points = []
                for p in m.data.data_points:
                    point = {"attributes": attr_dict(p.attributes)}
                    if hasattr(p, "bucket_counts"):
                        point.update(count=p.count, sum=p.sum, bucketCounts=list(p.bucket_counts))
                    else:
                        point["value"] = p.value
                    points.append(point)
                summary["metrics"][m.name] = sorted(points, key=lambda p: json.dumps(p["attributes"], sort_keys=True))
    for data in logs:
        record = data.log_record
        summary["logs"].append(
            {
                "body": record.body,
                "severityNumber": record.severity_number.value if record.severity_number else 0,
                "severityText": record.severity_text,
                "attributes": {k: v for k, v in attr_dict(record.attributes).items() if not k.startswith("code.")},
                "traceId": hexid(record.trace_id, 32) if record.trace_id else "",
            }
        )
    summary["logs"].sort(key=lambda l: l["body"])
    json.dump(summary, sys.stdout, sort_keys=True)


if __name__ == "__main__":
    main()

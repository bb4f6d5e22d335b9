#!/usr/bin/env python3
"""Makes OTLP/gRPC Export calls with grpcio, the library of the Python
OTLP/gRPC exporter, and prints what each returned as JSON on stdout:
{"case": {"code": "OK", "details": "...", "retry_seconds": 5,
"partial_success": {...}}}.

Usage: grpc_calls.py TARGET CASE...   (TARGET: 127.0.0.1:PORT)

Keys come from INGEST_KEY and QUERY_KEY in the environment. Cases:
  bearer, header, gzip   a valid trace export (key as Bearer, as
                         oteleport-access-key, gzip-compressed)
  metrics, logs          valid exports of the other two services
  no-key, wrong-key, query-key
  garbage                bytes that are not protobuf
  bad-id                 a span whose trace id has 3 bytes, beside a good one
  too-large              a request whose decoded size passes the limit
  over-transport         80 MiB: over the transport's limit
  over-transport-gzip    the same, gzip on the wire
  bomb-no-key            the same without a key
  no-method              a method the service does not have
"""

import json
import os
import sys

import grpc
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
from opentelemetry.proto.common.v1 import common_pb2
from opentelemetry.proto.logs.v1 import logs_pb2
from opentelemetry.proto.metrics.v1 import metrics_pb2
from opentelemetry.proto.resource.v1 import resource_pb2
from opentelemetry.proto.trace.v1 import trace_pb2

TARGET = sys.argv[1]
INGEST = os.environ["INGEST_KEY"]
QUERY = os.environ["QUERY_KEY"]
TRACES = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
METRICS = "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export"
LOGS = "/opentelemetry.proto.collector.logs.v1.LogsService/Export"
NOW = 1_730_000_000_000_000_000


def resource():
    return resource_pb2.Resource(
        attributes=[common_pb2.KeyValue(key="service.name", value=common_pb2.AnyValue(string_value="grpc-calls"))]
    )


def span(trace_id, name):
    return trace_pb2.Span(
        trace_id=trace_id,
        span_id=b"\x01" * 8,
        name=name,
        start_time_unix_nano=NOW,
        end_time_unix_nano=NOW + 1000,
    )


def traces(*spans):
    return trace_service_pb2.ExportTraceServiceRequest(
        resource_spans=[
            trace_pb2.ResourceSpans(resource=resource(), scope_spans=[trace_pb2.ScopeSpans(spans=list(spans))])
        ]
    ).SerializeToString()


def metrics():
    point = metrics_pb2.NumberDataPoint(time_unix_nano=NOW, as_double=1.5)
    metric = metrics_pb2.Metric(name="grpc.gauge", gauge=metrics_pb2.Gauge(data_points=[point]))
    return metrics_service_pb2.ExportMetricsServiceRequest(
        resource_metrics=[
            metrics_pb2.ResourceMetrics(resource=resource(), scope_metrics=[metrics_pb2.ScopeMetrics(metrics=[metric])])
        ]
    ).SerializeToString()


def logs():
    record = logs_pb2.LogRecord(time_unix_nano=NOW, body=common_pb2.AnyValue(string_value="over gRPC"))
    return logs_service_pb2.ExportLogsServiceRequest(
        resource_logs=[logs_pb2.ResourceLogs(resource=resource(), scope_logs=[logs_pb2.ScopeLogs(log_records=[record])])]
    ).SerializeToString()


def too_large():
    # 400,000 empty attributes: 2.4 MB of protobuf, far more once decoded.
    attributes = [common_pb2.KeyValue()] * 400_000
    big = span(b"\x02" * 16, "big")
    big.attributes.extend(attributes)
    return traces(big)


GOOD = traces(span(b"\x03" * 16, "good"))
BEARER = [("authorization", f"Bearer {INGEST}")]
CASES = {
    "bearer": (TRACES, GOOD, BEARER, None),
    "header": (TRACES, GOOD, [("oteleport-access-key", INGEST)], None),
    "gzip": (TRACES, GOOD, BEARER, grpc.Compression.Gzip),
    "metrics": (METRICS, metrics(), BEARER, None),
    "logs": (LOGS, logs(), BEARER, None),
    "no-key": (TRACES, GOOD, [], None),
    "wrong-key": (TRACES, GOOD, [("authorization", "Bearer not-a-key-of-ours")], None),
    "query-key": (TRACES, GOOD, [("authorization", f"Bearer {QUERY}")], None),
    "garbage": (TRACES, b"\xff\xff\xff\xff not protobuf", BEARER, None),
    "bad-id": (TRACES, traces(span(b"\x01\x02\x03", "short id"), span(b"\x04" * 16, "fine")), BEARER, None),
    "too-large": (TRACES, None, BEARER, None),
    # 80 MiB: over the transport's limit (a batch that can never be taken),
    # as is, and gzip on the wire; and a gzip bomb sent without a key
    # (refused before it is decompressed).
    "over-transport": (TRACES, "bomb", BEARER, None),
    "over-transport-gzip": (TRACES, "bomb", BEARER, grpc.Compression.Gzip),
    "bomb-no-key": (TRACES, "bomb", [], grpc.Compression.Gzip),
    "no-method": ("/opentelemetry.proto.collector.trace.v1.TraceService/Nope", GOOD, BEARER, None),
}
RESPONSES = {
    TRACES: trace_service_pb2.ExportTraceServiceResponse,
    METRICS: metrics_service_pb2.ExportMetricsServiceResponse,
    LOGS: logs_service_pb2.ExportLogsServiceResponse,
}


def retry_seconds(metadata):
    from google.rpc import error_details_pb2

    for key, value in metadata or ():
        if key == "google.rpc.retryinfo-bin":
            info = error_details_pb2.RetryInfo.FromString(value)
            return info.retry_delay.seconds
    return None


def call(channel, name):
    method, body, metadata, compression = CASES[name]
    if body is None:
        body = too_large()
    elif body == "bomb":
        body = bytes(80 << 20)
    stub = channel.unary_unary(method)
    try:
        response, _ = stub.with_call(body, metadata=metadata, compression=compression, timeout=20)
    except grpc.RpcError as e:
        return {
            "code": e.code().name,
            "details": e.details(),
            "retry_seconds": retry_seconds(e.trailing_metadata()),
        }
    answer = RESPONSES[method].FromString(response)
    partial = None
    if answer.HasField("partial_success"):
        p = answer.partial_success
        rejected = next(
            (getattr(p, f) for f in ("rejected_spans", "rejected_data_points", "rejected_log_records") if hasattr(p, f)),
            0,
        )
        partial = {"rejected": rejected, "message": p.error_message}
    return {"code": "OK", "partial_success": partial}


def main():
    with grpc.insecure_channel(TARGET) as channel:
        results = {name: call(channel, name) for name in sys.argv[2:]}
    json.dump(results, sys.stdout, sort_keys=True)


if __name__ == "__main__":
    main()

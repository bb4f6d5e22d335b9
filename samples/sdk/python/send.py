#!/usr/bin/env python3
"""Sends a trace, metrics and logs to otelvault with the OpenTelemetry
Python SDK, configured only by the standard environment variables:

    OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318 \\
    OTEL_EXPORTER_OTLP_HEADERS=Oteleport-Access-Key=<ingest key> \\
    OTEL_SERVICE_NAME=python-sample \\
    python send.py

It exits non-zero when the server refuses an export (a wrong key, a bad
endpoint), so scripts and CI notice.
"""

import logging
import sys

from opentelemetry import metrics, trace
from opentelemetry._logs import set_logger_provider
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor



class Checked:
    """An exporter that remembers whether any export failed (the SDK's
    processors only log failures)."""

    def __init__(self, exporter):
        self._exporter = exporter
        self.failed = False

    def export(self, *args, **kwargs):
        result = self._exporter.export(*args, **kwargs)
        if result.name != "SUCCESS":
            self.failed = True
        return result

    def __getattr__(self, name):
        return getattr(self._exporter, name)


span_exporter = Checked(OTLPSpanExporter())
metric_exporter = Checked(OTLPMetricExporter())
log_exporter = Checked(OTLPLogExporter())

traces = TracerProvider()
traces.add_span_processor(BatchSpanProcessor(span_exporter))
trace.set_tracer_provider(traces)

meters = MeterProvider(metric_readers=[PeriodicExportingMetricReader(metric_exporter)])
metrics.set_meter_provider(meters)

logs = LoggerProvider()
logs.add_log_record_processor(BatchLogRecordProcessor(log_exporter))
set_logger_provider(logs)
logging.getLogger().addHandler(LoggingHandler(logger_provider=logs))
logging.getLogger().setLevel(logging.INFO)

tracer = trace.get_tracer("otelvault.sample")
orders = metrics.get_meter("otelvault.sample").create_counter("sample.orders")

with tracer.start_as_current_span("checkout") as span:
    span.set_attribute("http.route", "/checkout")
    with tracer.start_as_current_span("charge card"):
        orders.add(1, {"payment": "card"})
        logging.getLogger("sample").info("order placed")

# Flush everything before exiting; the exporters report why on stderr.
traces.shutdown()
meters.shutdown()
logs.shutdown()
failed = [
    name
    for name, exporter in [("traces", span_exporter), ("metrics", metric_exporter), ("logs", log_exporter)]
    if exporter.failed
]
if failed:
    print(f"the server refused the {', '.join(failed)} exports (see the errors above)", file=sys.stderr)
    sys.exit(1)
print("sent a trace, a counter and a log record")

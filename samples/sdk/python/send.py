#!/usr/bin/env python3
"""Sends a trace, metrics and logs to otelvault with the OpenTelemetry
Python SDK, configured only by the standard environment variables:

    OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318 \\
    OTEL_EXPORTER_OTLP_HEADERS=Oteleport-Access-Key=<ingest key> \\
    OTEL_SERVICE_NAME=python-sample \\
    python send.py
"""

import logging

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

traces = TracerProvider()
traces.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
trace.set_tracer_provider(traces)

meters = MeterProvider(metric_readers=[PeriodicExportingMetricReader(OTLPMetricExporter())])
metrics.set_meter_provider(meters)

logs = LoggerProvider()
logs.add_log_record_processor(BatchLogRecordProcessor(OTLPLogExporter()))
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

# Flush everything before exiting; the exporters report failures on stderr.
traces.shutdown()
meters.shutdown()
logs.shutdown()
print("sent a trace, a counter and a log record")

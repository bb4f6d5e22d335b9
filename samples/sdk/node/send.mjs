// Sends a trace, a metric and a log record to otelvault with the
// OpenTelemetry JS SDK, configured by the standard environment variables:
//
//   OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318 \
//   OTEL_EXPORTER_OTLP_HEADERS=Oteleport-Access-Key=<ingest key> \
//   node send.mjs
//
// (npm ci first.) The JSON exporters send chunked bodies; otelvault reads
// them like any other.

import { TracerProvider, BatchSpanProcessor } from '@opentelemetry/sdk-trace';
import { MeterProvider, PeriodicExportingMetricReader } from '@opentelemetry/sdk-metrics';
import { LoggerProvider, BatchLogRecordProcessor } from '@opentelemetry/sdk-logs';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { OTLPMetricExporter } from '@opentelemetry/exporter-metrics-otlp-http';
import { OTLPLogExporter } from '@opentelemetry/exporter-logs-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';

const resource = resourceFromAttributes({ 'service.name': process.env.OTEL_SERVICE_NAME ?? 'node-sample' });

const traces = new TracerProvider({ resource, spanProcessors: [new BatchSpanProcessor({ exporter: new OTLPTraceExporter() })] });
const reader = new PeriodicExportingMetricReader({ exporter: new OTLPMetricExporter(), exportIntervalMillis: 60_000 });
const meters = new MeterProvider({ resource, readers: [reader] });
const logs = new LoggerProvider({ resource, processors: [new BatchLogRecordProcessor({ exporter: new OTLPLogExporter() })] });

const tracer = traces.getTracer('otelvault.sample');
const span = tracer.startSpan('checkout', { attributes: { 'http.route': '/checkout' } });
meters.getMeter('otelvault.sample').createCounter('sample.orders').add(1, { payment: 'card' });
logs.getLogger('otelvault.sample').emit({ severityNumber: 9, severityText: 'INFO', body: 'order placed' });
span.end();

await traces.shutdown();
await meters.shutdown();
await logs.shutdown();
console.log('sent a trace, a counter and a log record');

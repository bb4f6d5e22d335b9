// Sends spans to an OTLP endpoint with the OpenTelemetry JS SDK and its
// real exporters, then prints a JSON summary of what it sent on stdout.
//
// Usage: node send-traces.mjs json|proto|grpc
// json and proto are OTLP/HTTP to OTELVAULT_URL; grpc is OTLP/gRPC (gzip)
// to OTELVAULT_GRPC_URL. The key comes from OTELVAULT_KEY.
// Exits non-zero when the export does not succeed.

import { TracerProvider, SimpleSpanProcessor, InMemorySpanExporter } from '@opentelemetry/sdk-trace';
import { resourceFromAttributes } from '@opentelemetry/resources';

const protocol = process.argv[2];
const modules = {
  json: '@opentelemetry/exporter-trace-otlp-http',
  proto: '@opentelemetry/exporter-trace-otlp-proto',
  grpc: '@opentelemetry/exporter-trace-otlp-grpc',
};
if (!(protocol in modules)) {
  console.error('usage: send-traces.mjs json|proto|grpc');
  process.exit(2);
}
const { OTLPTraceExporter } = await import(modules[protocol]);

const service = `node-e2e-${protocol}`;
const memory = new InMemorySpanExporter();
const provider = new TracerProvider({
  resource: resourceFromAttributes({ 'service.name': service }),
  spanProcessors: [new SimpleSpanProcessor({ exporter: memory })],
});
const tracer = provider.getTracer('e2e.node', '0.1.0');
for (let i = 0; i < 5; i++) {
  const span = tracer.startSpan(`node op ${i}`, {
    attributes: { iteration: i, protocol, ratio: i / 4, even: i % 2 === 0 },
  });
  span.end();
}
await provider.forceFlush();
const spans = memory.getFinishedSpans();

const key = process.env.OTELVAULT_KEY;
let exporter;
if (protocol === 'grpc') {
  const { Metadata } = await import('@grpc/grpc-js');
  const metadata = new Metadata();
  if (key) metadata.set('oteleport-access-key', key);
  exporter = new OTLPTraceExporter({ url: process.env.OTELVAULT_GRPC_URL, metadata, compression: 'gzip' });
} else {
  const headers = key ? { 'Oteleport-Access-Key': key } : {};
  exporter = new OTLPTraceExporter({ url: `${process.env.OTELVAULT_URL}/v1/traces`, headers });
}
const result = await new Promise((resolve) => exporter.export(spans, resolve));
await exporter.shutdown();
if (result.code !== 0) {
  console.error(`export failed: ${result.error}`);
  process.exit(1);
}
const summary = spans
  .map((s) => ({
    traceId: s.spanContext().traceId,
    spanId: s.spanContext().spanId,
    name: s.name,
    attributes: s.attributes,
  }))
  .sort((a, b) => a.spanId.localeCompare(b.spanId));
process.stdout.write(JSON.stringify({ service, spans: summary }));

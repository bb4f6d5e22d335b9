-- The spans of one trace, in start order. Parameters: trace id (32 lowercase hex digits), year, month, day ('2024', '10', '27').
SELECT Timestamp, ServiceName, SpanName, SpanKind, SpanId, ParentSpanId, Duration, StatusCode, StatusMessage
FROM otel_traces
WHERE TraceId = ? AND year = ? AND month = ? AND day = ?
ORDER BY Timestamp, SpanId

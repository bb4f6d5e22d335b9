-- The spans of one service that ended in error over a day, newest first. Parameters: service.name, year, month, day.
SELECT Timestamp, TraceId, SpanId, SpanName, StatusMessage, Duration
FROM otel_traces
WHERE ServiceName = ? AND StatusCode = 'Error' AND year = ? AND month = ? AND day = ?
ORDER BY Timestamp DESC, SpanId

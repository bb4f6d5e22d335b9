#!/usr/bin/env python3
"""Grafana's Loki data source, played against a Loki-compatible API.

Usage:
  loki_client.py send
      Sends two hours of logs (2024-10-27 03:00-05:00) of three services
      with the OpenTelemetry Python SDK and its real OTLP/HTTP exporter
      (endpoint and headers from OTEL_EXPORTER_OTLP_*); prints {"sent": n}.
  loki_client.py check URL KEY
      Reads every record of those hours through the fetch API
      (POST /api/logs/fetch), labels each one as Loki labels OTLP logs
      (worked out here from Loki's documentation, sharing no code with the
      server), then asks every Loki route what Grafana asks and checks each
      answer's shape against Loki's HTTP API documentation and its content
      against the records: lines, labels, order, limit, metric values at
      every step, label lists, series, stats and volumes. Prints a summary
      of what it compared; exits non-zero naming the first difference.

Loki's HTTP API: https://grafana.com/docs/loki/latest/reference/loki-http-api/
Loki's OTLP labels: https://grafana.com/docs/loki/latest/send-data/otel/
"""

import json
import random
import re
import sys
import urllib.error
import urllib.parse
import urllib.request

HOUR = 3600 * 10**9
START = 1729998000 * 10**9  # 2024-10-27T03:00:00Z
END = START + 2 * HOUR - 1  # Loki's end is inclusive

# The resource attributes Loki's OTLP ingestion makes stream labels by
# default (the page above, "Format considerations").
INDEX_LABELS = {
    "cloud.availability_zone", "cloud.region", "container.name", "deployment.environment",
    "k8s.cluster.name", "k8s.container.name", "k8s.cronjob.name", "k8s.daemonset.name",
    "k8s.deployment.name", "k8s.job.name", "k8s.namespace.name", "k8s.pod.name",
    "k8s.replicaset.name", "k8s.statefulset.name", "service.instance.id", "service.name",
    "service.namespace",
}


def fail(what):
    sys.exit(f"loki_client: {what}")


def expect(condition, what):
    if not condition:
        fail(what)


# ---------------------------------------------------------------- send

RESOURCES = [
    {"service.name": "checkout", "service.namespace": "shop", "deployment.environment": "prod",
     "k8s.pod.name": "checkout-7d9f", "host.name": "node-1"},
    {"service.name": "cart", "deployment.environment": "prod", "host.name": "node-2"},
    {"service.name": "batch", "deployment.environment": "staging"},
]


def send():
    from opentelemetry import trace
    from opentelemetry._logs import SeverityNumber
    from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
    from opentelemetry.sdk._logs import LoggerProvider
    from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

    try:  # The in-memory log exporter moved between SDK releases.
        from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter as InMemoryLogExporter
    except ImportError:  # pragma: no cover
        from opentelemetry.sdk._logs.export import InMemoryLogExporter

    # (severity number, severity text, body, attributes) of each kind of line.
    kinds = [
        (SeverityNumber.INFO, "INFO", "GET /cart 200 in {ms}ms", lambda n: {"http.response.status_code": 200, "http.route": "/cart"}),
        (SeverityNumber.INFO, "INFO", "POST /checkout 201 in {ms}ms", lambda n: {"http.response.status_code": 201}),
        (SeverityNumber.WARN, "WARN", "Retrying payment p-{n}: gateway timeout", lambda n: {"retry.attempt": n % 3 + 1}),
        (SeverityNumber.ERROR, "ERROR", "payment p-{n} declined: card expired", lambda n: {"http.response.status_code": 502, "user.id": n}),
        (SeverityNumber.ERROR, "ERROR", "Überweisung p-{n} fehlgeschlagen ✗", lambda n: {"http.response.status_code": 503}),
        (SeverityNumber.DEBUG, "DEBUG", "cache hit ratio {ratio} after {ms}ms", lambda n: {"cache.ratio": 0.25, "cache.warm": n % 2 == 0}),
        (None, "CRITICAL", "disk almost full on /var ({ms} MB left)", lambda n: {}),
        (None, None, "heartbeat {n}\n  next in {ms}ms", lambda n: {}),
    ]
    rng = random.Random(29)
    per_service = 80
    total = per_service * len(RESOURCES)
    # Distinct times 30 s apart over the two hours, dealt out at random:
    # every other one exactly on a minute, so that the ends of ranges and
    # of metric windows (whole minutes) fall on records.
    slots = [START + i * (2 * HOUR // total) + (rng.randrange(1, 1000) if i % 2 else 0) for i in range(total)]
    rng.shuffle(slots)
    sent = 0
    for r, attributes in enumerate(RESOURCES):
        memory = InMemoryLogExporter()
        provider = LoggerProvider(resource=Resource.create(attributes))
        provider.add_log_record_processor(SimpleLogRecordProcessor(memory))
        logger = provider.get_logger("shop.logs", "2.0")
        for i in range(per_service):
            n = rng.randrange(40)
            number, text, body, attrs = kinds[rng.randrange(len(kinds))]
            context = None
            if rng.random() < 0.5:
                span = SpanContext(rng.getrandbits(128) or 1, rng.getrandbits(64) or 1, is_remote=False,
                                   trace_flags=TraceFlags(1))
                context = trace.set_span_in_context(NonRecordingSpan(span))
            time = slots[r * per_service + i]
            logger.emit(
                timestamp=time,
                observed_timestamp=time,
                context=context,
                severity_number=number,
                severity_text=text,
                body=body.format(n=n, ms=rng.randrange(1, 900), ratio=0.25),
                attributes=attrs(n),
            )
        provider.shutdown()
        logs = memory.get_finished_logs()
        result = OTLPLogExporter().export(logs)
        expect(result.name == "SUCCESS", f"export of {attributes.get('service.name')}: {result}")
        sent += len(logs)
    print(json.dumps({"sent": sent}))


# ---------------------------------------------------------------- check

URL = KEY = None


def request(path, params=None, headers=None, data=None):
    query = "?" + urllib.parse.urlencode(params) if params else ""
    all_headers = {"Authorization": f"Bearer {KEY}"}
    all_headers.update(headers or {})
    req = urllib.request.Request(URL + path + query, headers=all_headers, data=data)
    try:
        with urllib.request.urlopen(req, timeout=120) as response:
            return response.status, response.headers.get("Content-Type", ""), response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers.get("Content-Type", ""), error.read()


def loki(route, params, headers=None, post=False):
    """A Loki route's JSON answer; Loki's envelope checked and removed."""
    path = "/loki/api/v1/" + route
    if post:  # Grafana posts query_range as a form.
        body = urllib.parse.urlencode(params).encode()
        headers = dict(headers or {}, **{"Content-Type": "application/x-www-form-urlencoded"})
        status, content_type, body = request(path, None, headers, body)
    else:
        status, content_type, body = request(path, params, headers)
    expect(status == 200, f"{route} {params}: {status} {body[:300]!r}")
    expect(content_type.startswith("application/json"), f"{route}: content type {content_type}")
    answer = json.loads(body)
    if route in ("index/stats", "status/buildinfo"):  # answered bare, as Loki does
        return answer
    expect(answer.get("status") == "success", f"{route}: status {answer.get('status')}")
    return answer["data"]


def text(value):
    """An OTLP/JSON AnyValue as Loki shows it."""
    if "stringValue" in value:
        return value["stringValue"]
    if "boolValue" in value:
        return "true" if value["boolValue"] else "false"
    if "intValue" in value:
        return str(value["intValue"])
    if "doubleValue" in value:
        return repr(float(value["doubleValue"]))
    fail(f"unexpected value {value}")


def label_name(key):
    return "".join(c if c.isascii() and c.isalnum() else "_" for c in key)


def level(record):
    n = record.get("severityNumber", 0)
    if isinstance(n, str):
        n = {"SEVERITY_NUMBER_UNSPECIFIED": 0}.get(n, 0)
    for top, name in [(4, "trace"), (8, "debug"), (12, "info"), (16, "warn"), (20, "error"), (24, "fatal")]:
        if 0 < n <= top:
            return name
    return {"trace": "trace", "debug": "debug", "info": "info", "warn": "warn", "warning": "warn",
            "error": "error", "critical": "fatal", "fatal": "fatal"}.get(record.get("severityText", "").lower(), "unknown")


def fetched_records():
    """Every record of the two hours through the fetch API, as Loki labels it."""
    out, cursor = [], None
    while True:
        query = {"startTimeUnixNano": str(START), "endTimeUnixNano": str(END + 1), "limit": 10000}
        if cursor:
            query["cursor"] = cursor
        status, _, body = request("/api/logs/fetch", None, {"Content-Type": "application/json"},
                                  json.dumps(query).encode())
        expect(status == 200, f"fetch: {status} {body[:300]!r}")
        page = json.loads(body)
        for rl in page.get("resourceLogs", []):
            resource = rl.get("resource", {}).get("attributes", [])
            stream = {label_name(a["key"]): text(a["value"]) for a in resource if a["key"] in INDEX_LABELS}
            stream.setdefault("service_name", "unknown_service")
            for sl in rl.get("scopeLogs", []):
                scope = sl.get("scope", {})
                for r in sl.get("logRecords", []):
                    metadata = {label_name(a["key"]): text(a["value"])
                                for a in resource + r.get("attributes", []) if a["key"] not in INDEX_LABELS}
                    if scope.get("name"):
                        metadata["scope_name"] = scope["name"]
                        if scope.get("version"):
                            metadata["scope_version"] = scope["version"]
                    for field, name in [("traceId", "trace_id"), ("spanId", "span_id"), ("severityText", "severity_text")]:
                        if r.get(field):
                            metadata[name] = r[field]
                    if r.get("severityNumber"):
                        metadata["severity_number"] = str(r["severityNumber"])
                    metadata["detected_level"] = level(r)
                    time = int(r.get("timeUnixNano") or r["observedTimeUnixNano"])
                    out.append({"time": time, "line": text(r["body"]), "stream": stream, "metadata": metadata,
                                "labels": dict(stream, **metadata)})
        cursor = page.get("nextCursor")
        if not page.get("hasMore"):
            return out


def entries(data, categorized):
    """(time, line, labels) of a `streams` answer, checking its shape."""
    expect(data.get("resultType") == "streams", f"resultType {data.get('resultType')}")
    expect(isinstance(data.get("stats", {}).get("summary"), dict), "streams answer has stats.summary")
    if categorized:
        expect(data.get("encodingFlags") == ["categorize-labels"], f"encodingFlags {data.get('encodingFlags')}")
    out = []
    for stream in data["result"]:
        labels = stream["stream"]
        expect(all(isinstance(k, str) and isinstance(v, str) for k, v in labels.items()), f"stream labels {labels}")
        for value in stream["values"]:
            expect(isinstance(value[0], str) and value[0].isdigit(), f"entry time {value[0]!r}")
            expect(isinstance(value[1], str), f"entry line {value[1]!r}")
            merged = dict(labels)
            if categorized:
                expect(not set(labels) - {label_name(k) for k in INDEX_LABELS},
                       f"categorized stream holds only stream labels: {labels}")
                if len(value) == 3:
                    expect(set(value[2]) <= {"structuredMetadata", "parsed"}, f"entry categories {value[2]}")
                    merged.update(value[2].get("structuredMetadata", {}))
            else:
                expect(len(value) == 2, f"entry of two elements without categorize-labels: {value}")
            out.append((int(value[0]), value[1], merged))
    return out


def anchored(pattern):
    return lambda v: re.fullmatch(pattern, v) is not None


def number(v):
    try:
        return float(v)
    except ValueError:
        return None


def num(name, test):
    return lambda r: number(r["labels"].get(name, "")) is not None and test(number(r["labels"][name]))


def label(name, test):
    return lambda r: test(r["labels"].get(name, ""))


def line(test):
    return lambda r: test(r["line"])


# (LogQL, the records it selects), each as Loki's documentation defines it.
QUERIES = [
    ('{service_name=~".+"}', []),
    ('{service_name="checkout"}', [label("service_name", lambda v: v == "checkout")]),
    ('{service_name!="checkout", deployment_environment="prod"}',
     [label("service_name", lambda v: v != "checkout"), label("deployment_environment", lambda v: v == "prod")]),
    ('{deployment_environment=~"prod|stag"}', [label("deployment_environment", anchored("prod|stag"))]),
    ('{service_name=~"c.*"} |= "payment" != "expired"',
     [label("service_name", anchored("c.*")), line(lambda l: "payment" in l and "expired" not in l)]),
    ('{deployment_environment="prod"} |~ "(?i)retrying" !~ "p-1[0-9]"',
     [label("deployment_environment", lambda v: v == "prod"),
      line(lambda l: re.search("(?i)retrying", l) and not re.search("p-1[0-9]", l))]),
    ('{service_name="cart"} | detected_level="error"',
     [label("service_name", lambda v: v == "cart"), label("detected_level", lambda v: v == "error")]),
    ('{service_name=~".+"} | detected_level=~"warn|fatal|unknown"',
     [label("detected_level", anchored("warn|fatal|unknown"))]),
    ('{service_name=~".+"} | http_response_status_code >= 502 | user_id < 20',
     [num("http_response_status_code", lambda n: n >= 502), num("user_id", lambda n: n < 20)]),
    ('{service_name=~".+"} | host_name != "node-1" | cache_warm = "true"',
     [label("host_name", lambda v: v != "node-1"), label("cache_warm", lambda v: v == "true")]),
    ('{service_name="batch"} |= "Überweisung" | trace_id =~ ".+"',
     [label("service_name", lambda v: v == "batch"), line(lambda l: "Überweisung" in l),
      label("trace_id", anchored(".+"))]),
]
# A query that selects nothing: heartbeats carry no retry attempt.
NOTHING = ('{service_name="checkout"} |= "next in" | retry_attempt > 0', [lambda r: False])

# Ranges, as (start, end) with end inclusive: both hours, each hour, and one
# across the hour boundary.
RANGES = [(START, END), (START, START + HOUR - 1), (START + HOUR, END),
          (START + HOUR // 2, START + 3 * HOUR // 2)]


def selected(records, tests, start, end):
    return [r for r in records if start <= r["time"] <= end and all(t(r) for t in tests)]


def key(entry):
    time, text_, labels = entry
    return (time, text_, sorted(labels.items()))


def check_log_queries(records, summary):
    for query, tests in QUERIES:
        expect(selected(records, tests, START, END), f"{query} selects records (else it compares nothing)")
    for query, tests in QUERIES + [NOTHING]:
        for start, end in RANGES:
            want = sorted(selected(records, tests, start, end), key=lambda r: -r["time"])
            want = [(r["time"], r["line"], r["labels"]) for r in want]
            params = {"query": query, "start": str(start), "end": str(end), "limit": "5000"}
            got = entries(loki("query_range", params), False)
            expect(sorted(map(key, got)) == sorted(map(key, want)),
                   f"{query} in [{start}, {end}]: {len(got)} lines, {len(want)} records select it")
            summary["lines"].append([query, start, end, sorted(t for t, _, _ in got)])
    # Grafana's own request: POST, categorized labels, newest first.
    query = '{service_name=~".+"}'
    want = [(r["time"], r["line"], r["labels"]) for r in records]
    params = {"query": query, "start": str(START), "end": str(END), "limit": "5000", "direction": "backward"}
    got = entries(loki("query_range", params, {"X-Loki-Response-Encoding-Flags": "categorize-labels"}, post=True), True)
    expect(sorted(map(key, got)) == sorted(map(key, want)), "categorized labels, posted: not the records")
    # Direction and limit: the newest or oldest `limit`, each stream in order.
    for direction, newest_first in [("backward", True), ("forward", False)]:
        for limit in [1, 7, 100]:
            params = {"query": query, "start": str(START), "end": str(END), "limit": str(limit), "direction": direction}
            data = loki("query_range", params)
            for stream in data["result"]:
                times = [int(v[0]) for v in stream["values"]]
                expect(times == sorted(times, reverse=newest_first), f"{direction}: a stream's values out of order")
            got = sorted((t for t, _, _ in entries(data, False)), reverse=newest_first)
            want_times = sorted((r["time"] for r in records), reverse=newest_first)[:limit]
            expect(got == want_times, f"{direction} limit {limit}: {got[:3]}… against {want_times[:3]}…")
    # The default limit is Loki's, 100 lines.
    got = entries(loki("query_range", {"query": query, "start": str(START), "end": str(END)}), False)
    expect(len(got) == min(100, len(records)), f"default limit: {len(got)} lines")


# ---------------------------------------------------------------- metrics

def window_values(records, function, range_ns, steps):
    """Loki's range aggregation per series (its full label set) at each
    step: windows (t - range, t]; a point only where the window has lines."""
    series = {}
    for r in records:
        series.setdefault(tuple(sorted(r["labels"].items())), []).append(r)
    out = {}
    for labels, rs in series.items():
        points = {}
        for t in steps:
            inside = [r for r in rs if t - range_ns < r["time"] <= t]
            if not inside:
                continue
            count, size = len(inside), sum(len(r["line"].encode()) for r in inside)
            points[t] = {"count_over_time": count, "rate": count / (range_ns / 1e9),
                         "bytes_over_time": size, "bytes_rate": size / (range_ns / 1e9)}[function]
        if points:
            out[labels] = points
    return out


def aggregate(series, op, by, without):
    if op is None:
        return series
    groups = {}
    for labels, points in series.items():
        if by is not None:
            group = tuple((k, v) for k, v in labels if k in by)
        else:
            group = tuple((k, v) for k, v in labels if k not in without)
        for t, v in points.items():
            groups.setdefault(group, {}).setdefault(t, []).append(v)
    reduce = {"sum": sum, "count": len, "min": min, "max": max, "avg": lambda vs: sum(vs) / len(vs)}[op]
    return {g: {t: reduce(vs) for t, vs in points.items()} for g, points in groups.items()}


# (query, selector tests, function, range, aggregation op, by, without)
METRICS = [
    ('sum by (detected_level) (count_over_time({service_name=~".+"}[10m]))', [], "count_over_time", 600,
     "sum", {"detected_level"}, None),
    ('sum by (service_name) (bytes_over_time({deployment_environment="prod"}[30m]))',
     [label("deployment_environment", lambda v: v == "prod")], "bytes_over_time", 1800, "sum", {"service_name"}, None),
    ('sum(rate({service_name="cart"} |= "payment" [5m]))',
     [label("service_name", lambda v: v == "cart"), line(lambda l: "payment" in l)], "rate", 300, "sum", set(), None),
    ('max by (service_name) (count_over_time({service_name=~".+"} | detected_level="info" [20m]))',
     [label("detected_level", lambda v: v == "info")], "count_over_time", 1200, "max", {"service_name"}, None),
    ('count without (trace_id, span_id) (bytes_rate({service_name="checkout"}[15m]))',
     [label("service_name", lambda v: v == "checkout")], "bytes_rate", 900, "count", None,
     {"trace_id", "span_id"}),
    ('avg by (detected_level) (count_over_time({service_name="batch"}[1h]))',
     [label("service_name", lambda v: v == "batch")], "count_over_time", 3600, "avg", {"detected_level"}, None),
]


def close(a, b):
    return abs(a - b) <= 1e-9 * max(1.0, abs(a), abs(b))


def compare_series(got, want, what):
    expect(set(got) == set(want), f"{what}: series {sorted(got)[:3]}… against {sorted(want)[:3]}…")
    for labels, points in want.items():
        expect(set(got[labels]) == set(points), f"{what} {labels}: steps with points differ")
        for t, v in points.items():
            expect(close(got[labels][t], v), f"{what} {labels} at {t}: {got[labels][t]} against {v}")


def check_metric_queries(records, summary):
    for query, tests, function, seconds, op, by, without in METRICS:
        picked = selected(records, tests, START, END)
        # A range query, at Grafana's usual step for two hours.
        step = 300
        params = {"query": query, "start": str(START), "end": str(END), "step": str(step)}
        data = loki("query_range", params)
        expect(data.get("resultType") == "matrix", f"{query}: resultType {data.get('resultType')}")
        got = {}
        for s in data["result"]:
            expect(all(isinstance(v, str) for v in s["metric"].values()), f"{query}: metric labels")
            points = {}
            for t, v in s["values"]:
                expect(isinstance(t, (int, float)) and isinstance(v, str), f"{query}: sample [{t!r}, {v!r}]")
                points[round(t * 1e9)] = float(v)
            got[tuple(sorted(s["metric"].items()))] = points
        steps = list(range(START, END + 1, step * 10**9))
        want = aggregate(window_values(picked, function, seconds * 10**9, steps), op, by, without)
        compare_series(got, want, query)
        summary["metrics"].append([query, sorted((list(k), sorted(v.items())) for k, v in got.items())])
        # An instant query at the end of the first hour.
        at = START + HOUR
        data = loki("query", {"query": query, "time": str(at)})
        expect(data.get("resultType") == "vector", f"{query}: instant resultType {data.get('resultType')}")
        got = {}
        for s in data["result"]:
            t, v = s["value"]
            expect(isinstance(v, str), f"{query}: instant sample value {v!r}")
            got[tuple(sorted(s["metric"].items()))] = {round(t * 1e9): float(v)}
        want = aggregate(window_values(picked, function, seconds * 10**9, [at]), op, by, without)
        compare_series(got, want, f"{query} at {at}")
    # Grafana's "Save & test".
    data = loki("query", {"query": "vector(1)+vector(1)"})
    expect(data["resultType"] == "vector" and data["result"][0]["value"][1] == "2", f"health check: {data}")


# ---------------------------------------------------------------- labels

def check_label_routes(records, summary):
    window = {"start": str(START), "end": str(END)}
    names = loki("labels", window)
    want = sorted({k for r in records for k in r["stream"]})
    expect(names == want, f"labels: {names} against {want}")
    for name in want:
        values = loki(f"label/{name}/values", window)
        expect(values == sorted({r["stream"][name] for r in records if name in r["stream"]}),
               f"values of {name}: {values}")
    prod = [r for r in records if r["stream"].get("deployment_environment") == "prod"]
    values = loki("label/service_name/values", dict(window, query='{deployment_environment="prod"}'))
    expect(values == sorted({r["stream"]["service_name"] for r in prod}), f"values narrowed by query: {values}")
    series = loki("series", dict(window, **{"match[]": '{deployment_environment="prod"}'}))
    want_series = {tuple(sorted(r["stream"].items())) for r in prod}
    expect(all(isinstance(s, dict) for s in series), "series: a list of label sets")
    expect({tuple(sorted(s.items())) for s in series} == want_series and len(series) == len(want_series),
           f"series: {series}")
    summary["labels"] = {"names": names, "series": sorted(map(list, want_series))}

    # Grafana's query size hint.
    checkout = [r for r in records if r["stream"]["service_name"] == "checkout"]
    stats = loki("index/stats", dict(window, query='{service_name="checkout"}'))
    for field in ["streams", "chunks", "entries", "bytes"]:
        expect(isinstance(stats.get(field), int), f"index/stats: {field} is a number")
    expect(stats["streams"] == 1 and stats["entries"] == len(checkout)
           and stats["bytes"] == sum(len(r["line"].encode()) for r in checkout), f"index/stats: {stats}")

    # Grafana's log volume: bytes by service, largest first, whole and by hour.
    params = dict(window, query='{deployment_environment=~".+"}', targetLabels="service_name")
    data = loki("index/volume", params)
    expect(data["resultType"] == "vector", "index/volume is a vector")
    by_service = {}
    for r in records:
        by_service[r["stream"]["service_name"]] = by_service.get(r["stream"]["service_name"], 0) + len(r["line"].encode())
    got = [(s["metric"]["service_name"], int(s["value"][1])) for s in data["result"]]
    want_volume = sorted(by_service.items(), key=lambda kv: (-kv[1], kv[0]))
    expect(got == want_volume, f"index/volume: {got} against {want_volume}")
    data = loki("index/volume_range", dict(params, step="3600"))
    expect(data["resultType"] == "matrix", "index/volume_range is a matrix")
    for s in data["result"]:
        service = s["metric"]["service_name"]
        for t, v in s["values"]:
            t = round(t * 1e9)
            want_bytes = sum(len(r["line"].encode()) for r in records
                             if r["stream"]["service_name"] == service and t <= r["time"] < t + HOUR)
            expect(int(v) == want_bytes, f"volume_range {service} at {t}: {v} against {want_bytes}")
    summary["volume"] = got

    info = loki("status/buildinfo", {})
    expect(isinstance(info.get("version"), str), f"buildinfo: {info}")


def check_errors():
    """What is not served is a 400 whose text says what is."""
    window = {"start": str(START), "end": str(END)}
    for params, words in [
        (dict(window, query='{service_name="cart"} | json'), "supported"),
        (dict(window), "query"),
        (dict(window, query='{service_name="cart"}', direction="sideways"), "direction"),
        (dict(window, query='{service_name="cart"}', limit="many"), "limit"),
        ({"query": '{service_name="cart"}', "start": "yesterday"}, "start"),
    ]:
        status, _, body = request("/loki/api/v1/query_range", params)
        expect(status == 400 and words in body.decode("utf-8", "replace"),
               f"{params}: {status} {body[:200]!r}, not a 400 naming {words}")


def check():
    records = fetched_records()
    expect(len(records) > 100, f"the fetch API has {len(records)} records of the two hours")
    for hour in range(2):
        expect(any(START + hour * HOUR <= r["time"] < START + (hour + 1) * HOUR for r in records), f"hour {hour} has records")
    summary = {"records": len(records), "lines": [], "metrics": []}
    check_log_queries(records, summary)
    check_metric_queries(records, summary)
    check_label_routes(records, summary)
    check_errors()
    print(json.dumps(summary))


if __name__ == "__main__":
    if sys.argv[1:2] == ["send"]:
        send()
    elif sys.argv[1:2] == ["check"] and len(sys.argv) == 4:
        URL, KEY = sys.argv[2], sys.argv[3]
        check()
    else:
        sys.exit(__doc__)

#!/usr/bin/env python3
"""Asks a Tempo-compatible API what Grafana's Tempo data source asks, and
checks every answer against Tempo's published API documentation and its
protobuf definitions (tempopb), decoded with Python's protobuf library:
nothing here shares code with the server.

Usage: tempo_client.py URL KEY START END PLAN.json

PLAN is {"traces": [hex ids], "lookups": [{"id": hex id, "start": s,
"end": s}], "missing": hex id, "searches": [{"q": ..., "tags": ...,
"minDuration": ..., "limit": ...}], "tag_values": [identifiers],
"narrowed": [{"tag": identifier, "q": TraceQL}]}.
Prints a JSON summary on stdout: for each trace, its spans as decoded from
the v2 protobuf answer, from the v2 JSON answer and from the v1 protobuf
answer; the spans each lookup (a v2 protobuf lookup in its own window, as
Grafana sends from a dashboard) found; for each search, the trace ids in
order; the tag names by scope; the values of each identifier, and of each
identifier narrowed by `q`. Exits non-zero, naming the field, when an
answer does not have Tempo's shape, or when the missing trace is not a 404
whose body says so in text (v2) or JSON (v1), whatever the Accept.
"""

import json
import sys
import urllib.error
import urllib.parse
import urllib.request

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from opentelemetry.proto.trace.v1 import trace_pb2  # noqa: F401  (registers trace.proto)

URL, KEY, START, END, PLAN = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5]

# tempopb/tempo.proto, the messages of the trace-by-id answers:
#
#   message Trace { repeated tempopb.trace.v1.ResourceSpans resourceSpans = 1; }
#   message TraceByIDMetrics { uint64 inspectedBytes = 1; }
#   enum PartialStatus { COMPLETE = 0; PARTIAL = 1; }
#   message TraceByIDResponse {
#     Trace trace = 1; TraceByIDMetrics metrics = 2; PartialStatus status = 3; string message = 4;
#   }
#
# tempopb.trace.v1 is Tempo's copy of opentelemetry.proto.trace.v1 (same
# fields and numbers), so the OpenTelemetry package's ResourceSpans stands
# for it here.
F = descriptor_pb2.FieldDescriptorProto
proto = descriptor_pb2.FileDescriptorProto(
    name="tempopb/tempo_test.proto",
    package="tempopb",
    syntax="proto3",
    dependency=["opentelemetry/proto/trace/v1/trace.proto"],
)
trace_msg = proto.message_type.add(name="Trace")
trace_msg.field.add(name="resourceSpans", number=1, label=F.LABEL_REPEATED, type=F.TYPE_MESSAGE,
                    type_name=".opentelemetry.proto.trace.v1.ResourceSpans")
metrics_msg = proto.message_type.add(name="TraceByIDMetrics")
metrics_msg.field.add(name="inspectedBytes", number=1, label=F.LABEL_OPTIONAL, type=F.TYPE_UINT64)
status_enum = proto.enum_type.add(name="PartialStatus")
status_enum.value.add(name="COMPLETE", number=0)
status_enum.value.add(name="PARTIAL", number=1)
response_msg = proto.message_type.add(name="TraceByIDResponse")
response_msg.field.add(name="trace", number=1, label=F.LABEL_OPTIONAL, type=F.TYPE_MESSAGE, type_name=".tempopb.Trace")
response_msg.field.add(name="metrics", number=2, label=F.LABEL_OPTIONAL, type=F.TYPE_MESSAGE,
                       type_name=".tempopb.TraceByIDMetrics")
response_msg.field.add(name="status", number=3, label=F.LABEL_OPTIONAL, type=F.TYPE_ENUM,
                       type_name=".tempopb.PartialStatus")
response_msg.field.add(name="message", number=4, label=F.LABEL_OPTIONAL, type=F.TYPE_STRING)
pool = descriptor_pool.Default()
pool.Add(proto)
Trace = message_factory.GetMessageClass(pool.FindMessageTypeByName("tempopb.Trace"))
TraceByIDResponse = message_factory.GetMessageClass(pool.FindMessageTypeByName("tempopb.TraceByIDResponse"))


def fail(what):
    sys.exit(f"tempo_client: {what}")


def get(path, params=None, accept="application/json"):
    query = "?" + urllib.parse.urlencode(params) if params else ""
    request = urllib.request.Request(URL + path + query, headers={"Authorization": f"Bearer {KEY}", "Accept": accept})
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            return response.status, response.headers.get("Content-Type", ""), response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers.get("Content-Type", ""), error.read()


def get_json(path, params=None):
    status, content_type, body = get(path, params)
    if status != 200 or not content_type.startswith("application/json"):
        fail(f"{path}: {status} {content_type}")
    return json.loads(body)


def spans_of(resource_spans):
    """(traceId, spanId, name, service) of every span, sorted."""
    out = []
    for rs in resource_spans:
        service = next((a.value.string_value for a in rs.resource.attributes if a.key == "service.name"), "")
        for ss in rs.scope_spans:
            for s in ss.spans:
                out.append([s.trace_id.hex(), s.span_id.hex(), s.name, service])
    return sorted(out)


def spans_of_json(resource_spans):
    import base64  # noqa: F401  (ids are hex in OTLP/JSON)
    out = []
    for rs in resource_spans:
        service = next((a["value"]["stringValue"] for a in rs["resource"]["attributes"] if a["key"] == "service.name"), "")
        for ss in rs["scopeSpans"]:
            for s in ss["spans"]:
                out.append([s["traceId"], s["spanId"], s["name"], service])
    return sorted(out)


def expect(condition, what):
    if not condition:
        fail(what)


def check_search(answer):
    """The shape of a search answer, per Tempo's documentation."""
    expect(isinstance(answer.get("traces"), list), "search: traces is a list")
    expect(isinstance(answer.get("metrics"), dict), "search: metrics is an object")
    for t in answer["traces"]:
        expect(isinstance(t["traceID"], str) and all(c in "0123456789abcdef" for c in t["traceID"]), f"traceID {t['traceID']!r}")
        expect(isinstance(t["rootServiceName"], str), "rootServiceName is a string")
        expect(isinstance(t["rootTraceName"], str), "rootTraceName is a string")
        expect(isinstance(t["startTimeUnixNano"], str) and t["startTimeUnixNano"].isdigit(), "startTimeUnixNano is a decimal string")
        expect(isinstance(t["durationMs"], int), "durationMs is an integer")
        for spanset in t["spanSets"]:
            expect(isinstance(spanset["matched"], int), "spanSets[].matched is an integer")
            for s in spanset["spans"]:
                expect(isinstance(s["spanID"], str) and len(s["spanID"]) == 16, f"spanID {s['spanID']!r}")
                expect(s["startTimeUnixNano"].isdigit() and s["durationNanos"].isdigit(), "span times are decimal strings")
                for a in s["attributes"]:
                    expect(isinstance(a["key"], str) and isinstance(a["value"], dict), "attributes are OTLP key-values")


plan = json.loads(PLAN)
summary = {"traces": {}, "lookups": {}, "searches": [], "tags": {}, "values": {}, "narrowed": []}

status, content_type, body = get("/api/echo")
expect(status == 200 and body == b"echo", f"/api/echo answered {status} {body!r}")

window = {"start": START, "end": END}
for trace_id in plan["traces"]:
    status, content_type, body = get(f"/api/v2/traces/{trace_id}", window, accept="application/protobuf")
    expect(content_type == "application/x-protobuf" or content_type == "application/protobuf", f"v2 protobuf content type {content_type}")
    response = TraceByIDResponse()
    response.ParseFromString(body)
    expect(response.status == 0, f"v2 status {response.status}")
    v2 = spans_of(response.trace.resourceSpans)
    answer = get_json(f"/api/v2/traces/{trace_id}", window)
    expect(answer.get("status") == "COMPLETE", f"v2 JSON status {answer.get('status')}")
    v2_json = spans_of_json(answer["trace"]["resourceSpans"])
    status, content_type, body = get(f"/api/traces/{trace_id}", window, accept="application/protobuf")
    v1 = Trace()
    v1.ParseFromString(body)
    summary["traces"][trace_id] = {"v2": v2, "v2_json": v2_json, "v1": spans_of(v1.resourceSpans)}

for lookup in plan["lookups"]:
    window_of_lookup = {"start": str(lookup["start"]), "end": str(lookup["end"])}
    status, content_type, body = get(f"/api/v2/traces/{lookup['id']}", window_of_lookup, accept="application/protobuf")
    expect(status == 200, f"lookup of {lookup}: {status} {body[:200]!r}")
    response = TraceByIDResponse()
    response.ParseFromString(body)
    summary["lookups"][lookup["id"]] = spans_of(response.trace.resourceSpans)

# Grafana shows a failed lookup's body as it is: Tempo answers text.
for path, media in [("/api/v2/traces/", "text/plain"), ("/api/traces/", "application/json")]:
    status, content_type, body = get(path + plan["missing"], window, accept="application/protobuf")
    expect(status == 404 and content_type.startswith(media), f"{path}missing: {status} {content_type}")
    text = body.decode("utf-8")
    expect(f"trace {plan['missing']} not found" in text, f"{path}missing: {text!r}")
    if media == "application/json":
        expect("message" in json.loads(text), f"{path}missing: no message in {text!r}")

for search in plan["searches"]:
    params = dict(window)
    params.update({k: str(v) for k, v in search.items()})
    answer = get_json("/api/search", params)
    check_search(answer)
    summary["searches"].append({
        "ids": [t["traceID"] for t in answer["traces"]],
        "roots": [[t["rootServiceName"], t["rootTraceName"]] for t in answer["traces"]],
        "durations": [t["durationMs"] for t in answer["traces"]],
        "matched": [sum(s["matched"] for s in t["spanSets"]) for t in answer["traces"]],
    })

tags = get_json("/api/v2/search/tags", window)
for scope in tags["scopes"]:
    expect(isinstance(scope["name"], str) and isinstance(scope["tags"], list), "scopes[] has name and tags")
    summary["tags"][scope["name"]] = scope["tags"]

for identifier in plan["tag_values"]:
    answer = get_json(f"/api/v2/search/tag/{urllib.parse.quote(identifier)}/values", window)
    for v in answer["tagValues"]:
        expect(set(v) == {"type", "value"} and isinstance(v["value"], str), f"tagValues entry {v}")
    summary["values"][identifier] = [[v["type"], v["value"]] for v in answer["tagValues"]]

for narrowed in plan["narrowed"]:
    params = dict(window)
    params["q"] = narrowed["q"]
    answer = get_json(f"/api/v2/search/tag/{urllib.parse.quote(narrowed['tag'])}/values", params)
    summary["narrowed"].append([v["value"] for v in answer["tagValues"]])

print(json.dumps(summary))

//! Grafana's view of the archive: the real binary serves the Tempo API
//! over an archive it ingested (one hour compacted to Parquet, the next
//! raw), and a client that shares no code with it (Python's protobuf
//! library, with Tempo's messages declared in the test) checks every
//! answer's shape. Traces and searches are compared with what the fetch
//! API answers for the same data, worked out here independently.

use std::collections::BTreeMap;
use std::process::Command;

use serde_json::{Value, json};

use crate::support::*;

const KEYS: [(&str, &str); 2] = [
    ("OTELVAULT_INGEST_KEYS", "ingest-key-e2e"),
    ("OTELVAULT_QUERY_KEYS", "query-key-e2e"),
];
/// 2024-10-27, unix seconds: the day the data is on (two traces are on the
/// next day, out of range).
const START: &str = "1729987200";
const END: &str = "1730073600";

/// Every span of the day through the fetch API.
fn fetch(url: &str, filter: &[&str]) -> Value {
    let mut args = vec![
        "fetch",
        "--endpoint",
        url,
        "--signal",
        "traces",
        "--start",
        "2024-10-27T00:00:00Z",
        "--end",
        "2024-10-28T00:00:00Z",
    ];
    args.extend(filter);
    let (code, stdout, stderr) = run_cli(&args, &[("OTELVAULT_ACCESS_KEY", "query-key-e2e")]);
    assert_eq!(code, 0, "fetch {filter:?}: {stderr}");
    serde_json::from_str(&stdout).expect("OTLP/JSON")
}

fn nanos(v: &Value) -> u64 {
    v.as_str()
        .and_then(|s| s.parse().ok())
        .expect("unix nanoseconds")
}

/// What the fetch API says of each trace.
#[derive(Debug, Default)]
struct Trace {
    start: u64,
    end: u64,
    root: (String, String),
    /// (service, span) of every span.
    spans: Vec<(String, Value)>,
}

fn traces(doc: &Value) -> BTreeMap<String, Trace> {
    let mut out: BTreeMap<String, Trace> = BTreeMap::new();
    for (service, span) in items(doc, SPANS) {
        let t = out
            .entry(span["traceId"].as_str().expect("id").to_owned())
            .or_insert(Trace {
                start: u64::MAX,
                ..Trace::default()
            });
        t.start = t.start.min(nanos(&span["startTimeUnixNano"]));
        t.end = t.end.max(nanos(&span["endTimeUnixNano"]));
        if span.get("parentSpanId").is_none_or(|p| p == "") {
            t.root = (
                service.clone(),
                span["name"].as_str().unwrap_or_default().to_owned(),
            );
        }
        t.spans.push((service, span.clone()));
    }
    out
}

/// The traces with a span `matches` selects, newest first, at most `limit`.
fn expected(
    all: &BTreeMap<String, Trace>,
    limit: usize,
    keep: impl Fn(&Trace) -> bool,
    matches: impl Fn(&str, &Value) -> bool,
) -> Vec<String> {
    let mut hits: Vec<(&String, &Trace)> = all
        .iter()
        .filter(|(_, t)| keep(t) && t.spans.iter().any(|(s, span)| matches(s, span)))
        .collect();
    hits.sort_by(|a, b| b.1.start.cmp(&a.1.start).then(a.0.cmp(b.0)));
    hits.into_iter()
        .take(limit)
        .map(|(id, _)| id.clone())
        .collect()
}

fn duration(span: &Value) -> u64 {
    nanos(&span["endTimeUnixNano"]) - nanos(&span["startTimeUnixNano"])
}

fn failed(span: &Value) -> bool {
    span["status"]["code"] == 2
}

/// The spans of a fetched trace as the client lists them.
fn listed(doc: &Value) -> Vec<Value> {
    let mut spans: Vec<Value> = items(doc, SPANS)
        .into_iter()
        .map(|(service, s)| json!([s["traceId"], s["spanId"], s["name"], service]))
        .collect();
    spans.sort_by_key(|v| v.to_string());
    spans
}

/// The trace-lookup time shifts of the documented data source provisioning,
/// in seconds: Grafana looks a trace up from `from - start` to `to + end`
/// of the dashboard's range.
fn documented_time_shifts() -> (u64, i64) {
    let doc = std::fs::read_to_string(script("docs/src/grafana.md")).expect("docs/src/grafana.md");
    // The data source must not try Tempo's gRPC streaming, which the
    // archive does not serve.
    let streaming = doc
        .split("streamingEnabled:")
        .nth(1)
        .expect("provisioning sets streamingEnabled");
    for key in ["search: false", "metrics: false"] {
        assert!(
            streaming.lines().take(3).any(|l| l.trim() == key),
            "streamingEnabled has {key}"
        );
    }
    let shift = |name: &str| -> i64 {
        let value = doc
            .split(&format!("{name}: '"))
            .nth(1)
            .and_then(|rest| rest.split('\'').next())
            .unwrap_or_else(|| panic!("provisioning sets {name}"));
        let (number, unit) = value.split_at(value.len() - 1);
        let number: i64 = number.parse().expect(name);
        number
            * match unit {
                "s" => 1,
                "m" => 60,
                "h" => 3600,
                _ => panic!("{name}: unit of {value}"),
            }
    };
    let start = shift("spanStartTimeShift");
    assert!(start >= 0, "spanStartTimeShift widens the range back");
    (start as u64, shift("spanEndTimeShift"))
}

#[test]
fn grafanas_tempo_queries_answer_what_the_fetch_api_holds() {
    let (server, _store) = Server::start(&Storage::Fs, &KEYS);
    for (signal, body) in crate::sql::requests() {
        let response = http()
            .post(format!("{}/v1/{signal}", server.url))
            .header("Content-Type", "application/x-protobuf")
            .header("Authorization", "Bearer ingest-key-e2e")
            .send(&body[..])
            .expect("post");
        assert_eq!(response.status(), 200, "{signal}");
    }
    // 03:00 in the Parquet tier, 04:00 raw: search reads both.
    let archive = server.archive_path();
    let stdout = compact_range(&archive, "2024-10-27T03:00:00Z", "2024-10-27T04:00:00Z");
    assert!(stdout.contains("compacted"), "{stdout}");

    let all = traces(&fetch(&server.url, &[]));
    assert_eq!(all.len(), 68);
    let early = all
        .iter()
        .find(|(_, t)| t.start < 1_730_001_600_000_000_000)
        .expect("03:00");
    let late = all
        .iter()
        .rev()
        .find(|(_, t)| t.start >= 1_730_001_600_000_000_000)
        .expect("04:00");

    let searches = json!([
        {"q": r#"{ resource.service.name = "payments" && status = error }"#},
        {"q": "{ duration > 800ms }", "limit": 100},
        {"tags": r#"name="charge card""#, "minDuration": "900ms", "limit": 100},
        {"q": r#"{ span.order = "5" }"#},
        {"q": r#"{ rootServiceName = "checkout" && kind = internal }"#, "limit": 7},
        {"q": r#"{ .service.name =~ "ca.*" && name != "GET /cart" }"#, "limit": 100},
        {"q": "{ duration >= 100ms && duration < 800ms && duration != 500ms }", "limit": 100},
    ]);
    let want: Vec<Vec<String>> = vec![
        expected(
            &all,
            20,
            |_| true,
            |s, span| s == "payments" && failed(span),
        ),
        expected(&all, 100, |_| true, |_, span| duration(span) > 800_000_000),
        expected(
            &all,
            100,
            |t| t.end - t.start >= 900_000_000,
            |_, span| span["name"] == "charge card",
        ),
        expected(
            &all,
            20,
            |_| true,
            |_, span| {
                span["attributes"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|a| a["key"] == "order" && a["value"]["stringValue"] == "5")
            },
        ),
        expected(
            &all,
            7,
            |t| t.root.0 == "checkout",
            |_, span| span["kind"] == 1,
        ),
        expected(
            &all,
            100,
            |_| true,
            |s, span| s.starts_with("ca") && span["name"] != "GET /cart",
        ),
        expected(
            &all,
            100,
            |_| true,
            |_, span| {
                (100_000_000..800_000_000).contains(&duration(span))
                    && duration(span) != 500_000_000
            },
        ),
    ];
    // A dashboard whose range ends as the trace does (a trace found in the
    // last minutes, opened from the search): with the documented shifts
    // Grafana's lookup window holds it.
    let (start_shift, end_shift) = documented_time_shifts();
    let lookups: Vec<Value> = [early, late]
        .iter()
        .map(|(id, t)| {
            let (from, to) = (t.start / 1_000_000_000 - 300, t.end / 1_000_000_000 + 1);
            json!({
                "id": id,
                "start": from - start_shift,
                "end": to.checked_add_signed(end_shift).expect("end"),
            })
        })
        .collect();
    let missing = "00000000000000000000000000c0ffee";
    assert!(!all.contains_key(missing));
    let narrowed = [
        ("name", r#"{ resource.service.name = "payments" }"#),
        ("resource.service.name", "{ status = error }"),
    ];
    let plan = json!({
        "traces": [early.0, late.0],
        "lookups": lookups,
        "missing": missing,
        "searches": searches,
        "tag_values": ["resource.service.name", "status", "span.order", "rootServiceName", "rootName"],
        "narrowed": narrowed.iter().map(|(tag, q)| json!({"tag": tag, "q": q})).collect::<Vec<_>>(),
    });
    let mut cmd = Command::new(python(".venv-otel-proto"));
    cmd.arg(script("tests/python/tempo_client.py"))
        .arg(&server.url)
        .arg("query-key-e2e")
        .arg(START)
        .arg(END)
        .arg(plan.to_string());
    let answer = run(cmd, "tempo client");

    for (id, _) in [early, late] {
        let fetched = listed(&fetch(&server.url, &["--trace-id", id]));
        assert_eq!(fetched.len(), 3);
        let got = &answer["traces"][id.as_str()];
        assert_eq!(
            answer["lookups"][id.as_str()].as_array().expect("lookup"),
            &fetched,
            "lookup of {id} from a dashboard"
        );
        for form in ["v2", "v2_json", "v1"] {
            assert_eq!(
                got[form].as_array().expect(form),
                &fetched,
                "{form} of {id}"
            );
        }
    }
    for (i, want) in want.iter().enumerate() {
        let got = &answer["searches"][i];
        assert!(!want.is_empty(), "search {i} finds something");
        assert_eq!(got["ids"], json!(want), "search {i}: {}", searches[i]);
        for (j, id) in want.iter().enumerate() {
            let t = &all[id];
            assert_eq!(got["roots"][j], json!([t.root.0, t.root.1]), "root of {id}");
            assert_eq!(
                got["durations"][j],
                (t.end - t.start) / 1_000_000,
                "duration of {id}"
            );
        }
    }
    // In each trace one span matches the last search: cart's.
    assert!(
        answer["searches"][5]["matched"]
            .as_array()
            .expect("matched")
            .iter()
            .all(|m| m == 1)
    );

    let tags = &answer["tags"];
    assert_eq!(tags["resource"], json!(["service.name"]));
    assert_eq!(tags["span"], json!(["order"]));
    assert!(
        tags["intrinsic"]
            .as_array()
            .expect("intrinsic")
            .contains(&json!("status"))
    );
    assert_eq!(
        answer["values"]["resource.service.name"],
        json!([
            ["string", "cart"],
            ["string", "checkout"],
            ["string", "payments"]
        ])
    );
    assert_eq!(
        answer["values"]["status"],
        json!([["keyword", "error"], ["keyword", "ok"]])
    );
    assert_eq!(
        answer["values"]["span.order"].as_array().map(Vec::len),
        Some(68)
    );

    // Trace-level intrinsics list the roots' services and names.
    let roots = |pick: fn(&Trace) -> &String| -> Value {
        let set: std::collections::BTreeSet<&String> = all.values().map(pick).collect();
        json!(
            set.into_iter()
                .map(|v| ["string", v.as_str()])
                .collect::<Vec<_>>()
        )
    };
    assert_eq!(answer["values"]["rootServiceName"], roots(|t| &t.root.0));
    assert_eq!(answer["values"]["rootName"], roots(|t| &t.root.1));
    // Values narrowed by the conditions already chosen.
    let names_of = |keep: &dyn Fn(&str, &Value) -> bool, pick: &dyn Fn(&str, &Value) -> String| {
        let set: std::collections::BTreeSet<String> = all
            .values()
            .flat_map(|t| &t.spans)
            .filter(|(s, span)| keep(s, span))
            .map(|(s, span)| pick(s, span))
            .collect();
        json!(set)
    };
    let want = [
        names_of(&|s, _| s == "payments", &|_, span| {
            span["name"].as_str().unwrap_or_default().to_owned()
        }),
        names_of(&|_, span| failed(span), &|s, _| s.to_owned()),
    ];
    for (i, want) in want.iter().enumerate() {
        assert!(
            want.as_array().is_some_and(|w| !w.is_empty()),
            "{:?}",
            narrowed[i]
        );
        assert_eq!(&answer["narrowed"][i], want, "{:?}", narrowed[i]);
    }
}

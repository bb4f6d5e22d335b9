//! Time flags and settings: durations (`1500ms`, `90s`, `15m`, `2h`, `7d`),
//! RFC 3339 timestamps
//! (`2024-10-27T03:33:20Z`, `2024-10-27T05:33:20.5+02:00`) and unix times
//! (seconds, milliseconds or nanoseconds, told apart by magnitude).

use otelvault_codec::partition::parse_rfc3339;

const NANOS: u64 = 1_000_000_000;

/// Parses `15m`-style durations into nanoseconds: the one duration
/// syntax of every flag and setting.
pub fn parse_duration(s: &str) -> Result<u64, String> {
    const HINT: &str = "use e.g. 1500ms, 90s, 15m, 2h, 7d; a bare number is seconds";
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (number, unit) = s.split_at(split);
    let n: u64 = number
        .parse()
        .map_err(|_| format!("invalid duration {s:?} ({HINT})"))?;
    let unit_nanos = match unit.trim() {
        "ms" => 1_000_000,
        "" | "s" => NANOS,
        "m" => 60 * NANOS,
        "h" => 3600 * NANOS,
        "d" => 86_400 * NANOS,
        _ => return Err(format!("invalid duration {s:?} ({HINT})")),
    };
    n.checked_mul(unit_nanos)
        .ok_or_else(|| format!("duration {s:?} is too long"))
}

/// Parses a point in time into unix nanoseconds.
pub fn parse_time(s: &str) -> Result<u64, String> {
    let s = s.trim();
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        let n: u64 = s.parse().map_err(|_| format!("invalid time {s:?}"))?;
        // Seconds until the year 5138, milliseconds until 2286, else nanoseconds.
        return Ok(if n < 100_000_000_000 {
            n * NANOS
        } else if n < 10_000_000_000_000 {
            n * 1_000_000
        } else {
            n
        });
    }
    parse_rfc3339(s).ok_or_else(|| {
        format!("invalid time {s:?} (use RFC 3339 like 2024-10-27T03:33:20Z, or unix seconds)")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: u64 = 1_730_000_000 * NANOS; // 2024-10-27T03:33:20Z

    #[test]
    fn durations() {
        assert_eq!(parse_duration("15m"), Ok(15 * 60 * NANOS));
        assert_eq!(parse_duration("2h"), Ok(7200 * NANOS));
        assert_eq!(parse_duration("7d"), Ok(7 * 86_400 * NANOS));
        assert_eq!(parse_duration("90s"), Ok(90 * NANOS));
        // One syntax for flags and settings alike.
        assert_eq!(parse_duration("1500ms"), Ok(1_500_000_000));
        assert_eq!(parse_duration("15"), Ok(15 * NANOS));
        for bad in ["", "m", "1.5h", "-1m", "5w", "3 hours"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn times() {
        assert_eq!(parse_time("2024-10-27T03:33:20Z"), Ok(T));
        assert_eq!(parse_time("2024-10-27T05:33:20+02:00"), Ok(T));
        assert_eq!(
            parse_time("2024-10-26T23:33:20.25-04:00"),
            Ok(T + 250_000_000)
        );
        assert_eq!(parse_time("1730000000"), Ok(T));
        assert_eq!(parse_time("1730000000000"), Ok(T));
        assert_eq!(parse_time("1730000000000000000"), Ok(T));
        for bad in [
            "yesterday",
            "2024-13-01T00:00:00Z",
            "2024-10-27T03:33:20",
            "2024-10-27T03:33:61Z",
            "",
        ] {
            assert!(parse_time(bad).is_err(), "{bad}");
        }
    }
}

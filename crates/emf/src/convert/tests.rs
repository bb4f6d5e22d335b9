use super::*;

fn labels(pairs: &[(&str, &str)]) -> Labels {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn sets(list: &[&[&str]]) -> Vec<Vec<String>> {
    list.iter()
        .map(|s| s.iter().map(|k| (*k).to_owned()).collect())
        .collect()
}

#[test]
fn rollup_adds_the_zero_and_single_sets_with_otellib_in_each() {
    let l = labels(&[("OTelLib", "lib"), ("b", "2"), ("a", "1")]);
    assert_eq!(
        rollup(Rollup::ZeroAndSingle, &l),
        sets(&[&["OTelLib"], &["OTelLib", "a"], &["OTelLib", "b"]])
    );
    assert_eq!(
        rollup(Rollup::Single, &l),
        sets(&[&["OTelLib", "a"], &["OTelLib", "b"]])
    );
    assert!(rollup(Rollup::None, &l).is_empty());
    // Only OTelLib: nothing to roll up.
    assert!(rollup(Rollup::ZeroAndSingle, &labels(&[("OTelLib", "lib")])).is_empty());
    assert_eq!(
        rollup(Rollup::ZeroAndSingle, &labels(&[("a", "1")])),
        sets(&[&[], &["a"]])
    );
}

#[test]
fn a_single_label_is_not_repeated_beside_its_rollup() {
    let converter = Converter::new(Config::default());
    let key = GroupKey {
        namespace: "n".into(),
        timestamp_ms: 1,
        kind: Kind::Gauge,
        labels: labels(&[("OTelLib", "lib"), ("a", "1")]),
    };
    let mut out = Conversion::default();
    let event = converter.event(&key, vec![("m".into(), None, json!(1.0))], &mut out);
    assert_eq!(
        event.directives[0].dimensions,
        sets(&[&["OTelLib"], &["OTelLib", "a"]])
    );
    let key = GroupKey {
        labels: labels(&[("a", "1"), ("b", "2")]),
        ..key
    };
    let event = converter.event(&key, vec![("m".into(), None, json!(1.0))], &mut out);
    assert_eq!(
        event.directives[0].dimensions,
        sets(&[&["a", "b"], &[], &["a"], &["b"]])
    );
}

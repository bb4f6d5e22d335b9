//! The book (docs/) and the README hold together: every internal link and
//! anchor resolves, every page is in the book's summary, and the
//! configuration reference is what the binary renders from its own
//! definitions. Needs nothing but the Rust toolchain.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn pages() -> Vec<PathBuf> {
    let mut pages: Vec<PathBuf> = std::fs::read_dir(root().join("docs/src"))
        .expect("docs/src")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    pages.sort();
    pages
}

/// The text outside fenced code blocks.
fn prose(text: &str) -> String {
    let mut out = String::new();
    let mut fenced = false;
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            continue;
        }
        if !fenced {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

/// The anchors of a page's headings, as mdBook makes them: lowercase,
/// spaces to `-`, other punctuation dropped.
fn anchors(text: &str) -> BTreeSet<String> {
    prose(text)
        .lines()
        .filter_map(|l| l.strip_prefix('#'))
        .map(|h| {
            h.trim_start_matches('#')
                .trim()
                .to_lowercase()
                .chars()
                .filter_map(|c| match c {
                    ' ' => Some('-'),
                    c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
                    _ => None,
                })
                .collect()
        })
        .collect()
}

/// The targets of a page's Markdown links (`[text](target)`).
fn links(text: &str) -> Vec<String> {
    let prose = prose(text);
    let mut out = Vec::new();
    let mut rest = prose.as_str();
    while let Some(i) = rest.find("](") {
        rest = &rest[i + 2..];
        if let Some(end) = rest.find(')') {
            out.push(rest[..end].to_owned());
            rest = &rest[end..];
        }
    }
    out
}

#[test]
fn every_internal_link_and_anchor_resolves() {
    let mut files = pages();
    files.push(root().join("README.md"));
    let mut broken = Vec::new();
    let mut checked = 0;
    for file in &files {
        let text = std::fs::read_to_string(file).expect("read");
        for link in links(&text) {
            if link.contains("://") || link.starts_with("mailto:") {
                continue;
            }
            let (path, anchor) = link.split_once('#').unwrap_or((link.as_str(), ""));
            let target = if path.is_empty() {
                file.clone()
            } else {
                file.parent().expect("dir").join(path)
            };
            checked += 1;
            let target_text = if target.is_dir() {
                Some(String::new())
            } else {
                std::fs::read_to_string(&target).ok()
            };
            let Some(target_text) = target_text else {
                broken.push(format!("{}: {link} (no such file)", file.display()));
                continue;
            };
            if !anchor.is_empty() && !anchors(&target_text).contains(anchor) {
                broken.push(format!("{}: {link} (no such heading)", file.display()));
            }
        }
    }
    assert!(checked > 40, "links found: {checked}");
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
}

#[test]
fn the_summary_names_every_page() {
    let summary = std::fs::read_to_string(root().join("docs/src/SUMMARY.md")).expect("SUMMARY.md");
    let listed: BTreeSet<String> = links(&summary).into_iter().collect();
    for page in pages() {
        let name = page
            .file_name()
            .expect("name")
            .to_string_lossy()
            .into_owned();
        if name != "SUMMARY.md" {
            assert!(
                listed.contains(&name),
                "docs/src/{name} is not in SUMMARY.md"
            );
        }
    }
}

#[test]
fn the_configuration_reference_is_what_the_binary_renders() {
    let output = Command::new(env!("CARGO_BIN_EXE_otelvault"))
        .arg("reference")
        .env_remove("OTELVAULT_LOG")
        .output()
        .expect("run otelvault reference");
    assert!(output.status.success());
    let rendered = String::from_utf8(output.stdout).expect("utf-8");
    let page = root().join("docs/src/reference.md");
    if std::env::var_os("OTELVAULT_BLESS").is_some() {
        std::fs::write(&page, &rendered).expect("write reference");
    }
    let committed = std::fs::read_to_string(&page).expect("reference.md");
    assert!(
        committed == rendered,
        "docs/src/reference.md differs from the binary's settings: run `target/debug/otelvault reference > docs/src/reference.md` (or this test with OTELVAULT_BLESS=1)"
    );
    for name in [
        "OTELVAULT_STORAGE",
        "OTELVAULT_SECRETS_SSM_PREFIX",
        "OTELVAULT_FUNCTION",
        "OTELVAULT_ENDPOINT",
        "OTELVAULT_LOG",
    ] {
        assert!(committed.contains(&format!("| `{name}` |")), "{name}");
    }
}

//! The README's quick start, run as written against the real binary: its
//! commands are taken from the README itself, with only the addresses,
//! the archive directory and the binary path pointed at this test's servers.

use std::process::Command;

use otelvault_codec::Signal;

use crate::support::*;

/// The commands of the first `sh` block of the "Quick start" section,
/// continuation lines joined, comments dropped.
fn quick_start_commands() -> Vec<String> {
    let readme = std::fs::read_to_string(script("README.md")).expect("README");
    let section = &readme[readme.find("## Quick start").expect("quick start section")..];
    let block = &section[section.find("```sh\n").expect("sh block") + 6..];
    let block = &block[..block.find("```").expect("end of block")];
    let mut commands = Vec::new();
    let mut current = String::new();
    for line in block.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(head) = line.strip_suffix('\\') {
            current.push_str(head);
            continue;
        }
        current.push_str(line);
        commands.push(std::mem::take(&mut current));
    }
    commands
}

#[test]
fn the_readme_quick_start_works_as_written() {
    let commands = quick_start_commands();
    assert!(commands.len() >= 7, "{commands:?}");
    let (server, store) = Server::start(&Storage::Fs, &[]);
    let (receiver, received) = Server::start(&Storage::Fs, &[]);
    let archive = server.archive_dir.clone().expect("fs archive");
    let bin = env!("CARGO_BIN_EXE_otelvault");
    let venv = python(".venv-otel-proto");
    let venv_bin = venv
        .parent()
        .expect("bin dir")
        .to_string_lossy()
        .into_owned();
    let mut outputs = Vec::new();
    for command in &commands {
        if command.starts_with("python3 -m venv") {
            // Creating the venv is what `make test-deps` already did.
            continue;
        }
        let command = command
            .replace("127.0.0.1:4318", server.url.trim_start_matches("http://"))
            .replace("127.0.0.1:4319", receiver.url.trim_start_matches("http://"))
            .replace("./otelvault-data", &archive.to_string_lossy())
            .replace("target/release/otelvault", bin)
            .replace(".venv-otel-proto/bin", &venv_bin);
        let output = Command::new("bash")
            .arg("-c")
            .arg(&command)
            .current_dir(script(""))
            .output()
            .expect("bash");
        assert!(
            output.status.success(),
            "README command failed: {command}\nstdout: {}\nstderr: {}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        outputs.push((
            command,
            String::from_utf8_lossy(&output.stdout).into_owned(),
        ));
    }
    let find = |needle: &str| {
        outputs
            .iter()
            .find(|(c, _)| c.contains(needle))
            .map(|(_, out)| out.clone())
            .unwrap_or_else(|| panic!("no README command with {needle}"))
    };
    assert_eq!(find("/v1/traces").trim(), "{}");
    assert!(find("find ").contains("/year=2024/month=10/day=27/hour=03/minute=33/traces_"));
    assert!(find("send.py").contains("sent a trace"));
    assert!(find("/api/traces/fetch").contains("\"name\":\"POST /buy\""));
    assert!(find(" fetch --endpoint").contains("\"resourceSpans\""));
    assert!(find("/api/traces/5b8e").contains("5b8efff798038103d269b633813fc60c"));
    // The replay of the last hour carried the SDK's trace, metric and log.
    for signal in Signal::ALL {
        assert!(
            merged(&*received, signal).item_count() > 0,
            "{signal} not replayed"
        );
    }
    assert!(merged(&*store, Signal::Traces).item_count() >= 4);
}

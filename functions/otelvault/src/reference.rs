//! `otelvault reference` (hidden): the configuration reference of the
//! book (docs/src/reference.md), rendered from the commands' own
//! definitions, so that it cannot drift from what the binary reads. A test
//! compares the committed page with this output.

use std::collections::BTreeMap;
use std::fmt::Write as _;

/// One environment variable: its flag, meaning, default, and the commands
/// that read it.
struct Row {
    flag: String,
    help: String,
    default: String,
    commands: Vec<String>,
}

/// Writes the page to standard output.
#[allow(clippy::print_stdout)] // The command's output.
pub fn print(page: &str) {
    print!("{page}");
}

/// The page, in Markdown.
pub fn render(cli: &clap::Command, lambda: &clap::Command) -> String {
    let mut rows: BTreeMap<String, Row> = BTreeMap::new();
    collect(cli, "", &mut rows);
    collect(lambda, "Lambda", &mut rows);
    rows.insert(
        crate::settings::LOG.into(),
        Row {
            flag: String::new(),
            help: crate::settings::LOG_HELP.into(),
            default: "info".into(),
            commands: vec!["every command".into()],
        },
    );
    let mut page = String::from(
        "# Configuration reference\n\n\
         Every setting of every command, generated from the binary's own definitions\n\
         (`otelvault reference`; a test fails when this page and the binary differ).\n\
         Each variable has the flag beside it; empty variables count as unset, and an\n\
         `OTELVAULT_*` variable that no command reads stops every command at start.\n\
         [Configuration](configuration.md) explains them by task.\n\n\
         | variable | flag | meaning | default | read by |\n|---|---|---|---|---|\n",
    );
    for (name, row) in rows {
        let _ = writeln!(
            page,
            "| `{name}` | {} | {} | {} | {} |",
            if row.flag.is_empty() {
                String::new()
            } else {
                format!("`{}`", row.flag)
            },
            cell(&row.help),
            if row.default.is_empty() {
                String::new()
            } else {
                format!("`{}`", row.default)
            },
            row.commands.join(", ")
        );
    }
    page
}

fn cell(text: &str) -> String {
    text.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .replace('|', "\\|")
}

fn collect(command: &clap::Command, path: &str, rows: &mut BTreeMap<String, Row>) {
    // The root command reads nothing itself; a subcommand is named by its path.
    let name = path.to_owned();
    for arg in command.get_arguments() {
        let Some(env) = arg.get_env() else { continue };
        let env = env.to_string_lossy().into_owned();
        let row = rows.entry(env).or_insert_with(|| Row {
            flag: arg.get_long().map(|l| format!("--{l}")).unwrap_or_default(),
            help: with_values(
                arg.get_help().map(ToString::to_string).unwrap_or_default(),
                arg,
            ),
            default: arg
                .get_default_values()
                .iter()
                .map(|v| v.to_string_lossy().into_owned())
                .collect::<Vec<_>>()
                .join(","),
            commands: Vec::new(),
        });
        if !name.is_empty() && !row.commands.contains(&name) {
            row.commands.push(name.clone());
        }
    }
    for sub in command.get_subcommands() {
        if sub.is_hide_set() {
            continue;
        }
        let sub_path = if path.is_empty() {
            sub.get_name().to_owned()
        } else {
            format!("{path} {}", sub.get_name())
        };
        collect(sub, &sub_path, rows);
    }
}

/// The help of `arg`, a sentence, and ` One of: `a`, `b`.` for a setting
/// with a fixed set of values.
fn with_values(mut help: String, arg: &clap::Arg) -> String {
    if !help.is_empty() && !help.ends_with('.') {
        help.push('.');
    }
    help + &possible_values(arg)
}

fn possible_values(arg: &clap::Arg) -> String {
    let values: Vec<String> = arg
        .get_possible_values()
        .iter()
        .filter(|v| !v.is_hide_set())
        .map(|v| format!("`{}`", v.get_name()))
        .collect();
    if values.is_empty() || values == ["`true`", "`false`"] {
        String::new()
    } else {
        format!(" One of: {}.", values.join(", "))
    }
}

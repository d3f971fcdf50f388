//! `-o table|json`: how reading commands print, and a small table printer.

use std::fmt;
use std::str::FromStr;

use serde::Serialize;

use super::CliError;

/// How a reading command prints its result.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum OutputFormat {
    /// Aligned columns for people.
    #[default]
    Table,
    /// The contract's JSON shapes, for scripts.
    Json,
}

impl FromStr for OutputFormat {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "table" => Ok(OutputFormat::Table),
            "json" => Ok(OutputFormat::Json),
            other => Err(format!(
                "unknown output format `{other}`: expected table or json"
            )),
        }
    }
}

impl fmt::Display for OutputFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            OutputFormat::Table => "table",
            OutputFormat::Json => "json",
        })
    }
}

/// Prints `value` as pretty JSON on stdout.
pub fn print_json<T: Serialize>(value: &T) -> Result<(), CliError> {
    let text = serde_json::to_string_pretty(value)
        .map_err(|err| CliError::Failed(format!("cannot encode the result as JSON: {err}")))?;
    println!("{text}");
    Ok(())
}

/// Renders rows under a header as left-aligned columns.
pub fn render_table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            if let Some(width) = widths.get_mut(i) {
                *width = (*width).max(cell.chars().count());
            }
        }
    }
    let line = |cells: Vec<&str>| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect();
        padded.join("  ").trim_end().to_owned()
    };
    let mut out = line(header.to_vec());
    for row in rows {
        out.push('\n');
        out.push_str(&line(row.iter().map(String::as_str).collect()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_align_to_the_widest_cell() {
        let table = render_table(
            &["ADDR", "NODE"],
            &[
                vec!["127.0.0.1:7400".into(), "1".into()],
                vec!["b:1".into(), "22".into()],
            ],
        );
        assert_eq!(
            table,
            "ADDR            NODE\n127.0.0.1:7400  1\nb:1             22"
        );
    }

    #[test]
    fn formats_parse_by_name() {
        assert_eq!("json".parse(), Ok(OutputFormat::Json));
        assert!("yaml".parse::<OutputFormat>().is_err());
    }
}

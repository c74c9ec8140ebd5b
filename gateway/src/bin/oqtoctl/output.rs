//! Printing: objects as JSON or YAML, or as kubectl-like tables of chosen columns.

use std::io::Write;

use anyhow::{Context, Result};
use clap::ValueEnum;
use serde_json::{Value, json};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Table,
    Json,
    Yaml,
}

/// A column shown when a field is missing, as kubectl does.
pub const NONE: &str = "<none>";

/// Several objects as one document, the shape the API lists them in.
pub fn list(items: Vec<Value>) -> Value {
    json!({ "items": items })
}

/// The text of `value` in `format` (`Table` falls back to YAML, the more readable one).
pub fn document(format: Format, value: &Value) -> Result<String> {
    match format {
        Format::Json => {
            let mut text = serde_json::to_string_pretty(value).context("printing JSON")?;
            text.push('\n');
            Ok(text)
        }
        Format::Yaml | Format::Table => serde_yaml::to_string(value).context("printing YAML"),
    }
}

/// After a change: `workspace/dev created` in table form, else the object as it is now.
pub fn changed(format: Format, kind: &str, object: &Value, verb: &str) -> Result<()> {
    match format {
        Format::Table => print(&format!(
            "{kind}/{} {verb}\n",
            field(object, "/metadata/name")
        )),
        _ => print(&document(format, object)?),
    }
}

/// One object, or a table of several; the table is built by `table` from the items.
pub fn objects(
    format: Format,
    answer: Value,
    what: &str,
    table: impl Fn(&[Value]) -> Table,
) -> Result<()> {
    let is_list = answer.get("items").is_some();
    match format {
        Format::Table => {
            let items = match answer {
                Value::Object(mut map) if is_list => match map.remove("items") {
                    Some(Value::Array(items)) => items,
                    _ => Vec::new(),
                },
                one => vec![one],
            };
            let table = table(&items);
            if table.is_empty() {
                // On stderr, as kubectl does: stdout stays empty for scripts.
                eprintln!("No {what} found.");
                return Ok(());
            }
            print(&table.render())
        }
        _ => print(&document(format, &answer)?),
    }
}

/// Writes to stdout; errors (a closed pipe) are the caller's to report.
pub fn print(text: &str) -> Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .context("writing to stdout")
}

/// Rows under headers, columns three spaces apart and left-aligned, as `kubectl get` does.
pub struct Table {
    headers: Vec<&'static str>,
    rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new(headers: &[&'static str]) -> Self {
        Self {
            headers: headers.to_vec(),
            rows: Vec::new(),
        }
    }

    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    pub fn render(&self) -> String {
        // Character counts, not bytes: names are ASCII but display names need not be.
        let width = |text: &str| text.chars().count();
        let mut widths: Vec<usize> = self.headers.iter().map(|h| width(h)).collect();
        for row in &self.rows {
            for (i, cell) in row.iter().enumerate() {
                if let Some(w) = widths.get_mut(i) {
                    *w = (*w).max(width(cell));
                }
            }
        }
        let headers: Vec<String> = self.headers.iter().map(|h| (*h).to_owned()).collect();
        let mut text = String::new();
        for row in std::iter::once(&headers).chain(&self.rows) {
            let mut line = String::new();
            for (i, cell) in row.iter().enumerate() {
                if i > 0 {
                    line.push_str("   ");
                }
                line.push_str(cell);
                let pad = widths
                    .get(i)
                    .copied()
                    .unwrap_or(0)
                    .saturating_sub(width(cell));
                line.extend(std::iter::repeat_n(' ', pad));
            }
            // The last column's padding would only be trailing blanks.
            text.push_str(line.trim_end());
            text.push('\n');
        }
        text
    }
}

/// The string at a JSON pointer, or `<none>`.
pub fn field(object: &Value, pointer: &str) -> String {
    match object.pointer(pointer) {
        Some(Value::String(text)) if !text.is_empty() => text.clone(),
        Some(Value::Bool(b)) => b.to_string(),
        Some(Value::Number(n)) => n.to_string(),
        _ => NONE.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_align_columns_like_kubectl() {
        let mut table = Table::new(&["NAME", "OWNER", "PHASE", "AGE"]);
        table.row(vec![
            "dev".into(),
            "alice".into(),
            "Ready".into(),
            "5m".into(),
        ]);
        table.row(vec![
            "a-longer-name".into(),
            "bob".into(),
            NONE.into(),
            "3d".into(),
        ]);
        assert_eq!(
            table.render(),
            "NAME            OWNER   PHASE    AGE\n\
             dev             alice   Ready    5m\n\
             a-longer-name   bob     <none>   3d\n"
        );
        assert!(Table::new(&["NAME"]).is_empty());
        assert_eq!(Table::new(&["NAME", "AGE"]).render(), "NAME   AGE\n");
    }

    #[test]
    fn fields_and_documents() {
        let object = json!({"metadata": {"name": "w"}, "spec": {"suspended": false, "owner": ""}});
        assert_eq!(field(&object, "/metadata/name"), "w");
        assert_eq!(field(&object, "/spec/suspended"), "false");
        assert_eq!(field(&object, "/spec/owner"), NONE);
        assert_eq!(field(&object, "/status/phase"), NONE);
        let items = list(vec![object]);
        assert_eq!(
            document(Format::Json, &items).unwrap(),
            serde_json::to_string_pretty(&items).unwrap() + "\n"
        );
        let yaml = document(Format::Yaml, &items).unwrap();
        assert!(
            yaml.starts_with("items:\n- metadata:\n    name: w\n"),
            "{yaml}"
        );
    }
}

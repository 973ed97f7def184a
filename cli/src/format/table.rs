//! docker's list formatter (`images`, `ps`, `history`): `--format TEMPLATE` prints one line per
//! row; `--format "table TEMPLATE"` adds a header (the template run over the column names) and
//! aligns the tab-separated cells as docker's tabwriter does (columns at least 10 wide, 3 spaces
//! of padding). `\t` and `\n` typed in the format stand for a tab and a newline, as in docker.

use super::template::Template;
use serde_json::{Map, Value};

/// A list's format: docker's default table, or what `--format` says.
pub struct ListFormat {
    template: Template,
    table: bool,
}

impl ListFormat {
    /// `format` as given to `--format` (`None`, `""` or `table` alone: `default`).
    pub fn new(format: Option<&str>, default: &str) -> anyhow::Result<ListFormat> {
        let f = format
            .map(str::trim)
            .filter(|f| !f.is_empty() && *f != "table");
        let text = f.unwrap_or(default);
        let (table, body) = match text.strip_prefix("table") {
            Some(rest) => (true, rest.trim_start_matches(' ')),
            None => (false, text),
        };
        let body = body
            .trim_matches(' ')
            .replace("\\t", "\t")
            .replace("\\n", "\n");
        Ok(ListFormat {
            template: Template::parse(&body)?,
            table,
        })
    }

    /// The lines for `rows` (each a JSON object of the row's fields, as docker's `{{json .}}`
    /// shows them), with `headers` naming the columns of a table (field → header).
    pub fn render(&self, rows: &[Value], headers: &[(&str, &str)]) -> anyhow::Result<String> {
        let mut out = String::new();
        if self.table {
            let header: Map<String, Value> = headers
                .iter()
                .map(|(k, v)| (k.to_string(), Value::String(v.to_string())))
                .collect();
            // Fields without a header (docker has none for them) print empty there.
            let mut header = Value::Object(header);
            if let (Value::Object(h), Some(Value::Object(first))) = (&mut header, rows.first()) {
                for k in first.keys() {
                    h.entry(k.clone()).or_insert(Value::String(String::new()));
                }
            }
            out.push_str(&self.template.render(&header)?);
            out.push('\n');
        }
        for r in rows {
            out.push_str(&self.template.render(r)?);
            out.push('\n');
        }
        Ok(if self.table { tabwriter(&out) } else { out })
    }
}

/// Go's `text/tabwriter` as docker sets it up (minwidth 10, padding 3, spaces): cells end at a
/// tab; the text after a line's last tab is not part of a column.
pub fn tabwriter(text: &str) -> String {
    let lines: Vec<Vec<&str>> = text
        .split_terminator('\n')
        .map(|l| l.split('\t').collect())
        .collect();
    let mut out = String::new();
    // Columns are aligned over runs of consecutive lines that have a cell in them.
    let mut i = 0;
    while i < lines.len() {
        let mut end = i + 1;
        while end < lines.len() && lines[end].len() > 1 && lines[i].len() > 1 {
            end += 1;
        }
        let block = &lines[i..end];
        let ncols = block.iter().map(|l| l.len() - 1).max().unwrap_or(0);
        let widths: Vec<usize> = (0..ncols)
            .map(|c| {
                block
                    .iter()
                    .filter(|l| c + 1 < l.len())
                    .map(|l| l[c].chars().count() + 3)
                    .max()
                    .unwrap_or(0)
                    .max(10)
            })
            .collect();
        for l in block {
            for (c, cell) in l.iter().enumerate() {
                out.push_str(cell);
                if c + 1 < l.len() {
                    out.push_str(&" ".repeat(widths[c] - cell.chars().count()));
                }
            }
            out.push('\n');
        }
        i = end;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aligns_like_docker() {
        // `docker images --format 'table {{.Repository}}:{{.Tag}}\t{{.ID}}'`, Docker 20.10.
        let f = ListFormat::new(Some("table {{.Repository}}:{{.Tag}}\\t{{.ID}}"), "").unwrap();
        let rows = [
            serde_json::json!({"Repository": "c9-busybox", "Tag": "latest", "ID": "6ecc15b223b3"}),
        ];
        let out = f
            .render(
                &rows,
                &[
                    ("Repository", "REPOSITORY"),
                    ("Tag", "TAG"),
                    ("ID", "IMAGE ID"),
                ],
            )
            .unwrap();
        assert_eq!(
            out,
            "REPOSITORY:TAG      IMAGE ID\nc9-busybox:latest   6ecc15b223b3\n"
        );
        let plain = ListFormat::new(Some("{{.Repository}}\\t{{.Tag}}"), "").unwrap();
        assert_eq!(plain.render(&rows, &[]).unwrap(), "c9-busybox\tlatest\n");
    }
}

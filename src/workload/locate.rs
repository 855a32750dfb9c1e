//! Finding where in a TOML file a field is, so an error can name the line.
//! A light scan of table headers and keys: enough for hand-written workload
//! files (dotted headers, inline tables), no second parser.

/// 1-based line and column of a byte offset.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

/// The dotted field path at a byte offset: the enclosing table header plus
/// the key on that line, if any.
pub fn field_at(text: &str, offset: usize) -> Option<String> {
    let (line_no, _) = line_col(text, offset);
    let mut table = String::new();
    for (i, line) in text.lines().enumerate() {
        let l = strip_comment(line).trim();
        if let Some(h) = header(l) {
            table = h;
        }
        if i + 1 == line_no {
            let key = l
                .split('=')
                .next()
                .map(str::trim)
                .filter(|k| !k.is_empty() && !k.starts_with('['));
            return Some(match (key, table.is_empty()) {
                (Some(k), true) => k.to_string(),
                (Some(k), false) => format!("{table}.{k}"),
                (None, false) => table,
                (None, true) => return None,
            });
        }
    }
    None
}

/// Line and column of `field` inside the `index`-th `[[table]]` (an array
/// of tables: `[[fault]]`, `[[slo]]`), or of that table's header when the
/// field is not written there.
pub fn array_field_line(
    text: &str,
    table: &str,
    index: usize,
    field: &str,
) -> Option<(usize, usize)> {
    let wanted = format!("[[{table}]]");
    let mut seen = 0usize;
    let mut inside = false;
    let mut header_line = None;
    for (i, line) in text.lines().enumerate() {
        let t = strip_comment(line).trim();
        if t.starts_with('[') {
            if inside {
                break;
            }
            if t.replace(' ', "") == wanted {
                if seen == index {
                    inside = true;
                    header_line = Some((i + 1, 1));
                }
                seen += 1;
            }
            continue;
        }
        if inside {
            if let Some((key, _)) = t.split_once('=') {
                if key.trim() == field {
                    return Some((i + 1, line.find(field).unwrap_or(0) + 1));
                }
            }
        }
    }
    header_line
}

/// Line and column of a dotted field path like `stack.issuers.latency.p50_ms`.
pub fn find_field(text: &str, path: &str) -> Option<(usize, usize)> {
    let mut table = String::new();
    let mut table_line = None;
    for (i, line) in text.lines().enumerate() {
        let l = strip_comment(line);
        let t = l.trim();
        if let Some(h) = header(t) {
            if h == path {
                return Some((i + 1, 1));
            }
            table = h;
            table_line = path.starts_with(&format!("{table}.")).then_some(i + 1);
            continue;
        }
        let Some((key, value)) = t.split_once('=') else {
            continue;
        };
        let key = key.trim();
        let full = if table.is_empty() {
            key.to_string()
        } else {
            format!("{table}.{key}")
        };
        if full == path {
            return Some((i + 1, line.find(key).unwrap_or(0) + 1));
        }
        // An inline table: `latency = { p50_ms = 40 }`.
        if let Some(rest) = path.strip_prefix(&format!("{full}.")) {
            if let Some(pos) = value.find(rest) {
                let col = l.len() - value.len() + pos + 1;
                return Some((i + 1, col));
            }
            return Some((i + 1, line.find(key).unwrap_or(0) + 1));
        }
    }
    table_line.map(|l| (l, 1))
}

fn header(line: &str) -> Option<String> {
    let inner = line.strip_prefix('[')?.strip_suffix(']')?;
    let inner = inner.trim_start_matches('[').trim_end_matches(']');
    Some(
        inner
            .split('.')
            .map(str::trim)
            .collect::<Vec<_>>()
            .join("."),
    )
}

fn strip_comment(line: &str) -> &str {
    // Workload files keep '#' out of strings; a simple cut is enough.
    line.split('#').next().unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "name = \"x\"\n[load]\nrate_per_s = -5 # oops\n\n[stack.issuers]\nlatency = { p50_ms = 40, p99_ms = 10 }\n";

    #[test]
    fn finds_plain_nested_and_inline_fields() {
        assert_eq!(find_field(TEXT, "name"), Some((1, 1)));
        assert_eq!(find_field(TEXT, "load.rate_per_s"), Some((3, 1)));
        assert_eq!(
            find_field(TEXT, "stack.issuers.latency.p99_ms"),
            Some((6, 26))
        );
        assert_eq!(find_field(TEXT, "stack.issuers"), Some((5, 1)));
        assert_eq!(find_field(TEXT, "mix.card_online"), None);
    }

    #[test]
    fn names_the_field_at_an_offset() {
        let off = TEXT.find("rate_per_s").unwrap();
        assert_eq!(line_col(TEXT, off), (3, 1));
        assert_eq!(field_at(TEXT, off).as_deref(), Some("load.rate_per_s"));
    }
}

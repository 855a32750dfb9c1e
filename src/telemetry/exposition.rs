//! A small reader of the Prometheus text exposition format (0.0.4): enough
//! to check what telemetry wrote (its label policy, its sums against
//! `results.json`) without a Prometheus. Comments and blank lines are
//! skipped; label values are unescaped.

use std::collections::BTreeMap;

/// One sample line.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

impl Sample {
    pub fn label(&self, name: &str) -> &str {
        self.labels.get(name).map_or("", String::as_str)
    }
}

/// Every sample of `text`, or the first line that is not one.
pub fn parse(text: &str) -> Result<Vec<Sample>, String> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|(i, l)| sample(l).map_err(|e| format!("line {}: {e}: {l}", i + 1)))
        .collect()
}

fn sample(line: &str) -> Result<Sample, String> {
    let name_end = line.find(['{', ' ']).ok_or("no value")?;
    let name = line[..name_end].to_string();
    let mut labels = BTreeMap::new();
    let mut rest = &line[name_end..];
    if let Some(body) = rest.strip_prefix('{') {
        let mut chars = body.char_indices().peekable();
        let mut end = None;
        loop {
            // name="value", ...
            let start = match chars.peek() {
                Some(&(_, '}')) => {
                    end = chars.next().map(|(i, _)| i);
                    break;
                }
                Some(&(i, _)) => i,
                None => break,
            };
            let eq = body[start..].find('=').ok_or("a label without =")? + start;
            let key = body[start..eq].trim_start_matches(',').trim().to_string();
            while chars.peek().is_some_and(|&(i, _)| i <= eq) {
                chars.next();
            }
            if chars.next().map(|(_, c)| c) != Some('"') {
                return Err("a label value without quotes".into());
            }
            let mut value = String::new();
            loop {
                match chars.next() {
                    Some((_, '\\')) => match chars.next() {
                        Some((_, 'n')) => value.push('\n'),
                        Some((_, c)) => value.push(c),
                        None => return Err("an unfinished escape".into()),
                    },
                    Some((_, '"')) => break,
                    Some((_, c)) => value.push(c),
                    None => return Err("an unfinished label value".into()),
                }
            }
            if chars.peek().is_some_and(|&(_, c)| c == ',') {
                chars.next();
            }
            labels.insert(key, value);
        }
        let end = end.ok_or("no closing brace")?;
        rest = &body[end + 1..];
    }
    let value = rest
        .split_whitespace()
        .next()
        .ok_or("no value")?
        .parse::<f64>()
        .map_err(|e| format!("bad value: {e}"))?;
    Ok(Sample {
        name,
        labels,
        value,
    })
}

/// The sum of `name`'s samples whose labels include every `(label, value)`.
pub fn sum(samples: &[Sample], name: &str, matching: &[(&str, &str)]) -> f64 {
    samples
        .iter()
        .filter(|s| s.name == name && matching.iter().all(|(k, v)| s.label(k) == *v))
        .map(|s| s.value)
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_labels_escapes_and_bare_samples() {
        let s = parse(
            "# HELP x y\n# TYPE x counter\nx_total{a=\"1\",b=\"q\\\"uo\\\\te\",c=\"\"} 3\nup 1\nh_bucket{le=\"+Inf\"} 7\n",
        )
        .unwrap();
        assert_eq!(s.len(), 3);
        assert_eq!(s[0].label("b"), "q\"uo\\te");
        assert_eq!(s[0].label("c"), "");
        assert_eq!(s[0].value, 3.0);
        assert_eq!((s[1].name.as_str(), s[1].value), ("up", 1.0));
        assert_eq!(s[2].label("le"), "+Inf");
        assert_eq!(sum(&s, "x_total", &[("a", "1")]), 3.0);
        assert!(parse("x{a=1} 2\n").is_err());
    }
}

//! The part of a merge that needs no histogram: results.json's counters,
//! added up section by section, with one rule per kind of value so a new
//! counter in the schema merges without a line of code here.

use serde_json::{Map, Value};

/// Adds `theirs` (another run's results) into `mine`:
/// - whole numbers add (counts, injections, transitions);
/// - fractional numbers keep the larger (times and durations: the longer
///   run, the slower recovery; per-fault settings are equal anyway);
/// - booleans AND: a check passed only if it passed in every run;
/// - strings keep the first run's (a breaker's final state, a
///   counterexample: the first run's stands for all);
/// - objects merge key by key; `null` takes the other side;
/// - arrays of objects merge item by item on their identity (`name`, or
///   `kind` and `target`); other arrays gain the items they lack, in order.
///
/// Sections that need the histograms or the time axis (latency, time
/// series, objectives) are recomputed by the caller, not merged here.
pub fn add(mine: &mut Value, theirs: &Value) {
    match (mine, theirs) {
        (_, Value::Null) => {}
        (m @ Value::Null, t) => *m = t.clone(),
        (Value::Number(m), Value::Number(t)) => *m = add_numbers(m, t),
        (Value::Bool(m), Value::Bool(t)) => *m &= *t,
        (Value::Object(m), Value::Object(t)) => add_objects(m, t),
        (Value::Array(m), Value::Array(t)) => add_arrays(m, t),
        // Strings, and values of different kinds: the first run's stands.
        _ => {}
    }
}

fn add_numbers(m: &serde_json::Number, t: &serde_json::Number) -> serde_json::Number {
    if let (Some(a), Some(b)) = (m.as_u64(), t.as_u64()) {
        return a.saturating_add(b).into();
    }
    if let (Some(a), Some(b)) = (m.as_i64(), t.as_i64()) {
        return a.saturating_add(b).into();
    }
    let (a, b) = (m.as_f64().unwrap_or(0.0), t.as_f64().unwrap_or(0.0));
    serde_json::Number::from_f64(a.max(b)).unwrap_or_else(|| m.clone())
}

fn add_objects(m: &mut Map<String, Value>, t: &Map<String, Value>) {
    for (k, v) in t {
        match m.get_mut(k) {
            Some(mine) => add(mine, v),
            None => {
                m.insert(k.clone(), v.clone());
            }
        }
    }
}

/// What makes two items of an array of objects the same thing.
fn identity(v: &Value) -> Option<(Value, Value)> {
    let o = v.as_object()?;
    match (o.get("name"), o.get("kind"), o.get("target")) {
        (Some(name), _, _) => Some((name.clone(), Value::Null)),
        (None, Some(kind), Some(target)) => Some((kind.clone(), target.clone())),
        _ => None,
    }
}

fn add_arrays(m: &mut Vec<Value>, t: &[Value]) {
    for item in t {
        match identity(item) {
            Some(id) => match m.iter_mut().find(|x| identity(x).as_ref() == Some(&id)) {
                Some(mine) => add(mine, item),
                None => m.push(item.clone()),
            },
            None => {
                if !m.contains(item) {
                    m.push(item.clone());
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn counters_add_checks_and_times_do_not() {
        let mut a = json!({
            "arrivals": 10, "load_seconds": 60.0, "drain": {"completed": true},
            "invariants": [{"name": "x", "passed": true, "violations": 0, "example": null}],
            "sabotage": ["a"],
            "faults": {"by_kind_and_target": [{"kind": "error", "target": "t", "injected": 2}],
                       "faults": [{"name": "f", "probability": 0.5, "windows": [[1.0, 2.0]]}]}
        });
        let b = json!({
            "arrivals": 5, "load_seconds": 61.5, "drain": {"completed": false},
            "invariants": [{"name": "x", "passed": false, "violations": 3, "example": "key 7"},
                           {"name": "y", "passed": true, "violations": 0, "example": null}],
            "sabotage": ["a", "b"],
            "faults": {"by_kind_and_target": [{"kind": "error", "target": "t", "injected": 1},
                                              {"kind": "delay", "target": "t", "injected": 4}],
                       "faults": [{"name": "f", "probability": 0.5, "windows": [[1.0, 2.0]]}]}
        });
        add(&mut a, &b);
        assert_eq!(
            a,
            json!({
                "arrivals": 15, "load_seconds": 61.5, "drain": {"completed": false},
                "invariants": [{"name": "x", "passed": false, "violations": 3, "example": "key 7"},
                               {"name": "y", "passed": true, "violations": 0, "example": null}],
                "sabotage": ["a", "b"],
                "faults": {"by_kind_and_target": [{"kind": "error", "target": "t", "injected": 3},
                                                  {"kind": "delay", "target": "t", "injected": 4}],
                           "faults": [{"name": "f", "probability": 0.5, "windows": [[1.0, 2.0]]}]}
            })
        );
    }
}

//! Merging a run's own cells: what a user is told when one cannot be read.

use super::*;

#[test]
fn a_cell_that_cannot_be_read_back_is_named_as_this_runs_cell() {
    let tmp = tempfile::tempdir().unwrap();
    let gone = tmp.path().join("cells/cell-1");
    let whole = Whole {
        name: "steady",
        seed: 42,
        settings: "",
        labels: &["cells/cell-1".to_string()],
    };
    let Err(InputError(msg)) = merge_cells(std::slice::from_ref(&gone), tmp.path(), whole) else {
        panic!("a missing cell merged");
    };
    assert!(
        msg.starts_with("error: cannot merge the cells this run wrote: `"),
        "{msg}"
    );
    assert!(msg.contains("cells/cell-1` does not exist."), "{msg}");
    assert!(
        !msg.contains("paystorm merge"),
        "no advice for `merge`: {msg}"
    );
    assert_eq!(msg.lines().count(), 1, "one paragraph: {msg}");
}

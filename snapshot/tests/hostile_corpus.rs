//! Every case of the hostile-tar corpus (testdata/hostile) as an image layer, in both storage
//! modes: refused cases fail and leave no snapshot, accepted ones apply, and nothing outside
//! the snapshot changes on the host.

mod common;

use common::{open, MODES};
use kiln_hostile::{corpus, Outcome, Sentinel};

#[test]
fn every_hostile_layer_is_refused_or_contained() {
    let host = tempfile::tempdir().unwrap();
    let sentinel = Sentinel::new(host.path());
    let mut failures = Vec::new();
    for mode in MODES {
        let dir = tempfile::tempdir().unwrap();
        let s = open(dir.path(), mode);
        for case in corpus(&sentinel) {
            let before = s.list().unwrap();
            let got = s.apply_layer(None, &mut &case.tar[..]);
            let what = format!("{mode:?} / {}", case.name);
            match (case.layer, got) {
                (Outcome::Refused, Ok(_)) => failures.push(format!("{what}: accepted")),
                (Outcome::Refused, Err(_)) => {
                    if s.list().unwrap() != before {
                        failures.push(format!("{what}: a snapshot was left behind"));
                    }
                }
                (Outcome::Accepted, Err(e)) => failures.push(format!("{what}: refused: {e}")),
                (Outcome::Accepted, Ok((id, _))) => {
                    if let Some(check) = case.check {
                        let r = s.with_mounted(Some(&id), check).unwrap();
                        if let Err(e) = r {
                            failures.push(format!("{what}: {e}"));
                        }
                    }
                    s.remove(&id).unwrap();
                }
            }
            if let Err(e) = sentinel.check() {
                failures.push(format!("{what}: {e}"));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

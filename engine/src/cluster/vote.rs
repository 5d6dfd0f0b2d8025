//! The vote on the backends' results for one write statement.

use super::{DetachCause, DetachReason};
use crate::backend::BackendError;

/// One backend's result for a statement, for comparison.
pub(crate) type Verdict = Result<crate::backend::Outcome, BackendError>;

/// Decides which outcome wins among backends (in configuration order) and which backends
/// dissent. Connection errors never vote: those backends are simply out.
pub(crate) fn vote(results: &[(String, Verdict)]) -> (Option<usize>, Vec<(String, DetachReason)>) {
    let key = |v: &Verdict| -> Option<String> {
        match v {
            // A generated key is part of the result: a backend that gave the row another
            // key than the others holds other content.
            Ok(crate::backend::Outcome::Command {
                rows,
                last_insert_id: Some(id),
                ..
            }) => Some(format!("ok:{rows}, generated key {id}")),
            Ok(o) => Some(format!("ok:{}", o.row_count())),
            Err(BackendError::Db(e)) => Some(format!("error:{}", e.sqlstate)),
            Err(_) => None,
        }
    };
    let keys: Vec<Option<String>> = results.iter().map(|(_, v)| key(v)).collect();
    let voters = keys.iter().flatten().count();
    let mut winner: Option<usize> = None;
    let mut best = 0;
    for (i, k) in keys.iter().enumerate() {
        let Some(k) = k else { continue };
        let n = keys.iter().flatten().filter(|x| *x == k).count();
        if n > best {
            best = n;
            winner = Some(i);
        }
    }
    // No strict majority: the first configured voter's side.
    if best * 2 <= voters {
        winner = keys.iter().position(Option::is_some);
    }
    let mut dissent = Vec::new();
    for (i, (name, v)) in results.iter().enumerate() {
        match (&keys[i], winner) {
            (None, _) => dissent.push((
                name.clone(),
                DetachReason::new(
                    DetachCause::Unreachable,
                    v.as_ref().err().map(|e| e.to_string()).unwrap_or_default(),
                ),
            )),
            (Some(k), Some(w)) if keys[w].as_ref() != Some(k) => dissent.push((
                name.clone(),
                DetachReason::new(
                    DetachCause::Disagreed,
                    format!(
                        "result {k} differs from the majority's {}",
                        keys[w].as_deref().unwrap_or("?")
                    ),
                ),
            )),
            _ => {}
        }
    }
    (winner, dissent)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::{DbError, Outcome};

    fn inserted(id: Option<u64>) -> Verdict {
        Ok(Outcome::Command {
            tag: "INSERT 0 1".into(),
            rows: 1,
            last_insert_id: id,
        })
    }

    fn names(d: &[(String, DetachReason)]) -> Vec<(&str, DetachCause)> {
        d.iter().map(|(n, r)| (n.as_str(), r.cause)).collect()
    }

    #[test]
    fn a_backend_that_generated_another_key_dissents() {
        let results = vec![
            ("a".to_string(), inserted(Some(7))),
            ("b".to_string(), inserted(Some(3))),
            ("c".to_string(), inserted(Some(7))),
        ];
        let (winner, dissent) = vote(&results);
        assert_eq!(winner, Some(0));
        assert_eq!(names(&dissent), [("b", DetachCause::Disagreed)]);
    }

    #[test]
    fn the_same_rows_and_the_same_error_agree_and_an_unreachable_backend_is_out() {
        let results = vec![
            ("a".to_string(), inserted(None)),
            ("b".to_string(), inserted(None)),
            (
                "c".to_string(),
                Err(BackendError::Connection {
                    backend: "c".into(),
                    reason: "gone".into(),
                }),
            ),
        ];
        let (winner, dissent) = vote(&results);
        assert_eq!(winner, Some(0));
        assert_eq!(names(&dissent), [("c", DetachCause::Unreachable)]);
        let refused = |code: &str| -> Verdict {
            Err(BackendError::Db(DbError {
                sqlstate: code.into(),
                ..DbError::default()
            }))
        };
        let results = vec![
            ("a".to_string(), refused("23505")),
            ("b".to_string(), refused("23505")),
        ];
        let (winner, dissent) = vote(&results);
        assert_eq!(winner, Some(0));
        assert!(dissent.is_empty());
    }
}

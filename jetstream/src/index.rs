//! Which message of the stream holds which frame: rebuilt from the stream at open, kept
//! in memory after. The stream is the truth; this is how it is read:
//!
//! - a frame counts when it was put alone, or when the commit of its multi-frame put
//!   follows it (a put cut short by a crash left frames without a commit: they never
//!   count, as if never written: no `put_frames` that returned is among them);
//! - a later frame at the same key replaces an earlier one;
//! - a removal takes away the frames stored before it at its keys.
//!
//! What no longer counts is garbage, deleted from the stream when found (at open, and as
//! puts replace and removals remove).

use crate::names::Entry;
use mdbd_engine::log::FrameKey;
use std::collections::{BTreeMap, HashMap};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Slot {
    seq: u64,
    put: Option<u64>,
}

#[derive(Clone, Copy, Debug)]
struct Commit {
    seq: u64,
    live: usize,
}

/// The live frames and the commits they need.
#[derive(Debug, Default)]
pub struct Index {
    frames: BTreeMap<FrameKey, Slot>,
    commits: HashMap<u64, Commit>,
    /// The greatest put id seen (a new put takes a greater one).
    pub max_put: u64,
}

impl Index {
    /// Rebuilds the index from every message of the stream in sequence order; returns it
    /// with the sequences of the garbage found.
    pub fn rebuild(entries: &[(u64, Entry)]) -> (Index, Vec<u64>) {
        let mut index = Index::default();
        let mut garbage = Vec::new();
        let committed: HashMap<u64, u64> = entries
            .iter()
            .filter_map(|(seq, e)| match e {
                Entry::Commit { put } => Some((*put, *seq)),
                _ => None,
            })
            .collect();
        for (seq, entry) in entries {
            match entry {
                Entry::Frame { key, put } => {
                    if let Some(p) = put {
                        index.max_put = index.max_put.max(*p);
                        match committed.get(p) {
                            Some(c) if c > seq => {
                                index
                                    .commits
                                    .entry(*p)
                                    .or_insert(Commit { seq: *c, live: 0 });
                            }
                            _ => {
                                garbage.push(*seq);
                                continue;
                            }
                        }
                    }
                    garbage.extend(index.insert(*key, *seq, *put));
                }
                Entry::Commit { put } => {
                    index.max_put = index.max_put.max(*put);
                    index
                        .commits
                        .entry(*put)
                        .or_insert(Commit { seq: *seq, live: 0 });
                }
                Entry::Claim => garbage.push(*seq),
                Entry::Remove { keys } => {
                    let below: Vec<FrameKey> = keys
                        .iter()
                        .filter(|k| index.frames.get(k).is_some_and(|s| s.seq < *seq))
                        .copied()
                        .collect();
                    garbage.extend(index.remove(&below));
                    garbage.push(*seq);
                }
            }
        }
        // A commit whose frames all went (or that came without any) is garbage too.
        let empty: Vec<u64> = index
            .commits
            .iter()
            .filter(|(_, c)| c.live == 0)
            .map(|(p, _)| *p)
            .collect();
        for p in empty {
            if let Some(c) = index.commits.remove(&p) {
                garbage.push(c.seq);
            }
        }
        garbage.sort_unstable();
        (index, garbage)
    }

    /// Records frame `key` at `seq` (of put `put`, whose commit must be recorded first
    /// when `Some`); returns the sequences it made garbage (the frame it replaced, and
    /// that frame's commit if it was the last of its put).
    pub fn insert(&mut self, key: FrameKey, seq: u64, put: Option<u64>) -> Vec<u64> {
        if let Some(p) = put {
            if let Some(c) = self.commits.get_mut(&p) {
                c.live += 1;
            }
        }
        match self.frames.insert(key, Slot { seq, put }) {
            Some(old) => {
                let mut garbage = vec![old.seq];
                garbage.extend(self.release(old.put));
                garbage
            }
            None => Vec::new(),
        }
    }

    /// Records the commit of put `put` at `seq`, before its frames are inserted.
    pub fn commit(&mut self, put: u64, seq: u64) {
        self.max_put = self.max_put.max(put);
        self.commits.insert(put, Commit { seq, live: 0 });
    }

    /// Forgets the frames at `keys`; returns the sequences to delete (theirs and those of
    /// commits left without frames).
    pub fn remove(&mut self, keys: &[FrameKey]) -> Vec<u64> {
        let mut garbage = Vec::new();
        for key in keys {
            if let Some(slot) = self.frames.remove(key) {
                garbage.push(slot.seq);
                garbage.extend(self.release(slot.put));
            }
        }
        garbage
    }

    fn release(&mut self, put: Option<u64>) -> Option<u64> {
        let p = put?;
        let c = self.commits.get_mut(&p)?;
        c.live = c.live.saturating_sub(1);
        if c.live == 0 {
            return self.commits.remove(&p).map(|c| c.seq);
        }
        None
    }

    /// The sequence below which the stream may be purged in one request once `keys` are
    /// removed, when every message still needed is at or above it: the lowest sequence of
    /// a frame or commit that stays. `None` when a frame that stays is below a removed one
    /// (the removal is not a prefix).
    pub fn purge_floor(&self, keys: &[FrameKey]) -> Option<u64> {
        let removed: std::collections::BTreeSet<FrameKey> = keys.iter().copied().collect();
        let highest_removed = keys
            .iter()
            .filter_map(|k| self.frames.get(k).map(|s| s.seq))
            .max()?;
        let kept = self.frames.iter().filter(|(k, _)| !removed.contains(k));
        // A commit stays while a frame of its put stays.
        let lowest_kept = kept
            .flat_map(|(_, s)| {
                let commit = s.put.and_then(|p| self.commits.get(&p)).map(|c| c.seq);
                std::iter::once(s.seq).chain(commit)
            })
            .min();
        match lowest_kept {
            Some(low) if low < highest_removed => None,
            Some(low) => Some(low),
            None => Some(highest_removed + 1),
        }
    }

    /// The sequence of the frame at `key`.
    pub fn get(&self, key: FrameKey) -> Option<u64> {
        self.frames.get(&key).map(|s| s.seq)
    }

    /// The frame with the greatest key `<= key`.
    pub fn at_or_before(&self, key: FrameKey) -> Option<(FrameKey, u64)> {
        self.frames
            .range(..=key)
            .next_back()
            .map(|(k, s)| (*k, s.seq))
    }

    /// Frames with key `>= from`, in key order.
    pub fn from(&self, from: FrameKey) -> Vec<(FrameKey, u64)> {
        self.frames
            .range(from..)
            .map(|(k, s)| (*k, s.seq))
            .collect()
    }

    /// Number of live frames.
    pub fn len(&self) -> usize {
        self.frames.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mdbd_engine::log::Lsn;

    fn k(lsn: u64, part: u32) -> FrameKey {
        FrameKey {
            lsn: Lsn(lsn),
            part,
        }
    }

    fn frame(key: FrameKey, put: Option<u64>) -> Entry {
        Entry::Frame { key, put }
    }

    #[test]
    fn a_multi_frame_put_without_its_commit_never_counts() {
        let entries = vec![
            (1, frame(k(1, 0), None)),
            (2, frame(k(2, 0), Some(7))),
            (3, frame(k(2, 1), Some(7))),
            (4, Entry::Commit { put: 7 }),
            // A crash cut this one short: its commit never came.
            (5, frame(k(3, 0), Some(8))),
            (6, frame(k(3, 1), Some(8))),
        ];
        let (index, garbage) = Index::rebuild(&entries);
        assert_eq!(index.from(k(0, 0)).len(), 3);
        assert_eq!(index.get(k(3, 0)), None);
        assert_eq!(garbage, vec![5, 6]);
        assert_eq!(index.max_put, 8);
    }

    #[test]
    fn a_removal_takes_only_frames_stored_before_it() {
        let entries = vec![
            (1, frame(k(1, 0), None)),
            (2, frame(k(2, 0), None)),
            (
                3,
                Entry::Remove {
                    keys: vec![k(1, 0), k(2, 0)],
                },
            ),
            // Written again at a removed key after the removal: it stays.
            (4, frame(k(2, 0), None)),
        ];
        let (index, garbage) = Index::rebuild(&entries);
        assert_eq!(index.from(k(0, 0)), vec![(k(2, 0), 4)]);
        assert_eq!(garbage, vec![1, 2, 3]);
    }

    #[test]
    fn a_commit_goes_with_the_last_frame_of_its_put() {
        let mut index = Index::default();
        index.commit(1, 3);
        assert!(index.insert(k(1, 0), 1, Some(1)).is_empty());
        assert!(index.insert(k(1, 1), 2, Some(1)).is_empty());
        assert_eq!(index.remove(&[k(1, 0)]), vec![1]);
        assert_eq!(index.remove(&[k(1, 1)]), vec![2, 3]);
        // Replacing a frame makes the old one garbage.
        assert!(index.insert(k(5, 0), 10, None).is_empty());
        assert_eq!(index.insert(k(5, 0), 11, None), vec![10]);
    }

    #[test]
    fn a_prefix_removal_is_purged_below_the_first_message_that_stays() {
        let mut index = Index::default();
        index.insert(k(1, 0), 1, None);
        index.commit(9, 4);
        index.insert(k(2, 0), 2, Some(9));
        index.insert(k(2, 1), 3, Some(9));
        index.insert(k(3, 0), 5, None);
        assert_eq!(index.purge_floor(&[k(1, 0)]), Some(2));
        // The put's commit (4) stays while one of its frames does.
        assert_eq!(index.purge_floor(&[k(1, 0), k(2, 0)]), Some(3));
        assert_eq!(index.purge_floor(&[k(1, 0), k(2, 0), k(2, 1)]), Some(5));
        assert_eq!(index.purge_floor(&[k(3, 0)]), None);
        assert_eq!(
            index.purge_floor(&[k(1, 0), k(2, 0), k(2, 1), k(3, 0)]),
            Some(6)
        );
        assert_eq!(index.purge_floor(&[k(8, 0)]), None);
    }
}

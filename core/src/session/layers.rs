//! Learning a v2 torrent's piece layers from peers (BEP 52 hash requests), for a torrent
//! whose metadata came without them: a `urn:btmh:` magnet (the info dictionary travels over
//! ut_metadata; `piece layers` sit outside it), or a v2 .torrent stripped of them.
//!
//! [`LayerFetch`] cuts each missing layer into runs of at most [`RUN`] piece hashes, asks v2
//! peers for them (at most [`PER_PEER`] in flight per peer), checks every answer against the
//! file's `pieces root` before keeping it (a run that does not prove names its sender, who is
//! dropped), and gives the metainfo back, layers included, once every run is in. A run that is
//! refused, times out or loses its peer is asked of another peer; a peer that refused a run is
//! not asked for it again until every connected peer has refused it.

use std::time::{Duration, Instant};

use super::io::ConnId;
use crate::merkle::exchange::{check_answer, full_proof_layers};
use crate::merkle::{Hash, leaf_count, piece_height};
use crate::metainfo::Metainfo;
use crate::wire::hashes::{HASH_LEN, HashRequest};

/// Piece hashes asked in one request (libtorrent asks 512 at a time).
pub(crate) const RUN: u64 = 512;
/// Hash requests in flight to one peer.
pub(crate) const PER_PEER: usize = 2;
/// How long a peer has to answer before the run is asked of another.
pub(crate) const ANSWER_TIMEOUT: Duration = Duration::from_secs(20);
/// Refusals remembered per run (beyond that the list starts over).
const MAX_REFUSALS: usize = 64;

/// A torrent's piece layers being fetched.
#[derive(Debug)]
pub(crate) struct LayerFetch {
    meta: Metainfo,
    files: Vec<Wanted>,
    runs: Vec<Run>,
}

/// One missing layer.
#[derive(Debug)]
struct Wanted {
    root: Hash,
    length: u64,
    pieces: u64,
}

#[derive(Debug)]
struct Run {
    file: usize,
    index: u64,
    count: u64,
    state: State,
    refused: Vec<ConnId>,
}

#[derive(Debug)]
enum State {
    Wanted,
    Asked { conn: ConnId, since: Instant },
    Got(Vec<Hash>),
}

/// A peer's answer proved wrong: the run did not hash up to the file's root.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct BadHashes;

impl LayerFetch {
    /// A fetch of `meta`'s missing layers; `None` if it lacks none.
    pub(crate) fn new(meta: Metainfo) -> Option<Self> {
        let missing = meta.missing_piece_layers();
        if missing.is_empty() {
            return None;
        }
        let piece_length = u64::from(meta.piece_length());
        let height = piece_height(meta.piece_length())?;
        let mut files = Vec::new();
        let mut runs = Vec::new();
        for (_, root, length) in missing {
            let pieces = length.div_ceil(piece_length);
            let width = leaf_count(length) >> height;
            let count = RUN.min(width);
            let file = files.len();
            files.push(Wanted {
                root,
                length,
                pieces,
            });
            for index in (0..pieces).step_by(count as usize) {
                runs.push(Run {
                    file,
                    index,
                    count,
                    state: State::Wanted,
                    refused: Vec::new(),
                });
            }
        }
        Some(Self { meta, files, runs })
    }

    /// The requests to send to `conn`, a v2 peer with `in_flight` hash requests of ours.
    pub(crate) fn requests_for(
        &mut self,
        now: Instant,
        conn: ConnId,
        in_flight: usize,
    ) -> Vec<HashRequest> {
        let asked = self
            .runs
            .iter()
            .filter(|r| matches!(r.state, State::Asked { conn: c, .. } if c == conn))
            .count();
        let room = PER_PEER.saturating_sub(asked.max(in_flight));
        let mut out = Vec::new();
        let height = piece_height(self.meta.piece_length()).unwrap_or(0);
        for i in 0..self.runs.len() {
            if out.len() >= room {
                break;
            }
            let run = &self.runs[i];
            if !matches!(run.state, State::Wanted) || run.refused.contains(&conn) {
                continue;
            }
            let request = self.request(i, height);
            self.runs[i].state = State::Asked { conn, since: now };
            out.push(request);
        }
        out
    }

    fn request(&self, run: usize, height: u32) -> HashRequest {
        let r = &self.runs[run];
        let f = &self.files[r.file];
        let width = leaf_count(f.length) >> height;
        HashRequest {
            pieces_root: f.root,
            base_layer: height,
            index: r.index as u32,
            length: r.count as u32,
            proof_layers: full_proof_layers(r.count, width),
        }
    }

    /// The run `request` names, if it is one of ours.
    fn run_of(&self, request: &HashRequest) -> Option<usize> {
        let height = piece_height(self.meta.piece_length())?;
        self.runs.iter().enumerate().position(|(i, r)| {
            self.files[r.file].root == request.pieces_root && self.request(i, height) == *request
        })
    }

    /// A peer answered `request` with `hashes` (32 bytes each): kept if they prove against
    /// the file's root, else [`BadHashes`] (drop the peer). Answers to requests we no longer
    /// need are ignored.
    pub(crate) fn answered(
        &mut self,
        request: &HashRequest,
        hashes: &[u8],
    ) -> Result<(), BadHashes> {
        let Some(i) = self.run_of(request) else {
            return Ok(());
        };
        let (file, index, count) = (self.runs[i].file, self.runs[i].index, self.runs[i].count);
        let f = &self.files[file];
        let nodes: Vec<Hash> = hashes
            .chunks_exact(HASH_LEN)
            .map(|c| <Hash>::try_from(c).unwrap_or_default())
            .collect();
        let run = check_answer(&f.root, f.length, request.base_layer, index, count, &nodes)
            .ok_or(BadHashes)?;
        let pieces = f.pieces;
        if !matches!(self.runs[i].state, State::Got(_)) {
            let keep = (pieces - index).min(count) as usize;
            self.runs[i].state = State::Got(run[..keep].to_vec());
            self.assemble(file);
        }
        Ok(())
    }

    /// When every run of `file` is in, its layer joins the metainfo.
    fn assemble(&mut self, file: usize) {
        let mut layer = Vec::new();
        for r in self.runs.iter().filter(|r| r.file == file) {
            match &r.state {
                State::Got(h) => layer.extend_from_slice(h),
                _ => return,
            }
        }
        let root = self.files[file].root;
        // Each run proved against the root, so the layer does too.
        let _ = self.meta.add_piece_layer(root, layer);
    }

    /// `conn` refused `request`: the run is asked of another peer.
    pub(crate) fn rejected(&mut self, conn: ConnId, request: &HashRequest) {
        if let Some(i) = self.run_of(request) {
            self.give_back(i, conn);
        }
    }

    fn give_back(&mut self, i: usize, conn: ConnId) {
        let run = &mut self.runs[i];
        if matches!(run.state, State::Asked { conn: c, .. } if c == conn) {
            run.state = State::Wanted;
        }
        if run.refused.len() >= MAX_REFUSALS {
            run.refused.clear();
        }
        if !run.refused.contains(&conn) {
            run.refused.push(conn);
        }
    }

    /// `conn` closed: its runs are asked of others.
    pub(crate) fn peer_gone(&mut self, conn: ConnId) {
        for run in &mut self.runs {
            if matches!(run.state, State::Asked { conn: c, .. } if c == conn) {
                run.state = State::Wanted;
            }
            run.refused.retain(|c| *c != conn);
        }
    }

    /// Every peer in `peers` refused every run still wanted: forget the refusals, so the runs
    /// are asked again (a peer may have learned the hashes since).
    pub(crate) fn retry_if_stuck(&mut self, peers: &[ConnId]) {
        let stuck = self.runs.iter().any(|r| matches!(r.state, State::Wanted))
            && self
                .runs
                .iter()
                .filter(|r| matches!(r.state, State::Wanted))
                .all(|r| peers.iter().all(|c| r.refused.contains(c)));
        if stuck {
            for run in &mut self.runs {
                run.refused.clear();
            }
        }
    }

    /// Runs asked too long ago go back to be asked of another peer.
    pub(crate) fn handle_timeout(&mut self, now: Instant) {
        for i in 0..self.runs.len() {
            if let State::Asked { conn, since } = self.runs[i].state
                && now >= since + ANSWER_TIMEOUT
            {
                self.give_back(i, conn);
            }
        }
    }

    /// When the oldest request in flight times out.
    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        self.runs
            .iter()
            .filter_map(|r| match r.state {
                State::Asked { since, .. } => Some(since + ANSWER_TIMEOUT),
                _ => None,
            })
            .min()
    }

    /// Whether every layer is in.
    pub(crate) fn is_complete(&self) -> bool {
        self.runs.iter().all(|r| matches!(r.state, State::Got(_)))
    }

    /// Ends the fetch: the metainfo with the layers learned.
    pub(crate) fn into_meta(self) -> Metainfo {
        self.meta
    }
}

#[cfg(test)]
#[path = "layers_tests.rs"]
mod tests;

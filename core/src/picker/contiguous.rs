//! Picking for a web seed (BEP 19): an HTTP range request costs a round trip and a request
//! head whatever its length, so a web seed is given runs of whole pieces that follow each
//! other in the torrent (as libtorrent's `prefer_contiguous_blocks` does), not the scattered
//! rarest-first set a peer gets.

use std::time::Instant;

use super::{BlockRef, PeerKey, Picker};

impl Picker {
    /// Up to `max` blocks for `peer`, contiguous where the torrent allows: the free blocks of
    /// one piece (a partly downloaded one first, else the piece rarest first or sequential
    /// order would start), then the untouched wanted pieces right after it, of the same
    /// priority, while the run stays unbroken. In endgame, blocks already requested from
    /// others. Nothing for a banned, choking or snubbed-and-busy peer.
    pub(crate) fn pick_contiguous(
        &mut self,
        now: Instant,
        peer: PeerKey,
        max: usize,
    ) -> Vec<BlockRef> {
        let Some(state) = self.peers.get(&peer) else {
            return Vec::new();
        };
        if state.banned || !state.unchoked || (state.snubbed && !state.inflight.is_empty()) {
            return Vec::new();
        }
        let mut want = if state.snubbed { 1 } else { max };
        let mut out = Vec::new();
        let first = self
            .partial
            .iter()
            .copied()
            .find(|&p| self.wants(p) && self.peers[&peer].has(p))
            .or_else(|| {
                let next = if self.config.sequential {
                    self.next_sequential(peer)
                } else {
                    self.next_rarest(peer)
                };
                next.inspect(|&p| self.start_piece(p))
            });
        if let Some(mut piece) = first {
            self.take_free_blocks(piece, peer, &mut want, &mut out);
            let prio = self.priority(piece);
            while want > 0 && piece + 1 < self.piece_count {
                piece += 1;
                if !self.listed(piece)
                    || self.priority(piece) != prio
                    || !self.peers[&peer].has(piece)
                {
                    break;
                }
                self.start_piece(piece);
                self.take_free_blocks(piece, peer, &mut want, &mut out);
            }
        } else if self.in_endgame() {
            self.pick_endgame(peer, &mut want, &mut out);
        }
        if let Some(state) = self.peers.get_mut(&peer) {
            state.inflight.extend(out.iter().map(|r| (*r, now)));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layout::Layout;
    use crate::picker::PickerConfig;

    fn picker(pieces: u64) -> Picker {
        let layout = Layout::new(32 * 1024, [(pieces * 32 * 1024, false)]).unwrap();
        Picker::new(&layout, PickerConfig::default(), 5)
    }

    #[test]
    fn a_web_seed_gets_whole_pieces_that_follow_each_other() {
        let now = Instant::now();
        let mut p = picker(64);
        let web = PeerKey(1);
        p.add_peer(web);
        p.peer_have_all(web).unwrap();
        p.peer_unchoked(now, web);
        let got = p.pick_contiguous(now, web, 8);
        assert_eq!(got.len(), 8);
        for pair in got.windows(2) {
            let next = if pair[0].offset == 16 * 1024 {
                (pair[0].piece + 1, 0)
            } else {
                (pair[0].piece, 16 * 1024)
            };
            assert_eq!((pair[1].piece, pair[1].offset), next, "{got:?}");
        }
        p.check_invariants().unwrap();
    }

    #[test]
    fn the_run_stops_at_a_piece_started_for_someone_else() {
        let now = Instant::now();
        let mut p = picker(8);
        p.set_sequential(true);
        let peer = PeerKey(2);
        p.add_peer(peer);
        p.peer_bitfield(peer, &[0b0000_0100]).unwrap();
        p.peer_unchoked(now, peer);
        let theirs = p.pick_contiguous(now, peer, 1);
        assert_eq!((theirs[0].piece, theirs[0].offset), (5, 0));
        let web = PeerKey(1);
        p.add_peer(web);
        p.peer_have_all(web).unwrap();
        p.peer_unchoked(now, web);
        let pieces = |v: &[BlockRef]| v.iter().map(|b| (b.piece, b.offset)).collect::<Vec<_>>();
        // The started piece is finished first.
        let got = p.pick_contiguous(now, web, 1);
        assert_eq!(pieces(&got), [(5, 16384)]);
        // Then pieces 0 to 4, not 6 and 7 after the started piece 5, though 100 blocks were
        // allowed.
        let got = p.pick_contiguous(now, web, 100);
        let want: Vec<(u32, u32)> = (0..5).flat_map(|p| [(p, 0), (p, 16384)]).collect();
        assert_eq!(pieces(&got), want);
        assert_eq!(
            pieces(&p.pick_contiguous(now, web, 100)),
            [(6, 0), (6, 16384), (7, 0), (7, 16384)]
        );
        p.check_invariants().unwrap();
    }

    #[test]
    fn a_banned_or_choking_peer_gets_nothing() {
        let now = Instant::now();
        let mut p = picker(4);
        let web = PeerKey(1);
        p.add_peer(web);
        p.peer_have_all(web).unwrap();
        assert!(p.pick_contiguous(now, web, 8).is_empty(), "choking");
        p.peer_unchoked(now, web);
        assert!(!p.pick_contiguous(now, web, 2).is_empty());
    }
}

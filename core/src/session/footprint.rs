//! [`Footprint`]: what the session holds that a flood could grow, in counts and bytes, each
//! bounded by a limit of [`SessionConfig`](super::SessionConfig) or of the DHT's
//! configuration. Tests and the application read it to check that hostile traffic costs
//! bounded memory.

use super::outputs::Outputs;
use super::peers::Peers;
use super::pipeline::Jobs;
use super::streams::Streams;
use super::torrent::table::Torrents;
use crate::dht::Dht;

/// What the session holds now; see [`Session::footprint`](super::Session::footprint).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Footprint {
    /// Connections of any kind: dialling, handshaking, established (`max_connections`).
    pub connections: usize,
    /// Bytes held for connections: received and not yet decoded (at most one partial
    /// message each), queued to send, being read from disk for them
    /// (`max_upload_queue_bytes` each) and handed to the runtime but not yet written
    /// (`max_send_backlog` each).
    pub buffered_bytes: usize,
    /// Addresses the penalty box remembers (`max_penalized_addresses`).
    pub penalized_addresses: usize,
    /// Candidate peers known over all torrents (`max_candidates_per_torrent` each).
    pub candidates: usize,
    /// Transmits, actions and events not yet polled.
    pub queued_outputs: usize,
    /// Disk jobs handed to the runtime and not yet completed.
    pub pending_disk_jobs: usize,
    /// uTP connections open or closing on the session's socket (`max_connections` plus
    /// those refused and closing).
    pub utp_connections: usize,
    /// Nodes in the DHT's routing table (0 without the DHT).
    pub dht_nodes: usize,
    /// Peers in the DHT's announce store.
    pub dht_stored_peers: usize,
    /// Addresses the DHT's rate limiter tracks one by one.
    pub dht_rate_tracked: usize,
    /// The DHT's queries awaiting an answer, datagrams and events not yet polled.
    pub dht_queued: usize,
}

impl Footprint {
    /// The larger of each field: a peak over several readings.
    #[must_use]
    pub fn max(self, other: Self) -> Self {
        Self {
            connections: self.connections.max(other.connections),
            buffered_bytes: self.buffered_bytes.max(other.buffered_bytes),
            penalized_addresses: self.penalized_addresses.max(other.penalized_addresses),
            candidates: self.candidates.max(other.candidates),
            queued_outputs: self.queued_outputs.max(other.queued_outputs),
            pending_disk_jobs: self.pending_disk_jobs.max(other.pending_disk_jobs),
            utp_connections: self.utp_connections.max(other.utp_connections),
            dht_nodes: self.dht_nodes.max(other.dht_nodes),
            dht_stored_peers: self.dht_stored_peers.max(other.dht_stored_peers),
            dht_rate_tracked: self.dht_rate_tracked.max(other.dht_rate_tracked),
            dht_queued: self.dht_queued.max(other.dht_queued),
        }
    }

    /// Measures the parts.
    pub(crate) fn of(
        peers: &Peers,
        torrents: &Torrents,
        out: &Outputs,
        jobs: &Jobs,
        streams: &Streams,
        dht: Option<&Dht>,
    ) -> Self {
        let buffered_bytes = peers
            .iter()
            .map(|(_, p)| p.conn.recv_buffered() + p.conn.send_buffered() + p.upload.held_bytes())
            .sum();
        Self {
            connections: peers.total(),
            buffered_bytes,
            penalized_addresses: peers.penalties.len(),
            candidates: torrents.values().map(|t| t.candidates.len()).sum(),
            queued_outputs: out.len(),
            pending_disk_jobs: jobs.len(),
            utp_connections: streams.utp_connections(),
            dht_nodes: dht.map_or(0, |d| d.routing_table().len()),
            dht_stored_peers: dht.map_or(0, |d| d.peer_store().len()),
            dht_rate_tracked: dht.map_or(0, |d| d.rate_limiter().tracked()),
            dht_queued: dht.map_or(0, Dht::queued),
        }
    }
}

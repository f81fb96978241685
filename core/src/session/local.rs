//! Local service discovery (BEP 14) in the session: which torrents the [`Lsd`] machine
//! announces (running, not private) and where the peers it finds go (the torrent's
//! candidates, as [`Source::Lsd`]).

use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use super::config::SessionConfig;
use super::connect::OwnAddr;
use super::io::{Dest, Transmit};
use super::outputs::Outputs;
use super::torrent::Torrent;
use super::torrent::candidates::Source;
use super::torrent::table::Torrents;
use crate::lsd::{GROUP_V4, Lsd, groups_for};
use crate::rng::Rng;

/// The machine, if `config` turns discovery on (announcing the configured port until the
/// runtime tells the listening address).
pub(super) fn start(config: &SessionConfig, now: Instant, rng: &mut Rng) -> Option<Lsd> {
    let lsd = config.local_discovery.clone()?;
    Some(Lsd::new(lsd, &[GROUP_V4], config.listen_port, rng, now))
}

/// Turns discovery on or off at run time: on, a machine for `listen_ip` (if the runtime told
/// it) announcing every torrent in the swarm; off, none.
pub(super) fn switch(
    lsd: &mut Option<Lsd>,
    config: &SessionConfig,
    now: Instant,
    rng: &mut Rng,
    listen_ip: Option<IpAddr>,
    torrents: &Torrents,
) {
    if config.local_discovery.is_none() {
        *lsd = None;
        return;
    }
    if lsd.is_some() {
        return;
    }
    let mut machine = start(config, now, rng);
    if let (Some(m), Some(ip)) = (machine.as_mut(), listen_ip) {
        m.set_listen(groups_for(ip), config.listen_port);
    }
    for t in torrents.values() {
        if t.swarm_started && t.is_active() {
            join(machine.as_mut(), now, t);
        }
    }
    *lsd = machine;
}

/// Announces `torrent` from now on, unless it is private.
pub(super) fn join(lsd: Option<&mut Lsd>, now: Instant, torrent: &Torrent) {
    if let Some(lsd) = lsd
        && !torrent.private
    {
        lsd.add(now, torrent.info_hash);
    }
}

/// Stops announcing `torrent`.
pub(super) fn leave(lsd: Option<&mut Lsd>, torrent: &Torrent) {
    if let Some(lsd) = lsd {
        lsd.remove(torrent.info_hash);
    }
}

/// Sends what is due at `now`.
pub(super) fn timeout(lsd: Option<&mut Lsd>, now: Instant, out: &mut Outputs) {
    let Some(lsd) = lsd else { return };
    if lsd.poll_timeout().is_some_and(|at| at <= now) {
        lsd.handle_timeout(now);
    }
    while let Some((group, datagram)) = lsd.poll_transmit() {
        out.transmit(Transmit {
            dest: Dest::LocalDiscovery(group),
            payload: datagram.into(),
        });
    }
}

/// A received datagram: its peers become candidates of the torrents they are for. Hostile
/// or foreign datagrams are dropped (the machine bounds what one may bring).
pub(super) fn datagram(
    lsd: Option<&mut Lsd>,
    now: Instant,
    from: SocketAddr,
    data: &[u8],
    torrents: &mut Torrents,
    own: OwnAddr,
) {
    let Some(lsd) = lsd else { return };
    let Ok(found) = lsd.handle_datagram(now, from, data) else {
        return;
    };
    for peer in found {
        if let Some(id) = torrents.by_hash(&peer.info_hash)
            && let Some(t) = torrents.get_mut(&id)
            && !t.private
        {
            t.add_candidates(&[peer.addr], Source::Lsd, own);
        }
    }
}

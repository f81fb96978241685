//! One uTP connection: the state machine between the packets of one peer and a byte stream.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::ledbat::Ledbat;
use super::mtu::PathMtu;
use super::packet::{HEADER_LEN, Header, Packet, PacketType};
use super::pool::BlockPool;
use super::recv::{Received, RecvBuffer};
use super::rtt::RttEstimator;
use super::sack::MAX_SACK_BYTES;
use super::send::{DUP_ACK_THRESHOLD, SendBuffer};
use super::seq::Seq;

/// Settings of a connection.
#[derive(Clone, Debug)]
pub struct Config {
    /// The datagram size a connection starts at, headers included: 1,200 fits any IPv6 path
    /// (1,280 minus the IPv6 and UDP headers) and needs no fragmentation.
    pub packet_size: usize,
    /// The largest datagram path MTU discovery tries, headers included: the interface's MTU
    /// minus the IP and UDP headers ([`UtpSocket`](super::UtpSocket) sets it per peer from
    /// [`SocketConfig::link_mtu`](super::SocketConfig::link_mtu)). Not above `packet_size`:
    /// no discovery.
    pub max_packet_size: usize,
    /// Bytes written and not yet acknowledged, at most.
    pub send_buffer: usize,
    /// Bytes received and not yet read, at most (the advertised window).
    pub recv_buffer: usize,
    /// Packets held past a gap, at most.
    pub max_reorder: usize,
    /// SYN transmissions before a connect fails.
    pub syn_attempts: u32,
    /// Retransmission timeouts in a row before an established connection fails.
    pub max_timeouts: u32,
    /// Idle time after which an ST_STATE keeps the path (and NAT mappings) open.
    pub keepalive: Duration,
    /// Silence from the peer after which the connection fails.
    pub idle_timeout: Duration,
    /// How long a gracefully closed connection still answers a resent FIN.
    pub linger: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            packet_size: 1200,
            max_packet_size: 1200,
            send_buffer: 1 << 20,
            recv_buffer: 1 << 20,
            max_reorder: 1024,
            syn_attempts: 3,
            max_timeouts: 6,
            keepalive: Duration::from_secs(29),
            idle_timeout: Duration::from_secs(120),
            linger: Duration::from_secs(5),
        }
    }
}

/// What a connection tells the application.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConnEvent {
    /// Our SYN was answered: the connection is open.
    Connected,
    /// Bytes (or the end of the stream) can be read.
    Readable,
    /// A write that was cut short has room again.
    Writable,
    /// The connection ended; nothing more will be sent.
    Closed(CloseReason),
}

/// Why a connection ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CloseReason {
    /// Both sides sent FIN and every byte was acknowledged.
    Finished,
    /// The peer sent ST_RESET (or refused our SYN).
    Reset,
    /// The peer stopped answering (SYN, retransmissions or idle time).
    TimedOut,
    /// We reset it ([`Connection::reset`]), or closed it before it opened.
    Aborted,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    SynSent,
    /// Accepted; no packet but the SYN came from the peer yet.
    SynRecv,
    Established,
    Closed,
}

/// A uTP connection. Made by a [`UtpSocket`](super::UtpSocket), which routes its datagrams.
#[derive(Debug)]
pub struct Connection {
    config: Config,
    state: State,
    epoch: Instant,
    recv_id: u16,
    send_id: u16,
    send: SendBuffer,
    recv: RecvBuffer,
    rtt: RttEstimator,
    ledbat: Ledbat,
    mtu: PathMtu,
    peer_wnd: usize,
    reply_micro: u32,
    ack_pending: bool,
    reset_pending: bool,
    dup_acks: usize,
    /// Losses of packets up to this one were already answered by a window cut.
    recovery_until: Option<Seq>,
    timeouts: u32,
    rto_at: Option<Instant>,
    probe: bool,
    last_sent: Instant,
    last_recv: Instant,
    close_requested: bool,
    fin_seq: Option<Seq>,
    write_blocked: bool,
    readable_signalled: bool,
    closed_at: Option<Instant>,
    events: VecDeque<ConnEvent>,
}

impl Connection {
    /// A connection that sends a SYN with receive id `recv_id` and sequence number `seq`.
    pub(crate) fn connect(
        config: Config,
        epoch: Instant,
        now: Instant,
        recv_id: u16,
        seq: Seq,
    ) -> Self {
        let mut c = Self::new(
            config,
            epoch,
            now,
            State::SynSent,
            recv_id,
            recv_id.wrapping_add(1),
            seq,
            Seq(0),
        );
        c.send.push(PacketType::Syn, Bytes::new(), now);
        c.send.all_lost();
        c
    }

    /// A connection answering `syn` (already parsed and routed), with our first sequence
    /// number `seq`.
    pub(crate) fn accept(
        config: Config,
        epoch: Instant,
        now: Instant,
        syn: &Packet<'_>,
        seq: Seq,
    ) -> Self {
        let id = syn.header.connection_id;
        let mut c = Self::new(
            config,
            epoch,
            now,
            State::SynRecv,
            id.wrapping_add(1),
            id,
            seq,
            syn.header.seq_nr,
        );
        c.on_timestamps(now, &syn.header);
        c.peer_wnd = syn.header.wnd_size as usize;
        c.ack_pending = true;
        c.rto_at = Some(now + HALF_OPEN_TIMEOUT);
        c
    }

    #[allow(clippy::too_many_arguments)]
    fn new(
        config: Config,
        epoch: Instant,
        now: Instant,
        state: State,
        recv_id: u16,
        send_id: u16,
        seq: Seq,
        ack_nr: Seq,
    ) -> Self {
        let mtu = PathMtu::new(config.packet_size, config.max_packet_size);
        let mss = mtu.packet_size().saturating_sub(HEADER_LEN).max(1);
        Self {
            mtu,
            send: SendBuffer::new(seq, config.send_buffer),
            recv: RecvBuffer::new(ack_nr, config.recv_buffer, config.max_reorder),
            ledbat: Ledbat::new(mss),
            config,
            state,
            epoch,
            recv_id,
            send_id,
            rtt: RttEstimator::default(),
            peer_wnd: mss,
            reply_micro: 0,
            ack_pending: false,
            reset_pending: false,
            dup_acks: 0,
            recovery_until: None,
            timeouts: 0,
            rto_at: None,
            probe: false,
            last_sent: now,
            last_recv: now,
            close_requested: false,
            fin_seq: None,
            write_blocked: false,
            readable_signalled: false,
            closed_at: None,
            events: VecDeque::new(),
        }
    }

    /// The connection id our peer puts on the packets it sends us.
    pub fn recv_id(&self) -> u16 {
        self.recv_id
    }

    /// Whether this is an accepted connection that heard nothing after the SYN.
    pub(crate) fn is_half_open(&self) -> bool {
        self.state == State::SynRecv
    }

    /// Whether the connection ended.
    pub fn is_closed(&self) -> bool {
        self.state == State::Closed
    }

    /// The congestion window in bytes.
    pub fn congestion_window(&self) -> usize {
        self.ledbat.window()
    }

    /// The size of the datagrams sent (headers included), as path MTU discovery found it.
    pub fn packet_size(&self) -> usize {
        self.mtu.packet_size()
    }

    /// The smoothed round-trip time, once measured.
    pub fn rtt(&self) -> Option<Duration> {
        self.rtt.srtt()
    }

    /// Our estimate of the queueing delay our packets meet, once measured.
    pub fn queueing_delay(&self) -> Option<Duration> {
        self.ledbat.queueing_delay()
    }

    /// Bytes that [`Connection::read`] would return now.
    pub fn readable(&self) -> usize {
        self.recv.readable()
    }

    /// Queues bytes to send; returns how many fit (the rest: try again after
    /// [`ConnEvent::Writable`]). Nothing is taken once the connection is closing.
    pub fn write(&mut self, data: &[u8]) -> usize {
        if self.close_requested || self.state == State::Closed {
            return 0;
        }
        let n = self.send.write(data);
        if n < data.len() {
            self.write_blocked = true;
        }
        n
    }

    /// Copies received bytes into `buf`: `Some(n)` bytes, `Some(0)` once the peer finished
    /// and every byte was read, `None` when nothing is there yet.
    pub fn read(&mut self, buf: &mut [u8]) -> Option<usize> {
        let before = self.recv.window();
        let n = self.recv.read(buf);
        self.after_read(before);
        n
    }

    /// Takes up to `max` received bytes without a copy: as [`Connection::read`] into a
    /// buffer of `max` bytes (`Some` of nothing once the peer finished and every byte was
    /// read).
    pub fn read_bytes(&mut self, max: usize) -> Option<bytes::BytesMut> {
        let before = self.recv.window();
        let taken = self.recv.take(max);
        self.after_read(before);
        taken
    }

    fn after_read(&mut self, before: u32) {
        let mss = self.mss() as u32;
        if self.recv.readable() == 0 {
            self.readable_signalled = false;
        }
        if before < mss && self.recv.window() >= mss && self.state != State::Closed {
            // The window reopened: tell the peer.
            self.ack_pending = true;
        }
    }

    /// Sends FIN once every written byte is sent; the connection ends when both sides
    /// finished.
    pub fn close(&mut self, now: Instant) {
        match self.state {
            State::SynSent => self.finish(now, CloseReason::Aborted, false),
            State::Closed => {}
            _ => self.close_requested = true,
        }
    }

    /// Ends the connection at once with ST_RESET.
    pub fn reset(&mut self, now: Instant) {
        if self.state != State::Closed {
            self.reset_pending = self.state != State::SynSent;
            self.finish(now, CloseReason::Aborted, false);
        }
    }

    /// The next event for the application.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<ConnEvent> {
        self.events.pop_front()
    }

    /// When [`Connection::handle_timeout`] must be called next.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.state == State::Closed {
            return self.closed_at.map(|t| t + self.linger());
        }
        let mut t = self.last_recv + self.config.idle_timeout;
        if let Some(rto) = self.rto_at {
            t = t.min(rto);
        }
        if self.state == State::Established {
            t = t.min(self.last_sent + self.config.keepalive);
        }
        Some(t)
    }

    /// Whether a closed connection finished lingering and can be dropped.
    pub(crate) fn is_done(&self, now: Instant) -> bool {
        self.closed_at.is_some_and(|t| now >= t + self.linger())
    }

    fn linger(&self) -> Duration {
        self.config.linger
    }

    /// Runs the timers due at `now`: retransmission, keep-alive, idle.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.state == State::Closed {
            return;
        }
        if now >= self.last_recv + self.config.idle_timeout {
            self.finish(now, CloseReason::TimedOut, false);
            return;
        }
        if self.rto_at.is_some_and(|t| now >= t) {
            self.rto_at = None;
            if self.state == State::SynRecv && self.send.outstanding() == 0 {
                self.finish(now, CloseReason::TimedOut, false);
                return;
            }
            if self.send.outstanding() > 0 {
                self.timeouts += 1;
                self.rtt.timed_out();
                let attempts = match self.state {
                    State::SynSent => self.config.syn_attempts,
                    State::SynRecv => 1,
                    _ => self.config.max_timeouts,
                };
                if self.timeouts >= attempts {
                    let only_fin = self.send.outstanding() == 1
                        && self.fin_seq.is_some_and(|f| self.send.is_outstanding(f));
                    let reason = if only_fin && self.recv.eof() {
                        CloseReason::Finished
                    } else {
                        CloseReason::TimedOut
                    };
                    self.finish(now, reason, false);
                    return;
                }
                if self.send.in_flight() > 0 || self.state != State::SynSent {
                    self.ledbat.on_timeout();
                }
                if self.send.outstanding() > 1 {
                    // Everything timed out: the probe's loss says nothing of its size.
                    self.mtu.forget();
                }
                self.send.all_lost();
                self.recovery_until = Some(self.send.next_seq().prev());
                self.rto_at = Some(now + self.rtt.rto());
            } else if self.peer_wnd < self.mss() {
                self.probe = true;
            }
        }
        if self.state == State::Established && now >= self.last_sent + self.config.keepalive {
            self.ack_pending = true;
        }
    }

    /// Takes one packet routed to this connection (the socket checked address and id); its
    /// in-order bytes go to blocks of the socket's `pool`.
    pub(crate) fn handle_packet(
        &mut self,
        now: Instant,
        packet: &Packet<'_>,
        pool: &mut BlockPool,
    ) {
        let h = &packet.header;
        if self.state == State::Closed {
            if matches!(h.kind, PacketType::Fin | PacketType::Data) && !self.reset_pending {
                self.ack_pending = true;
            }
            return;
        }
        // An acknowledgement of something we never sent: forged or broken; ignore it whole.
        if h.kind != PacketType::Syn && h.ack_nr.after(self.send.next_seq().prev()) {
            return;
        }
        match (self.state, h.kind) {
            (_, PacketType::Reset) => {
                self.finish(now, CloseReason::Reset, false);
                return;
            }
            (State::SynSent, _) => {
                if h.ack_nr != self.send.acked().next() || h.kind == PacketType::Syn {
                    return;
                }
                self.state = State::Established;
                self.recv = RecvBuffer::new(
                    h.seq_nr.prev(),
                    self.config.recv_buffer,
                    self.config.max_reorder,
                );
                // Confirms the connection to the acceptor even if we have nothing to send.
                self.ack_pending = true;
                self.events.push_back(ConnEvent::Connected);
            }
            (_, PacketType::Syn) => {
                // The SYN again (our answer was lost): answer again.
                if h.seq_nr == self.recv_syn_seq() {
                    self.ack_pending = true;
                }
                return;
            }
            (State::SynRecv, _) => self.state = State::Established,
            _ => {}
        }
        self.last_recv = now;
        self.on_timestamps(now, h);
        self.peer_wnd = h.wnd_size as usize;
        if self.peer_wnd >= self.mss() {
            self.probe = false;
        }
        self.on_ack(now, packet);
        match h.kind {
            PacketType::Data => {
                let received = self.recv.on_data(h.seq_nr, packet.payload, pool);
                self.ack_pending = true;
                if received == Received::InOrder {
                    self.signal_readable();
                }
            }
            PacketType::Fin if self.recv.on_fin(h.seq_nr) => {
                self.ack_pending = true;
                if self.recv.eof() {
                    self.signal_readable();
                }
            }
            _ => {}
        }
        self.check_finished(now);
    }

    /// The next datagram to send to the peer, if any. Call until `None` after every
    /// `handle_*`, write, read and close.
    #[must_use]
    pub fn poll_transmit(&mut self, now: Instant) -> Option<Vec<u8>> {
        if self.state == State::Closed {
            if self.reset_pending {
                self.reset_pending = false;
                let h = self.header(now, PacketType::Reset, self.send.next_seq());
                return Some(h.encode(None, &[]));
            }
            if self.ack_pending {
                self.ack_pending = false;
                return Some(self.ack_packet(now));
            }
            return None;
        }
        if self.state == State::SynSent {
            let lost = self.send.first_lost().map(|o| o.seq)?;
            self.send.resend(lost, now);
            self.arm_rto(now);
            let mut h = self.header(now, PacketType::Syn, lost);
            h.connection_id = self.recv_id;
            h.ack_nr = Seq(0);
            return Some(h.encode(None, &[]));
        }
        let window = self.ledbat.window().min(self.peer_wnd);
        if let Some(lost) = self.send.first_lost() {
            let len = lost.payload.len();
            if self.send.in_flight() + len <= window || self.send.in_flight() == 0 {
                let (seq, kind, payload) = (lost.seq, lost.kind, lost.payload.clone());
                // A lost probe lowers the ceiling; it goes again without its padding.
                self.mtu.lost(seq);
                self.send.resend(seq, now);
                return Some(self.sent(now, kind, seq, &payload));
            }
        }
        let mss = self.mss();
        let unsent = self.send.unsent();
        if unsent > 0 && self.send.outstanding() < MAX_OUTSTANDING {
            let len = unsent.min(mss);
            let in_flight = self.send.in_flight();
            let fits = in_flight + len <= window
                || (in_flight == 0 && (self.peer_wnd >= len || self.probe));
            // Nagle: a short packet only when nothing is in flight.
            let full = len == mss || in_flight == 0 || self.close_requested;
            if fits && full && self.send.first_lost().is_none() {
                self.probe = false;
                let payload = self.send.take(len);
                let seq = self.send.push(PacketType::Data, payload.clone(), now);
                let mtu_probe = (len == mss)
                    .then(|| self.mtu.probe_size(self.ledbat.window()))
                    .flatten();
                if let Some(size) = mtu_probe {
                    self.mtu.sent_probe(seq, size);
                    self.mark_sent(now);
                    let h = self.header(now, PacketType::Data, seq);
                    return Some(h.encode_padded(&payload, size - HEADER_LEN - len));
                }
                return Some(self.sent(now, PacketType::Data, seq, &payload));
            }
        }
        if self.close_requested && self.fin_seq.is_none() && unsent == 0 {
            let seq = self.send.push(PacketType::Fin, Bytes::new(), now);
            self.fin_seq = Some(seq);
            return Some(self.sent(now, PacketType::Fin, seq, &[]));
        }
        if self.ack_pending {
            self.ack_pending = false;
            self.last_sent = now;
            return Some(self.ack_packet(now));
        }
        None
    }

    fn sent(&mut self, now: Instant, kind: PacketType, seq: Seq, payload: &[u8]) -> Vec<u8> {
        self.mark_sent(now);
        self.header(now, kind, seq).encode(None, payload)
    }

    fn mark_sent(&mut self, now: Instant) {
        self.ack_pending = false;
        self.last_sent = now;
        self.arm_rto(now);
    }

    fn arm_rto(&mut self, now: Instant) {
        if self.rto_at.is_none() {
            self.rto_at = Some(now + self.rtt.rto());
        }
    }

    fn ack_packet(&self, now: Instant) -> Vec<u8> {
        let h = self.header(now, PacketType::State, self.send.next_seq());
        let sack = self.recv.sack();
        h.encode(sack.as_deref(), &[])
    }

    fn header(&self, now: Instant, kind: PacketType, seq: Seq) -> Header {
        Header {
            kind,
            connection_id: self.send_id,
            timestamp_us: self.micros(now),
            timestamp_diff_us: self.reply_micro,
            wnd_size: self.recv.window(),
            seq_nr: seq,
            ack_nr: self.recv.ack_nr(),
        }
    }

    fn micros(&self, now: Instant) -> u32 {
        // Wrapping microsecond clock: the truncation is the protocol's.
        now.saturating_duration_since(self.epoch).as_micros() as u32
    }

    fn mss(&self) -> usize {
        self.mtu.packet_size().saturating_sub(HEADER_LEN).max(1)
    }

    fn recv_syn_seq(&self) -> Seq {
        // Only meaningful for accepted connections, whose first ack_nr is the SYN's.
        self.recv.ack_nr()
    }

    fn on_timestamps(&mut self, now: Instant, h: &Header) {
        self.reply_micro = self.micros(now).wrapping_sub(h.timestamp_us);
        self.ledbat.on_their_delay(now, self.reply_micro);
        if h.timestamp_diff_us != 0 {
            self.ledbat.on_our_delay(now, h.timestamp_diff_us);
        }
    }

    fn on_ack(&mut self, now: Instant, packet: &Packet<'_>) {
        let h = &packet.header;
        let prev_acked = self.send.acked();
        let in_flight = self.send.in_flight();
        let outcome = self.send.on_ack(h.ack_nr, packet.sack, now);
        if let Some(rtt) = outcome.rtt {
            self.rtt.sample(rtt);
        }
        let mut lost = outcome.lost;
        if outcome.progressed {
            if self.mtu.acked_through(self.send.acked()) {
                self.ledbat.set_mss(self.mss());
            }
            self.rtt.acked();
            self.timeouts = 0;
            self.dup_acks = 0;
            self.rto_at = (self.send.outstanding() > 0).then(|| now + self.rtt.rto());
        } else if h.kind == PacketType::State
            && h.ack_nr == prev_acked
            && self.send.outstanding() > 0
            && outcome.bytes == 0
        {
            self.dup_acks += 1;
            if self.dup_acks == DUP_ACK_THRESHOLD {
                lost = lost.or(self.send.oldest_lost());
            }
        }
        if let Some(seq) = lost
            && self.mtu.probe() != Some(seq)
            && self.recovery_until.is_none_or(|r| seq.after(r))
        {
            self.ledbat.on_loss();
            self.recovery_until = Some(self.send.next_seq().prev());
        }
        let limited = in_flight + self.mss() > self.ledbat.window();
        self.ledbat
            .on_ack(outcome.bytes, in_flight, limited, self.rtt.srtt());
        if self.write_blocked && self.send.room() > 0 {
            self.write_blocked = false;
            self.events.push_back(ConnEvent::Writable);
        }
    }

    fn signal_readable(&mut self) {
        if !self.readable_signalled {
            self.readable_signalled = true;
            self.events.push_back(ConnEvent::Readable);
        }
    }

    fn check_finished(&mut self, now: Instant) {
        let fin_acked = self.fin_seq.is_some_and(|f| !self.send.is_outstanding(f));
        if fin_acked && self.recv.eof() {
            self.finish(now, CloseReason::Finished, true);
        }
    }

    fn finish(&mut self, now: Instant, reason: CloseReason, linger: bool) {
        self.state = State::Closed;
        self.rto_at = None;
        self.closed_at = Some(if linger {
            now
        } else {
            now - self
                .config
                .linger
                .min(now.saturating_duration_since(self.epoch))
        });
        self.events.push_back(ConnEvent::Closed(reason));
    }
}

/// How long an accepted connection waits for a packet after the SYN.
const HALF_OPEN_TIMEOUT: Duration = Duration::from_secs(10);

/// Packets outstanding at most, far below half the sequence space.
const MAX_OUTSTANDING: usize = 4096;

const _: () = assert!(MAX_SACK_BYTES * 8 < MAX_OUTSTANDING);

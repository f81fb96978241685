//! The send side of a connection: bytes the application wrote and not yet packetised, and the
//! packets sent and not yet acknowledged, with what each acknowledgement teaches (round trips,
//! bytes newly acknowledged, packets a selective ACK shows lost).

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};

use super::packet::PacketType;
use super::sack::SelectiveAck;
use super::seq::Seq;

/// Packets after a gap a selective ACK must show received before the gap counts as lost,
/// and duplicate ACKs before the next packet counts as lost.
pub(crate) const DUP_ACK_THRESHOLD: usize = 3;

/// One packet sent and not yet acknowledged.
#[derive(Clone, Debug)]
pub(crate) struct Outgoing {
    pub(crate) seq: Seq,
    pub(crate) kind: PacketType,
    pub(crate) payload: Bytes,
    pub(crate) sent_at: Instant,
    pub(crate) transmissions: u32,
    /// Declared lost and waiting to be sent again (not counted in flight).
    pub(crate) lost: bool,
    /// Received, as a selective ACK says (not counted in flight).
    pub(crate) sacked: bool,
}

/// What an acknowledgement did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct AckOutcome {
    /// Payload bytes newly acknowledged (cumulatively or selectively).
    pub(crate) bytes: usize,
    /// Whether the cumulative acknowledgement moved.
    pub(crate) progressed: bool,
    /// A round-trip sample from a packet sent only once.
    pub(crate) rtt: Option<Duration>,
    /// The first packet this acknowledgement declared lost, if any.
    pub(crate) lost: Option<Seq>,
}

/// Unsent bytes and unacknowledged packets, within a byte budget.
#[derive(Clone, Debug)]
pub(crate) struct SendBuffer {
    /// Written and not yet packetised: a packet's payload is split off without a copy.
    unsent: BytesMut,
    outstanding: VecDeque<Outgoing>,
    outstanding_bytes: usize,
    in_flight: usize,
    /// Outstanding packets marked lost: without any, nothing is scanned for them.
    lost: usize,
    next_seq: Seq,
    capacity: usize,
}

impl SendBuffer {
    /// An empty buffer whose next packet is `next_seq`, holding at most `capacity` bytes.
    pub(crate) fn new(next_seq: Seq, capacity: usize) -> Self {
        Self {
            unsent: BytesMut::new(),
            outstanding: VecDeque::new(),
            outstanding_bytes: 0,
            in_flight: 0,
            lost: 0,
            next_seq,
            capacity,
        }
    }

    /// The sequence number the next packet takes.
    pub(crate) fn next_seq(&self) -> Seq {
        self.next_seq
    }

    /// The last sequence number acknowledged cumulatively.
    pub(crate) fn acked(&self) -> Seq {
        self.outstanding
            .front()
            .map_or(self.next_seq.prev(), |o| o.seq.prev())
    }

    /// Payload bytes sent and neither acknowledged nor declared lost.
    pub(crate) fn in_flight(&self) -> usize {
        self.in_flight
    }

    /// Bytes written and not yet put in a packet.
    pub(crate) fn unsent(&self) -> usize {
        self.unsent.len()
    }

    /// Packets sent and not acknowledged.
    pub(crate) fn outstanding(&self) -> usize {
        self.outstanding.len()
    }

    /// Room for more writes.
    pub(crate) fn room(&self) -> usize {
        self.capacity
            .saturating_sub(self.unsent.len() + self.outstanding_bytes)
    }

    /// Takes as much of `data` as fits; returns how much.
    pub(crate) fn write(&mut self, data: &[u8]) -> usize {
        let n = data.len().min(self.room());
        self.unsent.extend_from_slice(&data[..n]);
        n
    }

    /// Takes up to `max` unsent bytes for a packet.
    pub(crate) fn take(&mut self, max: usize) -> Bytes {
        let n = max.min(self.unsent.len());
        self.unsent.split_to(n).freeze()
    }

    /// Records a new packet sent at `now`; returns its sequence number.
    pub(crate) fn push(&mut self, kind: PacketType, payload: Bytes, now: Instant) -> Seq {
        let seq = self.next_seq;
        self.next_seq = seq.next();
        self.outstanding_bytes += payload.len();
        self.in_flight += payload.len();
        self.outstanding.push_back(Outgoing {
            seq,
            kind,
            payload,
            sent_at: now,
            transmissions: 1,
            lost: false,
            sacked: false,
        });
        seq
    }

    /// The oldest packet waiting to be sent again.
    pub(crate) fn first_lost(&self) -> Option<&Outgoing> {
        if self.lost == 0 {
            return None;
        }
        self.outstanding.iter().find(|o| o.lost)
    }

    /// Sends packet `seq` again at `now`; returns it.
    pub(crate) fn resend(&mut self, seq: Seq, now: Instant) -> Option<&Outgoing> {
        let o = self.outstanding.iter_mut().find(|o| o.seq == seq)?;
        if o.lost {
            o.lost = false;
            self.lost -= 1;
            self.in_flight += o.payload.len();
        }
        o.transmissions += 1;
        o.sent_at = now;
        Some(o)
    }

    /// Whether packet `seq` is still unacknowledged.
    pub(crate) fn is_outstanding(&self, seq: Seq) -> bool {
        self.outstanding.iter().any(|o| o.seq == seq)
    }

    /// Declares every unacknowledged packet lost (the retransmission timer fired).
    pub(crate) fn all_lost(&mut self) {
        for o in self.outstanding.iter_mut().filter(|o| !o.sacked && !o.lost) {
            o.lost = true;
            self.lost += 1;
        }
        self.in_flight = 0;
    }

    /// Declares the oldest packet lost (duplicate ACKs); returns it unless already so.
    pub(crate) fn oldest_lost(&mut self) -> Option<Seq> {
        let o = self.outstanding.front_mut()?;
        if o.lost || o.sacked {
            return None;
        }
        o.lost = true;
        self.lost += 1;
        self.in_flight -= o.payload.len();
        Some(o.seq)
    }

    /// Applies a cumulative `ack_nr` and an optional selective ACK received at `now`. The
    /// caller checked that `ack_nr` is not past what we sent.
    pub(crate) fn on_ack(
        &mut self,
        ack_nr: Seq,
        sack: Option<SelectiveAck<'_>>,
        now: Instant,
    ) -> AckOutcome {
        let mut out = AckOutcome::default();
        let mut newest_sample = None;
        let mut arrived = Latest::default();
        while let Some(front) = self.outstanding.front() {
            if front.seq.after(ack_nr) {
                break;
            }
            let Some(o) = self.outstanding.pop_front() else {
                break;
            };
            out.progressed = true;
            self.outstanding_bytes -= o.payload.len();
            if o.lost {
                self.lost -= 1;
            } else if !o.sacked {
                self.in_flight -= o.payload.len();
            }
            if !o.sacked {
                out.bytes += o.payload.len();
            }
            if o.transmissions == 1 {
                newest_sample = Some(now.saturating_duration_since(o.sent_at));
            }
            arrived.add(o.sent_at);
        }
        if let Some(sack) = sack {
            for o in self.outstanding.iter_mut() {
                if !o.sacked && sack.acks(ack_nr, o.seq) {
                    o.sacked = true;
                    if o.lost {
                        self.lost -= 1;
                    } else {
                        self.in_flight -= o.payload.len();
                    }
                    o.lost = false;
                    out.bytes += o.payload.len();
                    if o.transmissions == 1 {
                        newest_sample = Some(now.saturating_duration_since(o.sent_at));
                    }
                }
            }
            // A packet with DUP_ACK_THRESHOLD or more later packets received is lost; for a
            // packet sent again, "later" is by time: packets sent after its last
            // transmission (so a lost retransmission is found without waiting for the timer).
            let mut later = 0;
            for o in self.outstanding.iter_mut().rev() {
                if o.sacked {
                    later += 1;
                    arrived.add(o.sent_at);
                    continue;
                }
                let overtaken = if o.transmissions == 1 {
                    later >= DUP_ACK_THRESHOLD
                } else {
                    arrived.third().is_some_and(|t| t > o.sent_at)
                };
                if overtaken && !o.lost {
                    o.lost = true;
                    self.lost += 1;
                    self.in_flight -= o.payload.len();
                    out.lost = Some(o.seq);
                }
            }
        }
        out.rtt = newest_sample;
        out
    }
}

/// The [`DUP_ACK_THRESHOLD`] latest send times of packets known to have arrived.
#[derive(Default)]
struct Latest([Option<Instant>; DUP_ACK_THRESHOLD]);

impl Latest {
    fn add(&mut self, t: Instant) {
        let mut t = Some(t);
        for slot in &mut self.0 {
            if t > *slot {
                std::mem::swap(slot, &mut t);
            }
        }
    }

    /// The oldest of them, once there are that many.
    fn third(&self) -> Option<Instant> {
        self.0[DUP_ACK_THRESHOLD - 1]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(n: usize) -> Bytes {
        Bytes::from(vec![7u8; n])
    }

    /// The count of lost packets agrees with their marks.
    fn lost_counted(s: &SendBuffer) -> bool {
        s.lost == s.outstanding.iter().filter(|o| o.lost).count()
    }

    #[test]
    fn cumulative_ack_frees_room_and_samples_rtt() {
        let t0 = Instant::now();
        let mut s = SendBuffer::new(Seq(65534), 1000);
        assert_eq!(s.write(&[1; 1500]), 1000);
        assert_eq!(s.room(), 0);
        for _ in 0..3 {
            let payload = s.take(300);
            s.push(PacketType::Data, payload, t0);
        }
        assert_eq!(s.unsent(), 100);
        assert_eq!(s.in_flight(), 900);
        assert_eq!(s.acked(), Seq(65533));
        let later = t0 + Duration::from_millis(80);
        let out = s.on_ack(Seq(65535), None, later);
        assert_eq!(out.bytes, 600);
        assert!(out.progressed);
        assert_eq!(out.rtt, Some(Duration::from_millis(80)));
        assert_eq!(s.room(), 600);
        assert_eq!(s.acked(), Seq(65535));
        assert_eq!(s.next_seq(), Seq(1));
    }

    #[test]
    fn selective_ack_marks_the_gap_lost_after_three() {
        let t0 = Instant::now();
        let mut s = SendBuffer::new(Seq(10), 100_000);
        for _ in 0..6 {
            s.push(PacketType::Data, data(100), t0);
        }
        // ack 10; received 12, 13 (11 missing): two later packets are not enough.
        let bits = [0b0000_0011u8, 0, 0, 0];
        let out = s.on_ack(Seq(10), Some(SelectiveAck::new(&bits)), t0);
        assert_eq!(out.bytes, 300);
        assert_eq!(out.lost, None);
        assert_eq!(s.in_flight(), 300);
        // received 12, 13, 15: 11 is lost (three later), 14 is not (one later).
        let bits = [0b0000_1011u8, 0, 0, 0];
        let out = s.on_ack(Seq(10), Some(SelectiveAck::new(&bits)), t0);
        assert_eq!(out.bytes, 100);
        assert_eq!(out.lost, Some(Seq(11)));
        assert_eq!(s.first_lost().map(|o| o.seq), Some(Seq(11)));
        assert!(lost_counted(&s));
        assert_eq!(s.in_flight(), 100);
        let resent = s.resend(Seq(11), t0).unwrap();
        assert_eq!(resent.transmissions, 2);
        assert_eq!(s.in_flight(), 200);
        // Everything through 15 acknowledged: only 11 and 14 were not yet counted.
        let out = s.on_ack(Seq(15), None, t0 + Duration::from_millis(5));
        assert_eq!(out.bytes, 200);
        assert_eq!(
            out.rtt,
            Some(Duration::from_millis(5)),
            "from 14, sent once"
        );
        assert_eq!(s.in_flight(), 0);
        assert_eq!(s.outstanding(), 0);
        assert!(lost_counted(&s));
    }

    #[test]
    fn a_lost_retransmission_is_found_by_later_arrivals() {
        let t0 = Instant::now();
        let t1 = t0 + Duration::from_millis(1);
        let mut s = SendBuffer::new(Seq(10), 100_000);
        for _ in 0..5 {
            s.push(PacketType::Data, data(100), t0);
        }
        // 11 missing, 12..=14 received: 11 is lost and sent again at t1.
        let bits = [0b0000_0111u8, 0, 0, 0];
        assert_eq!(
            s.on_ack(Seq(10), Some(SelectiveAck::new(&bits)), t1).lost,
            Some(Seq(11))
        );
        s.resend(Seq(11), t1);
        // Two packets sent after the retransmission arrive: not yet enough.
        for _ in 0..3 {
            s.push(PacketType::Data, data(100), t1 + Duration::from_millis(1));
        }
        let bits = [0b0001_1111u8, 0, 0, 0];
        let later = t1 + Duration::from_millis(2);
        let out = s.on_ack(Seq(10), Some(SelectiveAck::new(&bits)), later);
        assert_eq!(out.lost, None);
        assert_eq!(s.first_lost().map(|o| o.seq), None);
        // A third: the retransmission of 11 is lost too, without the timer.
        let bits = [0b0011_1111u8, 0, 0, 0];
        let out = s.on_ack(Seq(10), Some(SelectiveAck::new(&bits)), later);
        assert_eq!(out.lost, Some(Seq(11)));
        assert_eq!(s.first_lost().map(|o| o.seq), Some(Seq(11)));
        assert_eq!(s.in_flight(), 0);
        assert!(lost_counted(&s));
    }

    #[test]
    fn timeouts_and_duplicate_acks() {
        let t0 = Instant::now();
        let mut s = SendBuffer::new(Seq(0), 100_000);
        s.push(PacketType::Data, data(10), t0);
        s.push(PacketType::Data, data(10), t0);
        assert_eq!(s.oldest_lost(), Some(Seq(0)));
        assert_eq!(s.oldest_lost(), None);
        assert_eq!(s.in_flight(), 10);
        s.all_lost();
        assert!(lost_counted(&s));
        assert_eq!(s.in_flight(), 0);
        assert!(s.is_outstanding(Seq(1)));
        let out = s.on_ack(Seq(1), None, t0);
        assert_eq!(out.rtt, Some(Duration::ZERO), "packet 1 was sent only once");
        assert_eq!(s.in_flight(), 0);
        assert_eq!(s.first_lost().map(|o| o.seq), None);
        assert!(lost_counted(&s));
    }
}

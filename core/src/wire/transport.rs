//! The byte stream under a peer [`Connection`](crate::wire::Connection): plain TCP, or message
//! stream encryption (MSE: its handshake, then plaintext or RC4).
//!
//! A connection's owner hands it the raw bytes read from the socket and writes out the raw
//! bytes it polls; the transport turns those into the plain BitTorrent stream the connection
//! decodes and encodes. While an encrypted handshake is in progress the transport answers it
//! by itself and holds the connection's own output (the BitTorrent handshake goes out in
//! plaintext or RC4 as the handshake decides). This is where other transports (uTP) plug in.

use std::collections::VecDeque;

use bytes::{Bytes, BytesMut};

use super::mse::{MseError, MseResponder, MseStep, MseStream, MseTorrents};
use super::mse_initiator::MseInitiator;
use crate::id::InfoHash;

/// What a connection's bytes travel over.
#[derive(Debug, Default)]
pub enum Transport {
    /// Plain BitTorrent.
    #[default]
    Plain,
    /// An encrypted handshake in progress: received bytes go to it, and the connection's
    /// output waits until it ends.
    Handshake(Box<MseHandshake>),
    /// The RC4 streams: every byte both ways is encrypted.
    Rc4(Box<MseStream>),
}

/// One side of an encrypted handshake (see [`crate::wire::mse`]).
#[derive(Debug)]
pub enum MseHandshake {
    /// An inbound connection: plain BitTorrent or MSE, as the peer chooses.
    Answering(MseResponder),
    /// A connection we dialled with MSE.
    Opening(MseInitiator),
}

/// Raw bytes after the transport: what reached the plain stream.
#[derive(Debug)]
pub(crate) enum Unwrapped {
    /// Plain BitTorrent bytes for the connection (possibly none yet).
    Plain(Option<BytesMut>),
    /// The encrypted handshake failed.
    Failed(MseError),
}

/// A transport with the handshake bytes it has to send.
#[derive(Debug, Default)]
pub(crate) struct Link {
    transport: Transport,
    /// Handshake bytes to send before anything of the connection's.
    out: VecDeque<Bytes>,
}

impl Link {
    /// The transport in use.
    pub(crate) fn transport(&self) -> &Transport {
        &self.transport
    }

    /// Answers an inbound connection: plain BitTorrent or MSE, as its first bytes show.
    pub(crate) fn answer(&mut self, private: [u8; 20], pad: Vec<u8>) {
        let responder = MseResponder::new(private, pad);
        self.transport = Transport::Handshake(Box::new(MseHandshake::Answering(responder)));
    }

    /// Opens the encrypted handshake for `info_hash`, offering the payload modes `provide`.
    pub(crate) fn open(
        &mut self,
        private: [u8; 20],
        pad: Vec<u8>,
        info_hash: InfoHash,
        provide: u32,
    ) {
        let (initiator, first) = MseInitiator::new(private, pad, info_hash, provide);
        self.transport = Transport::Handshake(Box::new(MseHandshake::Opening(initiator)));
        self.out.push_back(Bytes::from(first));
    }

    /// Whether an inbound encrypted handshake may still need to know our torrents.
    pub(crate) fn is_answering(&self) -> bool {
        matches!(&self.transport, Transport::Handshake(h) if matches!(**h, MseHandshake::Answering(_)))
    }

    /// Raw bytes from the socket. `torrents`: those an inbound encrypted handshake may name.
    pub(crate) fn receive(
        &mut self,
        mut data: BytesMut,
        torrents: &(impl MseTorrents + ?Sized),
    ) -> Unwrapped {
        let step = match &mut self.transport {
            Transport::Plain => return Unwrapped::Plain(Some(data)),
            Transport::Rc4(stream) => {
                stream.decrypt(&mut data);
                return Unwrapped::Plain(Some(data));
            }
            Transport::Handshake(h) => match &mut **h {
                MseHandshake::Answering(responder) => responder.receive(&data, torrents),
                MseHandshake::Opening(initiator) => initiator.receive(&data),
            },
        };
        let (send, plain) = match step {
            Ok(MseStep::Continue(send)) => (send, None),
            Ok(MseStep::Plaintext(all)) => {
                self.transport = Transport::Plain;
                (Vec::new(), Some(all))
            }
            Ok(MseStep::Established {
                reply,
                payload,
                stream,
                ..
            }) => {
                self.transport = match stream {
                    Some(stream) => Transport::Rc4(stream),
                    None => Transport::Plain,
                };
                (reply, Some(payload))
            }
            Err(e) => return Unwrapped::Failed(e),
        };
        if !send.is_empty() {
            self.out.push_back(Bytes::from(send));
        }
        Unwrapped::Plain(plain)
    }

    /// The next handshake bytes to send, ahead of the connection's own.
    pub(crate) fn poll_handshake(&mut self) -> Option<Bytes> {
        self.out.pop_front()
    }

    /// Whether the connection's own output waits (an encrypted handshake is in progress).
    pub(crate) fn holds_output(&self) -> bool {
        matches!(self.transport, Transport::Handshake(_))
    }

    /// The connection's plain bytes as they go on the wire.
    pub(crate) fn seal(&mut self, payload: Bytes) -> Bytes {
        match &mut self.transport {
            Transport::Rc4(stream) => {
                // Encrypted in a copy: the payload may share a block read from disk.
                let mut copy = BytesMut::from(&payload[..]);
                stream.encrypt(&mut copy);
                copy.freeze()
            }
            _ => payload,
        }
    }
}

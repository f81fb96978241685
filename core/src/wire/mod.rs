//! The peer wire protocol (BEP 3, BEP 6, BEP 10 framing) and one peer connection.

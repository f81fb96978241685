//! The session: the public Sans-IO hub that owns torrents, connections, trackers and the DHT.

pub mod io;

//! Unit tests of the session (limits, self-connections, back-pressure, shutdown).

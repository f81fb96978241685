//! The extension protocol (BEP 10) and its extensions: ut_metadata (BEP 9), ut_pex (BEP 11).

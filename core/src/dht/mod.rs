//! A Mainline DHT node (BEP 5) as a Sans-IO state machine.

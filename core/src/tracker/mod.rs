//! Trackers: HTTP/HTTPS (BEP 3, 23, 7), UDP (BEP 15), tiers (BEP 12), scrape (BEP 48).

//! The choker: which interested peers we upload to (tit-for-tat, optimistic unchoke, seeding round-robin).

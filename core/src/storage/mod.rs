//! Storage: the `Storage` trait, file and memory back-ends, piece hashing, resume data.

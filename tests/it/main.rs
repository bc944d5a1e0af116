//! Integration tests (filled in later).

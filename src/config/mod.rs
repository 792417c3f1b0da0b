//! config (placeholder until its slice lands).

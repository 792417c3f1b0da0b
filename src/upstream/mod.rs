//! upstream (placeholder until its slice lands).

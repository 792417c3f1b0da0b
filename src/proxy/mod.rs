//! proxy (placeholder until its slice lands).

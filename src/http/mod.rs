//! http (placeholder until its slice lands).

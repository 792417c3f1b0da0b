//! session (placeholder until its slice lands).

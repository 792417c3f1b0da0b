//! demo (placeholder until its slice lands).

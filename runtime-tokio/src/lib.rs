//! tokio adapter for tether (lands with the foundation issue).

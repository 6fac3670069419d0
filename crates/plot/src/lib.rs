//! Server-side PNG plots (in progress).

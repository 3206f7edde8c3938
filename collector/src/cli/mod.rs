//! CLI rendering.

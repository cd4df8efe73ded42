//! The home of taskloop's runnable examples (`examples/`) and criterion benches (`benches/`).
//!
//! This package has no API of its own; depend on the `taskloop` crate instead.

//! The program format of taskloop's differential test against CPython's asyncio, shared by
//! `cargo xtask difftest` (which generates and minimises programs) and this crate's
//! interpreter binary (built with the default `interpreter` feature), so it is defined once.

pub mod program;

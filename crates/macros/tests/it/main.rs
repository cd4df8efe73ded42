//! Behaviour tests of `#[taskloop::main]` and `#[taskloop::test]`, and the compile errors of
//! their misuse (`ui/`, checked with trybuild).

mod attributes;
mod ui;

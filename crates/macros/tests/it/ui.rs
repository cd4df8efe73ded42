//! Misuse is a compile error naming the problem: each `tests/ui/*.rs` beside its `.stderr`.
//! Run with `TRYBUILD=overwrite` to rewrite the `.stderr` files after a deliberate change.

#[test]
fn misuse_is_a_compile_error_naming_the_problem() {
    let cases = trybuild::TestCases::new();
    cases.compile_fail("tests/ui/*.rs");
}

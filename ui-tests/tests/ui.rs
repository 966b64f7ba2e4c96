//! Compile-time rules: every rejection has a failing case whose `.stderr`
//! shows the message and the span it points at.
//! Regenerate after an intended change: `TRYBUILD=overwrite cargo test -p spindle-ui-tests`.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.pass("tests/ui/pass/*.rs");
    t.compile_fail("tests/ui/fail/*.rs");
}

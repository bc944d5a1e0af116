//! SKELETON: the `appjwt` command.
fn main() {}

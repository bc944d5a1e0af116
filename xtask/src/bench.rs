//! `cargo xtask bench`: to be written (issue 6).

pub fn run(_args: &[String]) -> Result<(), String> {
    Err("bench is not written yet".to_owned())
}

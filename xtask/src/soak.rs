//! `cargo xtask soak`: to be written (issue 7).

pub fn run(_args: &[String]) -> Result<(), String> {
    Err("soak is not written yet".to_owned())
}

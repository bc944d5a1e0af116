//! `appjwt completions SHELL` and `appjwt man`: generated from the same
//! clap definition the parser uses, so they always match the flags.

use std::path::Path;

use clap::CommandFactory;

use crate::args::{Cli, CompletionsArgs, ManArgs};
use crate::exit::Failure;

pub fn completions(a: &CompletionsArgs) -> Result<(), Failure> {
    let mut cmd = Cli::command();
    let mut script = Vec::new();
    clap_complete::generate(a.shell, &mut cmd, "appjwt", &mut script);
    write_stdout(&script)
}

pub fn man(a: &ManArgs) -> Result<(), Failure> {
    let cmd = Cli::command();
    match &a.out_dir {
        Some(dir) => write_pages(cmd, dir),
        None => {
            let mut page = Vec::new();
            clap_mangen::Man::new(cmd)
                .render(&mut page)
                .map_err(|e| Failure::usage(format!("cannot render the man page: {e}")))?;
            write_stdout(&page)
        }
    }
}

/// `appjwt.1` and `appjwt-token.1`, ... into `dir`, created if missing.
fn write_pages(cmd: clap::Command, dir: &Path) -> Result<(), Failure> {
    let fail = |e: std::io::Error| {
        Failure::usage(format!(
            "cannot write man pages to --out-dir {}: {e}",
            dir.display()
        ))
    };
    std::fs::create_dir_all(dir).map_err(fail)?;
    clap_mangen::generate_to(cmd, dir).map_err(fail)?;
    crate::outln!("man pages written to {}", dir.display())
}

fn write_stdout(bytes: &[u8]) -> Result<(), Failure> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    out.write_all(bytes)
        .and_then(|()| out.flush())
        .map_err(|e| Failure::stdout(&e))
}

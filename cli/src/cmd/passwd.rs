//! `mdbd passwd NAME`: what the configuration keeps of a password, so that the password
//! itself need not be in the file: a SCRAM-SHA-256 verifier (random salt, 4096 iterations,
//! as PostgreSQL's `password_encryption = scram-sha-256` stores it) or an md5 hash.

use anyhow::bail;
use mdbd::auth::{md5, scram};
use std::io::BufRead;
use std::process::ExitCode;

pub fn run(name: &str, method: &str) -> anyhow::Result<ExitCode> {
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    let password = line.strip_suffix('\n').unwrap_or(&line);
    let password = password.strip_suffix('\r').unwrap_or(password);
    if password.is_empty() {
        bail!("no password on standard input (e.g. `printf '%s' \"$PW\" | mdbd passwd {name}`)");
    }
    match method {
        "scram-sha-256" => println!("{}", scram::Verifier::generate(password)),
        "md5" => println!("{}", md5::stored(name, password)),
        other => bail!("--method {other:?}: use scram-sha-256 or md5"),
    }
    Ok(ExitCode::SUCCESS)
}

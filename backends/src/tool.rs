//! Dump and restore tools (`pg_dump`, `pg_restore`, `mariadb-dump`, `mariadb`) as child
//! processes whose output or input is streamed, never buffered whole.

use mdbd_engine::backend::BackendError;
use std::path::Path;
use std::process::Stdio;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::process::{Child, Command};
use tokio::task::JoinHandle;

/// How much of a tool's stderr is kept for the error message.
const STDERR_KEPT: usize = 16 << 10;

/// A tool to run: program, arguments, extra environment (passwords go here, not in
/// arguments that `ps` shows).
pub(crate) struct Tool<'a> {
    pub program: &'a Path,
    pub args: Vec<String>,
    pub env: Vec<(&'static str, String)>,
}

impl Tool<'_> {
    fn spawn(
        &self,
        stdin: Stdio,
        stdout: Stdio,
    ) -> Result<(Child, JoinHandle<Vec<u8>>), BackendError> {
        let mut cmd = Command::new(self.program);
        cmd.args(&self.args)
            .envs(self.env.iter().map(|(k, v)| (*k, v)))
            .stdin(stdin)
            .stdout(stdout)
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = cmd.spawn().map_err(|e| BackendError::Tool {
            tool: self.name(),
            status: "not started".into(),
            stderr: e.to_string(),
        })?;
        let stderr = child.stderr.take();
        // Drain stderr so the tool never blocks on it; keep the start for the message.
        let collector = tokio::spawn(async move {
            let mut kept = Vec::new();
            if let Some(mut stderr) = stderr {
                let mut buf = [0u8; 8192];
                while let Ok(n) = stderr.read(&mut buf).await {
                    if n == 0 {
                        break;
                    }
                    let room = STDERR_KEPT.saturating_sub(kept.len());
                    kept.extend_from_slice(&buf[..n.min(room)]);
                }
            }
            kept
        });
        Ok((child, collector))
    }

    fn name(&self) -> String {
        self.program.display().to_string()
    }

    async fn finish(
        &self,
        mut child: Child,
        collector: JoinHandle<Vec<u8>>,
    ) -> Result<(), BackendError> {
        let status = child.wait().await?;
        if status.success() {
            return Ok(());
        }
        let stderr = String::from_utf8_lossy(&collector.await.unwrap_or_default())
            .trim()
            .to_string();
        Err(BackendError::Tool {
            tool: self.name(),
            status: status.to_string(),
            stderr,
        })
    }

    /// Runs the tool and streams its standard output into `out`; returns the bytes copied.
    pub async fn dump(
        &self,
        out: &mut (dyn AsyncWrite + Send + Unpin),
    ) -> Result<u64, BackendError> {
        let (mut child, collector) = self.spawn(Stdio::null(), Stdio::piped())?;
        let mut stdout = child
            .stdout
            .take()
            .ok_or_else(|| BackendError::Config(format!("{}: no stdout", self.name())))?;
        // Large reads: a multi-gigabyte dump in 8 KiB pieces costs more in wake-ups than
        // the copy itself.
        let mut stdout = tokio::io::BufReader::with_capacity(COPY_BUFFER, &mut stdout);
        let bytes = tokio::io::copy_buf(&mut stdout, out).await?;
        out.flush().await?;
        self.finish(child, collector).await?;
        Ok(bytes)
    }

    /// Runs the tool with `input` streamed into its standard input. If the input fails
    /// (a snapshot stream rejected by the codec), the tool is killed before it finishes.
    pub async fn restore(
        &self,
        input: &mut (dyn AsyncRead + Send + Unpin),
    ) -> Result<(), BackendError> {
        let (mut child, collector) = self.spawn(Stdio::piped(), Stdio::null())?;
        let mut stdin = child
            .stdin
            .take()
            .ok_or_else(|| BackendError::Config(format!("{}: no stdin", self.name())))?;
        let mut input = tokio::io::BufReader::with_capacity(COPY_BUFFER, input);
        let copied = tokio::io::copy_buf(&mut input, &mut stdin).await;
        drop(stdin);
        if let Err(e) = copied {
            let _ = child.kill().await;
            return Err(e.into());
        }
        self.finish(child, collector).await
    }
}

/// Buffer of the copies between a tool's pipes and the snapshot stream.
const COPY_BUFFER: usize = 256 << 10;

/// Checks an identifier used in generated SQL: letters, digits and `_`, not starting with a
/// digit, at most `max` characters.
pub(crate) fn identifier(name: &str, max: usize) -> Result<String, BackendError> {
    let ok = !name.is_empty()
        && name.len() <= max
        && name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if ok {
        Ok(name.to_string())
    } else {
        Err(BackendError::Config(format!(
            "identifier {name:?}: use letters, digits and _ (at most {max})"
        )))
    }
}

//! One writer per run directory: a process that trains a run holds an OS advisory lock
//! (`flock`) on `RUN/lock` until it exits, so a killed process never leaves the run
//! locked. A second process is refused with the holder's PID and host, or waits for the
//! lock (a requeued Slurm task whose old process is still stopping). Where the file
//! system has no `flock` (some network file systems) the lock falls back, with one
//! warning, to `RUN/lock.heartbeat`: created exclusively, holding host and PID, touched
//! every few seconds while held and taken over once it is stale.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

/// The lock file in a run directory.
pub const LOCK_FILE: &str = "lock";
/// The fallback lock file where `flock` is not supported.
pub const HEARTBEAT_FILE: &str = "lock.heartbeat";
/// How often a heartbeat lock is touched, and after how long without a touch it is stale.
const HEARTBEAT: Duration = Duration::from_secs(5);
const STALE: Duration = Duration::from_secs(60);

/// A held lock on a run directory; released when dropped or when the process dies.
#[derive(Debug)]
pub struct RunLock {
    // Holding the file holds the flock.
    _file: Option<File>,
    heartbeat: Option<(PathBuf, Arc<AtomicBool>)>,
}

/// Why a run directory could not be locked.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// Another process trains this run.
    #[error("run directory {} is being trained by {holder}; wait for it to finish or stop it (the lock goes when it exits)", run.display())]
    Held {
        /// The run.
        run: PathBuf,
        /// `PID n on host h`, as the holder wrote it.
        holder: String,
    },
    /// The lock file could not be opened or written.
    #[error("run directory {}: cannot lock it: {source}", run.display())]
    Io {
        /// The run.
        run: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// `PID n on host h` for this process.
fn me() -> String {
    let host = hostname();
    format!("PID {} on host {host}", std::process::id())
}

/// The machine's host name (`unknown` if it cannot be read).
pub fn hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: gethostname writes at most buf.len() bytes into buf.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return "unknown".into();
    }
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
}

impl RunLock {
    /// Locks `run` (which must exist), waiting up to `wait` for a holder to let go.
    pub fn acquire(run: &Path, wait: Duration) -> Result<RunLock, LockError> {
        let io = |source| LockError::Io {
            run: run.to_owned(),
            source,
        };
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(run.join(LOCK_FILE))
            .map_err(io)?;
        let t0 = Instant::now();
        loop {
            // SAFETY: flock on a file descriptor this function owns.
            let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
            if rc == 0 {
                file.set_len(0).map_err(io)?;
                file.rewind().map_err(io)?;
                writeln!(file, "{}", me()).map_err(io)?;
                file.flush().map_err(io)?;
                return Ok(RunLock {
                    _file: Some(file),
                    heartbeat: None,
                });
            }
            let err = std::io::Error::last_os_error();
            match err.raw_os_error() {
                Some(libc::EWOULDBLOCK) => {}
                Some(libc::ENOLCK | libc::EOPNOTSUPP | libc::ENOSYS) => {
                    eprintln!(
                        "cgan: warning: {} does not support file locks ({err}); using {HEARTBEAT_FILE} (host, PID and a heartbeat) instead",
                        run.display()
                    );
                    return Self::acquire_heartbeat(run, wait);
                }
                _ => return Err(io(err)),
            }
            if t0.elapsed() >= wait {
                let mut holder = String::new();
                let _ = file.rewind().and_then(|_| file.read_to_string(&mut holder));
                return Err(LockError::Held {
                    run: run.to_owned(),
                    holder: holder.trim().to_string(),
                });
            }
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    /// The fallback: an exclusive file with a heartbeat.
    fn acquire_heartbeat(run: &Path, wait: Duration) -> Result<RunLock, LockError> {
        let path = run.join(HEARTBEAT_FILE);
        let io = |source| LockError::Io {
            run: run.to_owned(),
            source,
        };
        let t0 = Instant::now();
        loop {
            match OpenOptions::new().write(true).create_new(true).open(&path) {
                Ok(mut f) => {
                    writeln!(f, "{}", me()).map_err(io)?;
                    let alive = Arc::new(AtomicBool::new(true));
                    let (beat, p) = (alive.clone(), path.clone());
                    std::thread::spawn(move || {
                        while beat.load(Ordering::SeqCst) {
                            std::thread::sleep(HEARTBEAT);
                            if let Ok(f) = File::options().write(true).open(&p) {
                                let _ = f.set_modified(SystemTime::now());
                            }
                        }
                    });
                    return Ok(RunLock {
                        _file: None,
                        heartbeat: Some((path, alive)),
                    });
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    let age = std::fs::metadata(&path)
                        .and_then(|m| m.modified())
                        .ok()
                        .and_then(|t| t.elapsed().ok());
                    if age.is_some_and(|a| a > STALE) {
                        // Its holder stopped beating: it died without removing the file.
                        let _ = std::fs::remove_file(&path);
                        continue;
                    }
                    if t0.elapsed() >= wait {
                        let holder = std::fs::read_to_string(&path).unwrap_or_default();
                        return Err(LockError::Held {
                            run: run.to_owned(),
                            holder: holder.trim().to_string(),
                        });
                    }
                    std::thread::sleep(Duration::from_millis(250));
                }
                Err(e) => return Err(io(e)),
            }
        }
    }
}

impl Drop for RunLock {
    fn drop(&mut self) {
        if let Some((path, alive)) = self.heartbeat.take() {
            alive.store(false, Ordering::SeqCst);
            let _ = std::fs::remove_file(path);
        }
    }
}

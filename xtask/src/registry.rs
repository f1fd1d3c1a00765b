//! `cargo xtask registry`: a real local registry (Debian's `docker-registry`) for the push
//! section of the tutorial, in the auth mode of your choice.
//!
//! In the foreground it serves until Ctrl-C and then stops cleanly. With `--background` it
//! starts itself detached, waits until the registry answers, prints how to use it and writes
//! `DIR/env` (`REGISTRY`, `REGISTRY_USER`, `REGISTRY_PASSWORD`) to `source`; `--stop` ends it
//! (the token issuer lives in the same process, so it stops too).
//!
//! "Ready" means the registry we started listens on its port: a port held by another program
//! makes the registry exit with its own error line, which is reported, and no `env`, `pid` or
//! `ready` file is left behind.

use crate::util::project_root;
use anyhow::{Context, Result, bail};
use nix::sys::signal::{SigHandler, Signal, kill, signal};
use nix::unistd::Pid;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use tests::registry::{Auth, Registry};

/// Arguments of `cargo xtask registry`.
#[derive(clap::Args)]
pub struct Args {
    /// Port on 127.0.0.1 (default: a free one)
    #[arg(long)]
    port: Option<u16>,
    /// Port of the token issuer on 127.0.0.1, with --auth token (default: a free one, printed)
    #[arg(long, value_name = "PORT")]
    token_port: Option<u16>,
    /// none: anyone pushes; basic: htpasswd; token: a Docker-Hub-like token issuer; tls: HTTPS
    #[arg(long, value_enum, default_value = "none")]
    auth: AuthMode,
    /// Where the registry keeps its config, certificates, storage and log
    #[arg(long, default_value = "target/registry")]
    dir: PathBuf,
    /// Start detached, print how to use it and return (stop it with --stop)
    #[arg(long, conflicts_with = "stop")]
    background: bool,
    /// Stop the registry started with --background in DIR
    #[arg(long)]
    stop: bool,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum AuthMode {
    None,
    Basic,
    Token,
    Tls,
}

impl From<AuthMode> for Auth {
    fn from(mode: AuthMode) -> Auth {
        match mode {
            AuthMode::None => Auth::None,
            AuthMode::Basic => Auth::Basic,
            AuthMode::Token => Auth::Token,
            AuthMode::Tls => Auth::Tls,
        }
    }
}

static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_stop_signal(_: nix::libc::c_int) {
    STOP.store(true, Ordering::SeqCst);
}

pub fn run(args: Args) -> Result<()> {
    let dir = if args.dir.is_absolute() {
        args.dir.clone()
    } else {
        project_root().join(&args.dir)
    };
    if args.stop {
        return stop(&dir);
    }
    require_tools(&args)?;
    if args.background {
        return start_background(&args, &dir);
    }
    serve(args.auth.into(), args.port, args.token_port, &dir)
}

/// Each program this mode runs, and the Debian package that has it: one line when missing.
fn require_tools(args: &Args) -> Result<()> {
    let mut needed = vec![("docker-registry", "docker-registry")];
    match args.auth {
        AuthMode::None => {}
        AuthMode::Basic => needed.push(("htpasswd", "apache2-utils")),
        AuthMode::Token | AuthMode::Tls => needed.push(("openssl", "openssl")),
    }
    if args.background {
        needed.push(("setsid", "util-linux"));
    }
    for (program, package) in needed {
        if tests::tools::find_on_path(program).is_none() {
            bail!("{program} is not installed: apt-get install {package} (as root)");
        }
    }
    Ok(())
}

/// Runs the registry in the foreground until Ctrl-C (SIGINT) or SIGTERM.
fn serve(auth: Auth, port: Option<u16>, token_port: Option<u16>, dir: &Path) -> Result<()> {
    if let Some(pid) = running_pid(dir) {
        bail!(
            "a registry started from {} is already running (pid {pid}); stop it with `cargo xtask registry --stop`",
            dir.display()
        );
    }
    // Fresh state each start: the tutorial's pushes begin from an empty registry.
    for stale in ["storage", "ready", "env", "pid"] {
        let path = dir.join(stale);
        let _ = std::fs::remove_dir_all(&path).or_else(|_| std::fs::remove_file(&path));
    }
    // SAFETY: the handler only stores to an atomic.
    unsafe {
        signal(Signal::SIGINT, SigHandler::Handler(on_stop_signal))
            .context("cannot handle SIGINT")?;
        signal(Signal::SIGTERM, SigHandler::Handler(on_stop_signal))
            .context("cannot handle SIGTERM")?;
    }
    let port = match port {
        Some(port) => port,
        None => free_port()?,
    };
    let mut registry = Registry::start_with(auth, dir, port, token_port.unwrap_or(0))
        .with_context(|| format!("cannot start the registry on 127.0.0.1:{port}"))?;
    let info = describe(&registry);
    write_atomically(&dir.join("env"), &env_file(&registry))?;
    write_atomically(&dir.join("pid"), &std::process::id().to_string())?;
    write_atomically(&dir.join("ready"), &info)?;
    println!("{info}");
    println!("Ctrl-C stops it.");
    while !STOP.load(Ordering::SeqCst) {
        if let Some(status) = registry.try_exit_status()? {
            bail!(
                "docker-registry exited with {status}; see {}",
                registry.log.display()
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    registry.stop();
    for done in ["ready", "pid", "env"] {
        let _ = std::fs::remove_file(dir.join(done));
    }
    println!("registry on {} stopped", registry.host);
    Ok(())
}

/// What a reader needs to push to `registry`.
fn describe(registry: &Registry) -> String {
    let mode = match registry.auth {
        Auth::None => "no auth",
        Auth::Basic => "htpasswd basic auth",
        Auth::Token => "token auth, a Docker-Hub-like token issuer",
        Auth::Tls => "HTTPS with a self-signed CA",
    };
    let mut lines = vec![format!(
        "registry {}://{} ({mode})",
        registry.scheme, registry.host
    )];
    if let (Some(user), Some(password)) = (&registry.username, &registry.password) {
        lines.push(format!("username {user}"));
        lines.push(format!("password {password}"));
    }
    if let Some(ca) = &registry.ca_pem {
        lines.push(format!("CA       {}", ca.display()));
    }
    if let Some(issuer) = &registry.token_server {
        lines.push(format!("issuer   {}", issuer.realm));
    }
    let login = match &registry.username {
        Some(user) => format!(" -u {user} --password-stdin <<<\"$REGISTRY_PASSWORD\""),
        None => String::new(),
    };
    let ca = match &registry.ca_pem {
        Some(ca) => format!(" --ca-file {}", ca.display()),
        None => String::new(),
    };
    lines.push(format!(
        "push     pusher push target/image/oci {}/user/penguinshell:latest{login}{ca}",
        registry.host
    ));
    lines.join("\n")
}

/// `export REGISTRY=... REGISTRY_USER=... REGISTRY_PASSWORD=...` for `source DIR/env`.
fn env_file(registry: &Registry) -> String {
    let mut s = format!("export REGISTRY={}\n", registry.host);
    if let (Some(user), Some(password)) = (&registry.username, &registry.password) {
        s += &format!("export REGISTRY_USER={user}\nexport REGISTRY_PASSWORD={password}\n");
    }
    if let Some(ca) = &registry.ca_pem {
        s += &format!("export REGISTRY_CA={}\n", ca.display());
    }
    s
}

fn write_atomically(path: &Path, contents: &str) -> Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, contents).with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))
}

/// Starts `cargo xtask registry` detached and waits until it is ready.
fn start_background(args: &Args, dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    if let Some(pid) = running_pid(dir) {
        bail!(
            "a registry started from {} is already running (pid {pid}); stop it with `cargo xtask registry --stop`",
            dir.display()
        );
    }
    let _ = std::fs::remove_file(dir.join("ready"));
    let log = dir.join("xtask-registry.log");
    let log_file =
        std::fs::File::create(&log).with_context(|| format!("cannot create {}", log.display()))?;
    let me = std::env::current_exe().context("cannot find the xtask binary")?;
    let mut cmd = Command::new("setsid");
    // --wait: should setsid have to fork, it still ends only when the task ends
    cmd.arg("--wait")
        .arg(me)
        .arg("registry")
        .arg("--dir")
        .arg(dir);
    cmd.arg("--auth").arg(match args.auth {
        AuthMode::None => "none",
        AuthMode::Basic => "basic",
        AuthMode::Token => "token",
        AuthMode::Tls => "tls",
    });
    if let Some(port) = args.port {
        cmd.arg("--port").arg(port.to_string());
    }
    if let Some(port) = args.token_port {
        cmd.arg("--token-port").arg(port.to_string());
    }
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(log_file.try_clone()?)
        .stderr(log_file)
        .spawn()
        .context("cannot start the registry in the background (setsid)")?;
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if let Some(status) = child.try_wait()? {
            // the detached task printed its error (one `error: ...` line) into its log
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            let why = text
                .lines()
                .rev()
                .find_map(|l| l.strip_prefix("error: "))
                .unwrap_or("no error message");
            for stale in ["ready", "pid", "env"] {
                let _ = std::fs::remove_file(dir.join(stale));
            }
            bail!("the registry did not start ({status}): {why}");
        }
        if let Ok(info) = std::fs::read_to_string(dir.join("ready")) {
            println!("{info}");
            println!(
                "source {} to get REGISTRY and its credentials; `cargo xtask registry --stop` stops it",
                dir.join("env").display()
            );
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    bail!(
        "the registry did not start within 30 s; see {}",
        log.display()
    )
}

fn free_port() -> Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").context("no free port")?;
    Ok(listener.local_addr()?.port())
}

/// The pid of a live `cargo xtask registry` started from `dir`, if any.
fn running_pid(dir: &Path) -> Option<i32> {
    let pid: i32 = std::fs::read_to_string(dir.join("pid"))
        .ok()?
        .trim()
        .parse()
        .ok()?;
    kill(Pid::from_raw(pid), None).ok().map(|_| pid)
}

/// Stops the background registry of `dir` and waits until it is gone.
fn stop(dir: &Path) -> Result<()> {
    let Some(pid) = running_pid(dir) else {
        println!("no registry is running from {}", dir.display());
        return Ok(());
    };
    kill(Pid::from_raw(pid), Signal::SIGTERM)
        .with_context(|| format!("cannot stop the registry (pid {pid})"))?;
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if kill(Pid::from_raw(pid), None).is_err() {
            println!("registry stopped");
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    bail!("the registry (pid {pid}) did not stop within 10 s")
}

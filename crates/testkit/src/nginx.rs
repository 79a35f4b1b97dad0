//! Debian's nginx (which scripts/test.sh installs) started on a configuration the test fills in,
//! in a directory of its own, and stopped when dropped.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A port free on loopback at the moment of asking.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("bind a loopback port")
        .port()
}

/// A file the repository ships, read by its path from the workspace root
/// (`examples/nginx-forward-auth/nginx.conf`).
pub fn shipped(path: &str) -> String {
    let file = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(path);
    std::fs::read_to_string(&file).unwrap_or_else(|err| panic!("{}: {err}", file.display()))
}

/// A running nginx; killed when dropped.
pub struct Nginx {
    child: Child,
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    dir: tempfile::TempDir,
}

impl Nginx {
    /// Starts nginx on `config` (a complete nginx.conf whose listener is `127.0.0.1:port`) and
    /// waits until it accepts connections; panics with nginx's error log when it does not.
    pub async fn start(config: &str, port: u16) -> Self {
        let binary = ["/usr/sbin/nginx", "/usr/bin/nginx"]
            .into_iter()
            .find(|p| Path::new(p).exists())
            .expect("nginx is not installed: scripts/test.sh installs Debian's nginx package");
        let dir = tempfile::tempdir().expect("nginx's directory");
        std::fs::create_dir_all(dir.path().join("logs")).expect("nginx's log directory");
        let file = dir.path().join("nginx.conf");
        std::fs::write(&file, config).expect("write nginx.conf");
        let child = Command::new(binary)
            .arg("-p")
            .arg(dir.path())
            .arg("-c")
            .arg(&file)
            .args(["-g", "daemon off;"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start nginx");
        // Owned at once, so nginx is stopped on every path out, a failed start included.
        let nginx = Self {
            child,
            base: format!("http://127.0.0.1:{port}"),
            dir,
        };
        for _ in 0..100 {
            if tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
            {
                return nginx;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let log =
            std::fs::read_to_string(nginx.dir.path().join("logs/error.log")).unwrap_or_default();
        panic!("nginx did not start on port {port}: {log}");
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

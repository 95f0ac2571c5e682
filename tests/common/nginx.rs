//! Debian's nginx (scripts/test installs it) in front of daemons: a reverse
//! proxy as the docs write it, or a load balancer over several instances.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// nginx, running in the foreground; killed when dropped.
pub struct Nginx {
    child: Child,
    pub port: u16,
}

impl Nginx {
    /// nginx with `http_conf` inside its `http { }` block, beside the
    /// temporary paths under `dir`; `http_conf` is given the port to listen on.
    pub fn start(dir: &Path, http_conf: impl FnOnce(u16) -> String) -> Nginx {
        std::fs::create_dir_all(dir).unwrap();
        let port = super::free_port();
        let conf = format!(
            "daemon off;\nmaster_process off;\nerror_log {dir}/error.log warn;\npid {dir}/nginx.pid;\n\
             events {{}}\nhttp {{\n  access_log off;\n  client_body_temp_path {dir}/body;\n\
             proxy_temp_path {dir}/proxy;\n{}\n}}\n",
            http_conf(port),
            dir = dir.display(),
        );
        let path = dir.join("nginx.conf");
        std::fs::write(&path, conf).unwrap();
        let child = Command::new("nginx")
            .arg("-p")
            .arg(dir)
            .arg("-c")
            .arg(&path)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("nginx (scripts/test installs it)");
        let start = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "nginx did not listen"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Nginx { child, port }
    }

    /// nginx balancing over instances on `ports`, round robin; a request
    /// that meets a dead instance (a POST too) is passed to the next one.
    pub fn balancer(dir: &Path, ports: &[u16]) -> Nginx {
        let servers: String = ports
            .iter()
            .map(|p| format!("    server 127.0.0.1:{p} max_fails=0;\n"))
            .collect();
        Nginx::start(dir, |port| {
            format!(
                "  upstream archivers {{\n{servers}  }}\n\
                 server {{\n    listen 127.0.0.1:{port};\n    location / {{\n\
                 proxy_pass http://archivers;\n      proxy_next_upstream error timeout non_idempotent;\n\
                 proxy_connect_timeout 1s;\n    }}\n  }}"
            )
        })
    }

    /// `http://127.0.0.1:<port>`.
    pub fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

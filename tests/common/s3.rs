//! A real S3-protocol server over HTTP on 127.0.0.1: s3s + s3s-fs, in-process.

use std::path::{Path, PathBuf};
use std::time::Duration;

use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder as ConnBuilder;
use s3s::auth::SimpleAuth;
use s3s::service::S3ServiceBuilder;

pub const ACCESS_KEY: &str = "test-access-key";
pub const SECRET_KEY: &str = "test-secret-key";

pub struct S3Server {
    pub endpoint: String,
    pub root: PathBuf,
    _dir: tempfile::TempDir,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for S3Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl S3Server {
    /// Starts a server whose root holds one directory per bucket.
    pub async fn start(buckets: &[&str]) -> S3Server {
        let dir = tempfile::tempdir().unwrap();
        for b in buckets {
            std::fs::create_dir_all(dir.path().join(b)).unwrap();
        }
        let fs = s3s_fs::FileSystem::new(dir.path()).unwrap();
        let mut b = S3ServiceBuilder::new(fs);
        b.set_auth(SimpleAuth::from_single(ACCESS_KEY, SECRET_KEY));
        let service = b.build();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            let http = ConnBuilder::new(TokioExecutor::new());
            loop {
                let Ok((socket, _)) = listener.accept().await else {
                    continue;
                };
                let conn = http
                    .serve_connection(TokioIo::new(socket), service.clone())
                    .into_owned();
                tokio::spawn(async move {
                    let _ = conn.await;
                });
            }
        });
        S3Server {
            endpoint: format!("http://{addr}"),
            root: dir.path().to_owned(),
            _dir: dir,
            task,
        }
    }

    /// Puts a file into a bucket directly on disk (as a platform's recorder would).
    pub fn put_file(&self, bucket: &str, key: &str, bytes: &[u8]) {
        let path = self.root.join(bucket).join(key);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, bytes).unwrap();
    }

    /// A client for checking what landed.
    pub async fn client(&self) -> aws_sdk_s3::Client {
        recording_archiver::store::s3::client(
            Some(&self.endpoint),
            "us-east-1",
            true,
            Some(ACCESS_KEY),
            SECRET_KEY,
            Duration::from_secs(30),
        )
        .await
    }

    /// Multipart uploads still open (s3s-fs keeps one `.upload-<id>.json` each).
    pub fn open_uploads(&self) -> Vec<PathBuf> {
        std::fs::read_dir(&self.root)
            .unwrap()
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.file_name()
                    .unwrap()
                    .to_string_lossy()
                    .starts_with(".upload-")
            })
            .collect()
    }

    /// The `[store]` section archiving into `bucket` here.
    pub fn store_config(&self, bucket: &str) -> String {
        self.store_config_via(bucket, &self.endpoint)
    }

    /// The same, reaching this server through `endpoint` (a proxy in front).
    pub fn store_config_via(&self, bucket: &str, endpoint: &str) -> String {
        format!(
            "[store]\ntype = \"s3\"\nbucket = \"{bucket}\"\nendpoint = \"{}\"\nregion = \"us-east-1\"\nforce_path_style = true\naccess_key_id = \"{ACCESS_KEY}\"\nsecret_access_key = \"{SECRET_KEY}\"\n",
            endpoint
        )
    }

    pub fn path(&self, bucket: &str, key: &str) -> PathBuf {
        Path::new(&self.root).join(bucket).join(key)
    }
}

//! A real S3-protocol server over HTTP on 127.0.0.1: s3s + s3s-fs, in-process.
//! s3s-fs keeps no list of multipart uploads, so the server keeps one beside
//! it and answers ListMultipartUploads from it. It can be stopped (every
//! connection cut, the port closed) and started again on the same port.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder as ConnBuilder;
use s3s::auth::SimpleAuth;
use s3s::dto::*;
use s3s::service::{S3Service, S3ServiceBuilder};
use s3s::{S3Request, S3Response, S3Result, S3};

pub const ACCESS_KEY: &str = "test-access-key";
pub const SECRET_KEY: &str = "test-secret-key";

pub struct S3Server {
    pub endpoint: String,
    pub root: PathBuf,
    addr: std::net::SocketAddr,
    service: S3Service,
    /// Open multipart uploads: id → (bucket, key, initiated).
    uploads: Uploads,
    _dir: tempfile::TempDir,
    task: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

type Uploads = Arc<Mutex<BTreeMap<String, (String, String, SystemTime)>>>;

impl Drop for S3Server {
    fn drop(&mut self) {
        if let Some(t) = self.task.lock().unwrap().take() {
            t.abort();
        }
    }
}

/// s3s-fs, plus the list of multipart uploads it does not keep, and
/// conditional writes made atomic per key as S3 makes them (s3s-fs checks
/// `If-None-Match` before it receives the body, so two writers racing for
/// one key could both pass).
struct Fs {
    inner: Arc<s3s_fs::FileSystem>,
    uploads: Uploads,
    creating: KeyLocks,
    root: PathBuf,
}

impl Fs {
    /// S3 writes into existing buckets only (s3s-fs would make the directory).
    fn bucket_exists(&self, bucket: &str) -> S3Result<()> {
        if self.root.join(bucket).is_dir() {
            Ok(())
        } else {
            Err(s3s::s3_error!(NoSuchBucket))
        }
    }
}

/// Runs a request's work to its end even if the client goes away (hyper
/// drops the handler of a closed connection): S3 does each request whole or
/// not at all, and s3s-fs's steps (files moved, metadata saved) cut between
/// would leave states S3 never shows.
async fn to_the_end<T: Send + 'static>(
    work: impl std::future::Future<Output = S3Result<T>> + Send + 'static,
) -> S3Result<T> {
    tokio::spawn(work)
        .await
        .unwrap_or_else(|e| Err(s3s::s3_error!(InternalError, "{e}")))
}

/// One lock per key under a conditional write.
#[derive(Default)]
struct KeyLocks(Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>);

impl KeyLocks {
    fn of(&self, bucket: &str, key: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut m = self.0.lock().unwrap();
        Arc::clone(m.entry(format!("{bucket}/{key}")).or_default())
    }
}

/// Methods passed to s3s-fs as they are, in the form `async_trait` gives
/// (it cannot see into a macro's output).
macro_rules! delegate {
    ($($name:ident: $input:ty => $output:ty;)*) => {
        $(
            fn $name<'a, 't>(
                &'a self,
                req: S3Request<$input>,
            ) -> std::pin::Pin<Box<dyn std::future::Future<Output = S3Result<S3Response<$output>>> + Send + 't>>
            where
                'a: 't,
                Self: 't,
            {
                self.inner.$name(req)
            }
        )*
    };
}

#[async_trait::async_trait]
impl S3 for Fs {
    delegate! {
        create_bucket: CreateBucketInput => CreateBucketOutput;
        copy_object: CopyObjectInput => CopyObjectOutput;
        delete_bucket: DeleteBucketInput => DeleteBucketOutput;
        delete_object: DeleteObjectInput => DeleteObjectOutput;
        delete_objects: DeleteObjectsInput => DeleteObjectsOutput;
        get_bucket_location: GetBucketLocationInput => GetBucketLocationOutput;
        head_bucket: HeadBucketInput => HeadBucketOutput;
        list_buckets: ListBucketsInput => ListBucketsOutput;
        list_objects: ListObjectsInput => ListObjectsOutput;
        list_objects_v2: ListObjectsV2Input => ListObjectsV2Output;
        upload_part: UploadPartInput => UploadPartOutput;
        upload_part_copy: UploadPartCopyInput => UploadPartCopyOutput;
    }

    async fn list_parts(
        &self,
        req: S3Request<ListPartsInput>,
    ) -> S3Result<S3Response<ListPartsOutput>> {
        // As S3 does: an upload completed or aborted is no longer known.
        if !self
            .uploads
            .lock()
            .unwrap()
            .contains_key(&req.input.upload_id)
        {
            return Err(s3s::s3_error!(NoSuchUpload));
        }
        self.inner.list_parts(req).await
    }

    async fn create_multipart_upload(
        &self,
        req: S3Request<CreateMultipartUploadInput>,
    ) -> S3Result<S3Response<CreateMultipartUploadOutput>> {
        self.bucket_exists(&req.input.bucket)?;
        let (bucket, key) = (req.input.bucket.clone(), req.input.key.clone());
        let (inner, uploads) = (Arc::clone(&self.inner), Arc::clone(&self.uploads));
        // As on S3, an upload created is listed even when its answer never
        // reached the client (killed mid-request).
        to_the_end(async move {
            let out = inner.create_multipart_upload(req).await?;
            if let Some(id) = &out.output.upload_id {
                uploads
                    .lock()
                    .unwrap()
                    .insert(id.clone(), (bucket, key, SystemTime::now()));
            }
            Ok(out)
        })
        .await
    }

    // s3s-fs moves an object into place before it saves its metadata: a
    // read waits for a conditional write of its key to finish, so it sees
    // the object whole, as S3 shows it.
    async fn head_object(
        &self,
        req: S3Request<HeadObjectInput>,
    ) -> S3Result<S3Response<HeadObjectOutput>> {
        let lock = self.creating.of(&req.input.bucket, &req.input.key);
        let _held = lock.lock().await;
        self.inner.head_object(req).await
    }

    async fn get_object(
        &self,
        req: S3Request<GetObjectInput>,
    ) -> S3Result<S3Response<GetObjectOutput>> {
        let lock = self.creating.of(&req.input.bucket, &req.input.key);
        let _held = lock.lock().await;
        self.inner.get_object(req).await
    }

    async fn put_object(
        &self,
        req: S3Request<PutObjectInput>,
    ) -> S3Result<S3Response<PutObjectOutput>> {
        self.bucket_exists(&req.input.bucket)?;
        if req.input.if_none_match.is_none() {
            return self.inner.put_object(req).await;
        }
        let lock = self.creating.of(&req.input.bucket, &req.input.key);
        // Run to its end even if the client goes away: s3s-fs moves the
        // file into place before it saves the metadata, and a write cut
        // between the two would leave an object S3 never shows.
        let inner = Arc::clone(&self.inner);
        to_the_end(async move {
            let _held = lock.lock().await;
            inner.put_object(req).await
        })
        .await
    }

    async fn complete_multipart_upload(
        &self,
        req: S3Request<CompleteMultipartUploadInput>,
    ) -> S3Result<S3Response<CompleteMultipartUploadOutput>> {
        let id = req.input.upload_id.clone();
        let lock = self.creating.of(&req.input.bucket, &req.input.key);
        let (inner, uploads) = (Arc::clone(&self.inner), Arc::clone(&self.uploads));
        // Atomic, as on S3: the object in place and the upload no longer
        // listed, whether or not the client stays for the answer.
        to_the_end(async move {
            let _held = lock.lock().await;
            let out = inner.complete_multipart_upload(req).await?;
            uploads.lock().unwrap().remove(&id);
            Ok(out)
        })
        .await
    }

    async fn abort_multipart_upload(
        &self,
        req: S3Request<AbortMultipartUploadInput>,
    ) -> S3Result<S3Response<AbortMultipartUploadOutput>> {
        let id = req.input.upload_id.clone();
        if !self.uploads.lock().unwrap().contains_key(&id) {
            return Err(s3s::s3_error!(NoSuchUpload));
        }
        let (inner, uploads) = (Arc::clone(&self.inner), Arc::clone(&self.uploads));
        to_the_end(async move {
            let out = inner.abort_multipart_upload(req).await?;
            uploads.lock().unwrap().remove(&id);
            Ok(out)
        })
        .await
    }

    async fn list_multipart_uploads(
        &self,
        req: S3Request<ListMultipartUploadsInput>,
    ) -> S3Result<S3Response<ListMultipartUploadsOutput>> {
        let input = req.input;
        let prefix = input.prefix.clone().unwrap_or_default();
        let uploads: Vec<MultipartUpload> = self
            .uploads
            .lock()
            .unwrap()
            .iter()
            .filter(|(_, (b, k, _))| *b == input.bucket && k.starts_with(&prefix))
            .map(|(id, (_, k, at))| MultipartUpload {
                key: Some(k.clone()),
                upload_id: Some(id.clone()),
                initiated: Some(Timestamp::from(*at)),
                ..Default::default()
            })
            .collect();
        Ok(S3Response::new(ListMultipartUploadsOutput {
            bucket: Some(input.bucket),
            prefix: input.prefix,
            is_truncated: Some(false),
            uploads: Some(uploads),
            ..Default::default()
        }))
    }
}

impl S3Server {
    /// Starts a server whose root holds one directory per bucket.
    pub async fn start(buckets: &[&str]) -> S3Server {
        let dir = tempfile::tempdir().unwrap();
        for b in buckets {
            std::fs::create_dir_all(dir.path().join(b)).unwrap();
        }
        let uploads = Uploads::default();
        let fs = Fs {
            inner: Arc::new(s3s_fs::FileSystem::new(dir.path()).unwrap()),
            creating: KeyLocks::default(),
            uploads: Arc::clone(&uploads),
            root: dir.path().to_owned(),
        };
        let mut b = S3ServiceBuilder::new(fs);
        b.set_auth(SimpleAuth::from_single(ACCESS_KEY, SECRET_KEY));
        let service = b.build();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = S3Server {
            endpoint: format!("http://{addr}"),
            root: dir.path().to_owned(),
            addr,
            service,
            uploads,
            _dir: dir,
            task: Mutex::new(None),
        };
        server.serve(listener);
        server
    }

    fn serve(&self, listener: tokio::net::TcpListener) {
        let service = self.service.clone();
        let task = tokio::spawn(async move {
            let http = ConnBuilder::new(TokioExecutor::new());
            // Connections end with the server: stopping it cuts them all.
            let mut conns = tokio::task::JoinSet::new();
            loop {
                let Ok((socket, _)) = listener.accept().await else {
                    continue;
                };
                let conn = http
                    .serve_connection(TokioIo::new(socket), service.clone())
                    .into_owned();
                conns.spawn(async move {
                    let _ = conn.await;
                });
                while conns.try_join_next().is_some() {}
            }
        });
        *self.task.lock().unwrap() = Some(task);
    }

    /// Stops the server: connections cut, the port refusing new ones.
    pub async fn stop(&self) {
        if let Some(t) = self.task.lock().unwrap().take() {
            t.abort();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    /// Starts the stopped server again, on the same port, with what it held.
    pub async fn restart(&self) {
        let listener = tokio::net::TcpListener::bind(self.addr).await.unwrap();
        self.serve(listener);
    }

    /// The keys of every object in `bucket` (ListObjectsV2), sidecars included.
    pub async fn keys(&self, bucket: &str) -> Vec<String> {
        let listed = self
            .client()
            .await
            .list_objects_v2()
            .bucket(bucket)
            .send()
            .await
            .unwrap();
        listed
            .contents()
            .iter()
            .filter_map(|o| o.key().map(str::to_owned))
            .collect()
    }

    /// The multipart uploads the server knows are open (ListMultipartUploads).
    pub fn listed_uploads(&self) -> Vec<String> {
        self.uploads.lock().unwrap().keys().cloned().collect()
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

    /// Every object file of `bucket` on disk, catalog sidecars (`.json`)
    /// and s3s-fs's own hidden files left out: listing without paging.
    pub fn object_files(&self, bucket: &str) -> Vec<PathBuf> {
        let mut found = Vec::new();
        let mut dirs = vec![self.root.join(bucket)];
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
                let path = entry.path();
                let name = entry.file_name().to_string_lossy().into_owned();
                if name.starts_with('.') {
                    continue;
                }
                if path.is_dir() {
                    dirs.push(path);
                } else if !name.ends_with(".json") {
                    found.push(path);
                }
            }
        }
        found
    }

    /// The keys of the objects in `bucket` under `prefix`, read on disk
    /// (s3s-fs's own metadata files left out).
    pub fn keys_on_disk(&self, bucket: &str, prefix: &str) -> Vec<String> {
        let base = self.root.join(bucket);
        let mut keys: Vec<String> = self
            .object_files(bucket)
            .iter()
            .filter_map(|p| p.strip_prefix(&base).ok())
            .map(|p| p.to_string_lossy().into_owned())
            .filter(|k| k.starts_with(prefix))
            .collect();
        keys.sort();
        keys
    }

    pub fn path(&self, bucket: &str, key: &str) -> PathBuf {
        Path::new(&self.root).join(bucket).join(key)
    }
}

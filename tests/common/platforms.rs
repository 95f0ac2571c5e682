//! Callbacks in every platform's format, as the chaos and soak cases send
//! them: each announced file in a different sender's shape (JD Cloud v1.1
//! recording and snapshot, JD legacy from its S3 bucket, Alibaba Cloud from
//! its OSS path, Tencent recording and screenshot), and the events around
//! them (stream starts and stops of JD, Kingsoft JSON and form, Alibaba's GET
//! ingest callback, Tencent push).

use serde_json::json;

use super::origin::{Content, FileSpec, Origin};
use super::s3::S3Server;

/// The bucket the "platform" records into, for JD legacy paths.
pub const PLATFORM_BUCKET: &str = "platform";

/// The `[[sources]]` of every platform, all with token `t`: files come from
/// `origin` (HTTP) and, for JD legacy, from `s3`'s platform bucket.
pub fn sources(origin: &Origin, s3: &S3Server) -> String {
    format!(
        r#"
[[sources]]
name = "jd"
provider = "jdcloud"
token = "t"
allow_hosts = ["127.0.0.1"]
[sources.origin]
type = "s3"
endpoint = "{endpoint}"
region = "us-east-1"
force_path_style = true
access_key_id = "{key}"
secret_access_key = "{secret}"

[[sources]]
name = "ali"
provider = "aliyun"
token = "t"
[sources.origin]
type = "http"
base_url = "http://{base}/ali/"

[[sources]]
name = "ks"
provider = "ksyun"
token = "t"

[[sources]]
name = "tc"
provider = "tencent"
token = "t"
allow_hosts = ["127.0.0.1"]
"#,
        endpoint = s3.endpoint,
        key = super::s3::ACCESS_KEY,
        secret = super::s3::SECRET_KEY,
        base = origin.addr,
    )
}

/// How a callback is sent.
#[derive(Clone, Debug)]
pub enum Send {
    /// POST with this Content-Type.
    Post(&'static str),
    /// GET with the body as the query string (Alibaba's ingest callback).
    Get,
}

/// One callback as a platform sends it.
#[derive(Clone, Debug)]
pub struct Callback {
    pub source: &'static str,
    pub send: Send,
    pub body: String,
    /// The file it announces (an index into the run's files), if any.
    pub file: Option<usize>,
}

impl Callback {
    /// Sends it to the daemon at `base`: the status and the reply's JSON.
    pub async fn send(
        &self,
        http: &reqwest::Client,
        base: &str,
    ) -> reqwest::Result<(u16, serde_json::Value)> {
        let url = format!("{base}/callbacks/{}?token=t", self.source);
        let req = match self.send {
            Send::Post(ct) => http
                .post(url)
                .header("content-type", ct)
                .body(self.body.clone()),
            Send::Get => http.get(format!("{url}&{}", self.body)),
        };
        let r = req.send().await?;
        let status = r.status().as_u16();
        let text = r.text().await?;
        Ok((status, serde_json::from_str(&text).unwrap_or_default()))
    }
}

/// How many announcement shapes [`announce`] cycles through.
pub const SHAPES: usize = 6;

/// Serves file `i` (`content`) where its shape's platform keeps it, and the
/// callback announcing it.
pub fn announce(i: usize, spec: FileSpec, origin: &Origin, s3: &S3Server) -> Callback {
    let name = format!("f{i:05}");
    let stream = format!("room{}", i % 7);
    let ms = 1_764_000_000_000u64 + i as u64 * 1000;
    let json = "application/json";
    let (source, body) = match i % SHAPES {
        0 => {
            origin.put(&format!("/jd/{name}.flv"), spec);
            (
                "jd",
                json!({"version": "v1.1", "publishDomain": "push.example.com", "appName": "live",
                "streamName": stream, "event": "record_done", "status": "success", "format": "flv",
                "beginTime": ms, "endTime": ms + 60_000, "downloadUrl": origin.url(&format!("/jd/{name}.flv"))}),
            )
        }
        1 => {
            origin.put(&format!("/jd/{name}.jpg"), spec);
            (
                "jd",
                json!({"version": "v1.1", "publishDomain": "push.example.com", "appName": "live",
                "streamName": stream, "snapshotTime": ms, "status": "success",
                "downloadUrl": origin.url(&format!("/jd/{name}.jpg"))}),
            )
        }
        2 => {
            let key = format!("record/20261201/{name}.flv");
            s3.put_file(PLATFORM_BUCKET, &key, &whole(&spec.content));
            let s = ms / 1000;
            (
                "jd",
                json!({"domain": "push.example.com", "app": "live", "stream": stream,
                "event": "RECORD_PART_DONE", "status": "success",
                "url": format!("{PLATFORM_BUCKET}/{key}"), "duration": "60",
                "startTime": s.to_string(), "stopTime": (s + 60).to_string()}),
            )
        }
        3 => {
            origin.put(&format!("/ali/live/{name}.flv"), spec);
            (
                "ali",
                json!({"domain": "push.example.com", "app": "live", "stream": stream,
                "uri": format!("live/{name}.flv"), "duration": 60.0,
                "start_time": ms / 1000, "stop_time": ms / 1000 + 60}),
            )
        }
        4 => {
            origin.put(&format!("/tc/{name}.mp4"), spec);
            (
                "tc",
                json!({"appid": 12345, "app": "push.example.com", "appname": "live",
                "stream_id": stream, "channel_id": stream, "event_type": 100, "file_format": "MP4",
                "start_time": ms / 1000, "end_time": ms / 1000 + 60, "duration": 60,
                "video_url": origin.url(&format!("/tc/{name}.mp4")), "file_id": name}),
            )
        }
        _ => {
            origin.put(&format!("/tc/{name}.jpg"), spec);
            (
                "tc",
                json!({"appid": 12345, "app": "push.example.com", "appname": "live",
                "stream_id": stream, "channel_id": stream, "event_type": 200,
                "create_time": ms / 1000, "pic_full_url": origin.url(&format!("/tc/{name}.jpg"))}),
            )
        }
    };
    Callback {
        source,
        send: Send::Post(json),
        body: body.to_string(),
        file: Some(i),
    }
}

/// The `n`th callback that announces no file: stream starts and stops in
/// each platform's format.
pub fn event_only(n: usize) -> Callback {
    let stream = format!("room{}", n % 7);
    let json = "application/json";
    let (source, send, body) = match n % 6 {
        0 => ("jd", Send::Post(json), json!({"version": "v1.1", "publishDomain": "push.example.com",
            "appName": "live", "streamName": stream, "event": "publish_started", "status": "success"}).to_string()),
        1 => ("jd", Send::Post(json), json!({"version": "v1.1", "publishDomain": "push.example.com",
            "appName": "live", "streamName": stream, "event": "publish_done", "status": "success"}).to_string()),
        2 => ("ks", Send::Post(json), json!({"Version": "1.0", "App": "live", "Pubdomain": "push.example.com",
            "Stream": stream, "PubStartUnixTime": (1_764_000_000_000u64 + n as u64).to_string(),
            "NotifyType": "PubStart"}).to_string()),
        3 => ("ks", Send::Post("application/x-www-form-urlencoded"),
            format!("app=live&name={stream}&tcurl=rtmp://push.example.com/live&call=user_publish_done&vdoid={n}")),
        4 => ("ali", Send::Get,
            format!("action=publish&app=push.example.com&appname=live&id={stream}&ip=203.0.113.7&node=n1&time={}",
                1_764_000_000 + n)),
        _ => ("tc", Send::Post(json), json!({"appid": 12345, "app": "push.example.com", "appname": "live",
            "stream_id": stream, "channel_id": stream, "event_type": n % 2, "event_time": 1_764_000_000 + n,
            "user_ip": "203.0.113.7"}).to_string()),
    };
    Callback {
        source,
        send,
        body,
        file: None,
    }
}

/// All of a content's bytes (the files here are small enough to hold).
pub fn whole(c: &Content) -> Vec<u8> {
    c.slice(0, c.len() as usize).to_vec()
}

/// A small deterministic generator, so a run can be repeated.
pub struct Lcg(pub u64);

impl Lcg {
    pub fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }

    /// A number in `lo..hi`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo).max(1)
    }
}

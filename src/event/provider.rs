//! The platforms whose callback formats we read.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A platform callback format. `Auto` is only a configuration choice: every
/// parsed event names the concrete provider it was read as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Provider {
    Jdcloud,
    Aliyun,
    Ksyun,
    Tencent,
    /// nginx-rtmp-module's notify hooks (self-hosted).
    #[serde(rename = "nginx_rtmp")]
    NginxRtmp,
    /// SRS's HTTP callbacks (self-hosted).
    Srs,
    /// Huawei Cloud Live.
    Huawei,
    /// Volcengine live (BytePlus MediaLive).
    Volcengine,
    Auto,
}

impl Provider {
    /// The name used in config and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Provider::Jdcloud => "jdcloud",
            Provider::Aliyun => "aliyun",
            Provider::Ksyun => "ksyun",
            Provider::Tencent => "tencent",
            Provider::NginxRtmp => "nginx_rtmp",
            Provider::Srs => "srs",
            Provider::Huawei => "huawei",
            Provider::Volcengine => "volcengine",
            Provider::Auto => "auto",
        }
    }
}

impl fmt::Display for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Provider {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "jdcloud" => Ok(Provider::Jdcloud),
            "aliyun" => Ok(Provider::Aliyun),
            "ksyun" => Ok(Provider::Ksyun),
            "tencent" => Ok(Provider::Tencent),
            "nginx_rtmp" | "nginx-rtmp" => Ok(Provider::NginxRtmp),
            "srs" => Ok(Provider::Srs),
            "huawei" => Ok(Provider::Huawei),
            "volcengine" => Ok(Provider::Volcengine),
            "auto" => Ok(Provider::Auto),
            other => Err(format!(
                "unknown provider {other:?} (expected jdcloud, aliyun, ksyun, tencent, nginx_rtmp, srs, huawei, volcengine or auto)"
            )),
        }
    }
}

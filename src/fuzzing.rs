//! Entry points for the fuzz targets in `fuzz/` (cargo-fuzz): kept in the
//! library so they build, and run over the fixtures, with every `cargo test`.

use crate::body::{decode_body, decode_query, Encoding};
use crate::providers::{self, huawei, tencent, volcengine, Provider};
use crate::store::sanitize_component;

/// Reads `data` every way a request can arrive, parses each reading as
/// `provider`, and checks what must hold for any input: the parser may refuse
/// but not panic, and a stream or file name, however hostile, becomes one
/// clean object-key segment.
pub fn parse_as(provider: Provider, data: &[u8]) {
    let mut readings = vec![
        decode_body(Encoding::Json, data),
        decode_body(Encoding::Form, data),
    ];
    if let Ok(query) = std::str::from_utf8(data) {
        readings.push(decode_query(query));
    }
    for payload in readings.into_iter().flatten() {
        match provider {
            Provider::Tencent => {
                let _ = tencent::verify_sign(payload.records(), "key", 1_700_000_000);
            }
            Provider::Huawei => {
                let _ = huawei::verify(payload.records(), "key", 1_700_000_000, 300);
            }
            Provider::Volcengine => {
                let _ = volcengine::verify(payload.records(), "key", 1_700_000_000, 300);
            }
            _ => {}
        }
        let Ok(events) = providers::parse(provider, &payload) else {
            continue;
        };
        for parsed in events {
            let event = parsed.into_event("fuzz", chrono::Utc::now(), "");
            let names = [
                event.stream.name.as_deref(),
                event.stream.app.as_deref(),
                event.stream.domain.as_deref(),
                event.file.as_ref().map(|f| f.location.file_name()),
            ];
            for name in names.into_iter().flatten() {
                let segment = sanitize_component(name);
                assert!(
                    !segment.is_empty()
                        && !segment.contains(['/', '\\'])
                        && segment != ".."
                        && segment != "."
                        && !segment.chars().any(char::is_control)
                        && segment.len() <= 255,
                    "{name:?} became the key segment {segment:?}"
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_fixture_passes_through_every_parser() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
        for entry in std::fs::read_dir(dir).unwrap() {
            let data = std::fs::read(entry.unwrap().path()).unwrap();
            for p in [
                Provider::Jdcloud,
                Provider::Aliyun,
                Provider::Ksyun,
                Provider::Tencent,
                Provider::NginxRtmp,
                Provider::Srs,
                Provider::Huawei,
                Provider::Volcengine,
                Provider::Auto,
            ] {
                parse_as(p, &data);
            }
        }
    }
}

//! Reading an HLS media playlist: the files it names (its segments and its
//! `EXT-X-MAP` initialization section), each resolved against the
//! playlist's own location, and where each goes beside the archived
//! playlist so the copy in the bucket plays as it is.

use crate::catalog::Role;
use crate::event::Location;
use crate::store::key::sanitize_component;

/// The largest playlist read: 8 MiB is over 100,000 segments.
pub const MAX_PLAYLIST_BYTES: usize = 8 * 1024 * 1024;

/// One file a playlist names, in playlist order.
#[derive(Debug, Clone, PartialEq)]
pub struct Named {
    /// The URI as the playlist writes it.
    pub uri: String,
    pub role: Role,
    /// Its `#EXTINF` duration, in seconds.
    pub duration_s: Option<f64>,
}

/// The files a media playlist names, each once; an error says why the text
/// is not one (a master playlist names other playlists, not recordings).
pub fn named_files(text: &str) -> Result<Vec<Named>, String> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut lines = text.lines().map(str::trim);
    if lines.next() != Some("#EXTM3U") {
        return Err("not an HLS playlist: it does not begin with #EXTM3U".to_owned());
    }
    let mut out = Files::default();
    let mut duration = None;
    for line in lines {
        if line.is_empty() {
            continue;
        }
        if let Some(tag) = line.strip_prefix('#') {
            if tag.starts_with("EXT-X-STREAM-INF") || tag.starts_with("EXT-X-I-FRAME-STREAM-INF") {
                return Err(
                    "a master playlist (it names other playlists): announce the media \
                            playlist of the rendition to archive"
                        .to_owned(),
                );
            }
            if let Some(d) = tag.strip_prefix("EXTINF:") {
                duration = d.split(',').next().and_then(|d| d.trim().parse().ok());
            } else if let Some(attrs) = tag.strip_prefix("EXT-X-MAP:") {
                let uri = attribute(attrs, "URI")
                    .ok_or_else(|| format!("an EXT-X-MAP without a URI: {line:?}"))?;
                out.push(uri, Role::Init, None);
            }
            continue;
        }
        out.push(line.to_owned(), Role::Segment, duration.take());
    }
    if !out.files.iter().any(|n| n.role == Role::Segment) {
        return Err("the playlist names no segment".to_owned());
    }
    Ok(out.files)
}

/// The files named so far, each once.
#[derive(Default)]
struct Files {
    files: Vec<Named>,
    index: std::collections::HashMap<String, usize>,
}

impl Files {
    /// A file named again (a map repeated before every discontinuity, the
    /// byte ranges of one file) is one file; its segments' durations add up,
    /// and a file holding segments is a segment file.
    fn push(&mut self, uri: String, role: Role, duration_s: Option<f64>) {
        match self.index.get(&uri) {
            Some(&i) => {
                let f = &mut self.files[i];
                if role == Role::Segment {
                    f.role = Role::Segment;
                    f.duration_s = match (f.duration_s, duration_s) {
                        (Some(a), Some(b)) => Some(a + b),
                        (a, b) => a.or(b),
                    };
                }
            }
            None => {
                self.index.insert(uri.clone(), self.files.len());
                self.files.push(Named {
                    uri,
                    role,
                    duration_s,
                });
            }
        }
    }
}

/// A quoted (or bare) attribute of a tag's attribute list.
fn attribute(attrs: &str, name: &str) -> Option<String> {
    let mut rest = attrs;
    while !rest.is_empty() {
        let (key, after) = rest.split_once('=')?;
        let (value, next) = match after.strip_prefix('"') {
            Some(q) => {
                let (v, n) = q.split_once('"')?;
                (v, n.trim_start_matches(','))
            }
            None => after.split_once(',').unwrap_or((after, "")),
        };
        if key.trim() == name {
            return Some(value.to_owned());
        }
        rest = next;
    }
    None
}

/// Where `uri`, as written in the playlist at `playlist`, is fetched from:
/// the same origin, relative URIs resolved against the playlist.
pub fn resolve(playlist: &Location, uri: &str) -> Result<Location, String> {
    match playlist {
        Location::Url(base) => {
            let base = reqwest::Url::parse(base).map_err(|e| format!("playlist URL: {e}"))?;
            let url = base
                .join(uri)
                .map_err(|e| format!("segment URI {uri:?}: {e}"))?;
            match url.scheme() {
                "http" | "https" => Ok(Location::Url(url.into())),
                s => Err(format!(
                    "segment URI {uri:?}: the {s} scheme is not fetched"
                )),
            }
        }
        Location::Path(base) => {
            if uri.contains("://") {
                return Err(format!(
                    "segment URI {uri:?} is a URL, but the playlist was read from a storage \
                     path: the source cannot fetch it"
                ));
            }
            let uri = uri.split(['?', '#']).next().unwrap_or(uri);
            let local = base.starts_with('/');
            // In a bucket's key space (`bucket/key` for an origin naming no
            // bucket), a file stays in the playlist's own bucket.
            let first = base.split('/').next().unwrap_or("");
            let joined = match uri.strip_prefix('/') {
                Some(_) if local => uri.to_owned(),
                Some(_) => {
                    return Err(format!(
                        "segment URI {uri:?} is absolute, outside the playlist's storage path"
                    ))
                }
                None => {
                    let dir = base.rsplit_once('/').map_or("", |(d, _)| d);
                    format!("{dir}/{uri}")
                }
            };
            normalized(&joined)
                .filter(|p| local || p.split('/').next() == Some(first))
                .map(Location::Path)
                .ok_or_else(|| format!("segment URI {uri:?} climbs above the storage's root"))
        }
    }
}

/// `.` and `..` segments worked out; `None` when `..` climbs past the start.
fn normalized(path: &str) -> Option<String> {
    let mut parts: Vec<&str> = Vec::new();
    for seg in path.split('/') {
        match seg {
            "." => {}
            ".." => {
                parts.pop().filter(|p| !p.is_empty())?;
            }
            s => parts.push(s),
        }
    }
    Some(parts.join("/"))
}

/// The key of a file the playlist names: under `dir` (the recording's own
/// prefix, where the playlist goes too) at its path relative to the
/// playlist, so relative URIs still resolve in the bucket; a file outside
/// the playlist's directory goes there by its name alone.
pub fn part_key(dir: &str, playlist: &Location, file: &Location) -> String {
    let base = playlist.as_str();
    let base = base.split(['?', '#']).next().unwrap_or(base);
    let base_dir = base.rsplit_once('/').map_or("", |(d, _)| d);
    let path = file.as_str();
    let path = path.split(['?', '#']).next().unwrap_or(path);
    let rel = match path.strip_prefix(base_dir) {
        Some(r) if !base_dir.is_empty() && r.starts_with('/') => &r[1..],
        _ => file.file_name(),
    };
    let rel: Vec<String> = rel
        .split('/')
        .filter(|s| !s.is_empty())
        .map(|s| sanitize_component(&percent_decoded(s)))
        .collect();
    let rel = if rel.is_empty() {
        "_".to_owned()
    } else {
        rel.join("/")
    };
    format!("{dir}/{rel}")
}

fn percent_decoded(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

/// The file name of a playlist without its `.m3u8`: the name of the
/// recording's prefix.
pub fn stem(playlist: &Location) -> String {
    let name = playlist.file_name();
    let lower = name.to_ascii_lowercase();
    match lower.strip_suffix(".m3u8") {
        Some(s) => name[..s.len()].to_owned(),
        None => name.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TENCENT: &str = "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:10\n\
        #EXT-X-MEDIA-SEQUENCE:0\n#EXTINF:10.000,\n1700000000_0.ts\n#EXTINF:10.000,\n\
        1700000000_1.ts\n#EXTINF:4.5,\nsub/1700000000_2.ts?sign=x\n#EXT-X-ENDLIST\n";

    #[test]
    fn a_media_playlist_names_its_segments_in_order_with_their_durations() {
        let named = named_files(TENCENT).unwrap();
        let uris: Vec<&str> = named.iter().map(|n| n.uri.as_str()).collect();
        assert_eq!(
            uris,
            [
                "1700000000_0.ts",
                "1700000000_1.ts",
                "sub/1700000000_2.ts?sign=x"
            ]
        );
        assert_eq!(named[2].duration_s, Some(4.5));
        assert!(named.iter().all(|n| n.role == Role::Segment));
    }

    #[test]
    fn an_init_section_is_named_once_and_a_master_playlist_is_refused() {
        let fmp4 = "\u{feff}#EXTM3U\r\n#EXT-X-MAP:URI=\"init.mp4\",BYTERANGE=\"720@0\"\r\n\
            #EXTINF:2,\r\na.m4s\r\n#EXT-X-DISCONTINUITY\r\n#EXT-X-MAP:URI=\"init.mp4\"\r\n\
            #EXTINF:2,\r\nb.m4s\r\n";
        let named = named_files(fmp4).unwrap();
        assert_eq!(named.len(), 3);
        assert_eq!(named[0].role, Role::Init);
        assert_eq!(named[0].uri, "init.mp4");
        // One fMP4 file holding the map and every segment, by byte range.
        let single = "#EXTM3U\n#EXT-X-MAP:URI=\"all.mp4\",BYTERANGE=\"720@0\"\n\
            #EXTINF:2,\n#EXT-X-BYTERANGE:1000@720\nall.mp4\n\
            #EXTINF:3,\n#EXT-X-BYTERANGE:1000@1720\nall.mp4\n";
        let named = named_files(single).unwrap();
        assert_eq!(named.len(), 1);
        assert_eq!(named[0].role, Role::Segment);
        assert_eq!(named[0].duration_s, Some(5.0));
        let master = "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=800000\nlow/index.m3u8\n";
        assert!(named_files(master).unwrap_err().contains("master playlist"));
        assert!(named_files("FLV\u{1}").is_err());
        assert!(named_files("#EXTM3U\n#EXT-X-ENDLIST\n").is_err());
    }

    #[test]
    fn uris_resolve_against_the_playlist_and_never_climb_out() {
        let url = Location::Url("http://cdn.example.com/live/s/playlist.m3u8?t=1".into());
        assert_eq!(
            resolve(&url, "a.ts").unwrap(),
            Location::Url("http://cdn.example.com/live/s/a.ts".into())
        );
        assert_eq!(
            resolve(&url, "/other/b.ts").unwrap(),
            Location::Url("http://cdn.example.com/other/b.ts".into())
        );
        assert!(resolve(&url, "file:///etc/passwd").is_err());
        let path = Location::Path("/srv/hls/live/s.m3u8".into());
        assert_eq!(
            resolve(&path, "./2015/01/7.ts").unwrap(),
            Location::Path("/srv/hls/live/2015/01/7.ts".into())
        );
        assert_eq!(
            resolve(&path, "../x.ts").unwrap(),
            Location::Path("/srv/hls/x.ts".into())
        );
        assert!(resolve(&path, "../../../../x.ts").is_err());
        assert!(resolve(&path, "http://evil/x.ts").is_err());
        let oss = Location::Path("record/app/s/index.m3u8".into());
        assert_eq!(
            resolve(&oss, "1.ts").unwrap(),
            Location::Path("record/app/s/1.ts".into())
        );
        // `bucket/key`: never into another bucket.
        assert!(resolve(&oss, "/other/k.ts").is_err());
        assert!(resolve(&oss, "../../../other/k.ts").is_err());
        assert_eq!(
            resolve(&oss, "../../x.ts").unwrap(),
            Location::Path("record/x.ts".into())
        );
    }

    #[test]
    fn parts_go_beside_the_playlist_at_their_relative_paths() {
        let pl = Location::Path("/srv/hls/live/s.m3u8".into());
        let key = |f: &str| part_key("rec/x-s", &pl, &Location::Path(f.into()));
        assert_eq!(key("/srv/hls/live/2015/01/7.ts"), "rec/x-s/2015/01/7.ts");
        assert_eq!(key("/srv/hls/x.ts"), "rec/x-s/x.ts");
        let url = Location::Url("http://h/a/playlist.m3u8".into());
        assert_eq!(
            part_key("p", &url, &Location::Url("http://h/a/b%20c.ts?s=1".into())),
            "p/b c.ts"
        );
        assert_eq!(stem(&url), "playlist");
        assert_eq!(stem(&Location::Path("x/Index.M3U8".into())), "Index");
    }
}

//! The pieces every page of the web UI is made of: the layout, escaping,
//! times (UTC in the HTML; the viewer's time zone once a line of script
//! has run), sizes.

use std::fmt::Write;

use actix_web::HttpResponse;

use crate::time::Timestamp;

/// Text made safe inside HTML elements and quoted attributes.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A `<time>`: UTC as written, the viewer's local time once shown.
pub fn time(t: &Timestamp) -> String {
    format!(
        "<time datetime=\"{}\">{}</time>",
        t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        t.format("%Y-%m-%d %H:%M:%S UTC")
    )
}

/// Bytes in the largest unit that keeps them above 1.
pub use crate::client::bytes as size;

/// Seconds as `1h02m03s`.
pub fn duration(s: Option<f64>) -> String {
    let Some(s) = s.filter(|s| s.is_finite() && *s >= 0.0) else {
        return "–".to_owned();
    };
    let s = s.round() as u64;
    match (s / 3600, s / 60 % 60, s % 60) {
        (0, 0, sec) => format!("{sec}s"),
        (0, m, sec) => format!("{m}m{sec:02}s"),
        (h, m, sec) => format!("{h}h{m:02}m{sec:02}s"),
    }
}

const STYLE: &str = "body{font:14px/1.4 system-ui,sans-serif;margin:0;color:#222}\
nav{background:#1f2d3d;padding:.6em 1em}nav a{color:#fff;margin-right:1.4em;text-decoration:none}\
nav a.here{font-weight:bold;border-bottom:2px solid #7fc4ff}main{padding:1em 1.4em}\
table{border-collapse:collapse;width:100%;margin:.4em 0 1.4em}th,td{text-align:left;padding:.3em .6em;\
border-bottom:1px solid #e3e3e3;vertical-align:top}th{background:#f4f6f8}\
.live{color:#0a7d2c;font-weight:bold}.offline{color:#888}.err{color:#b00020}\
code{font-size:12px}pre{white-space:pre-wrap;word-break:break-all;max-height:12em;overflow:auto;\
background:#f7f7f7;padding:.4em;margin:0}form.inline{display:inline}\
button{cursor:pointer}video{max-width:360px;max-height:200px}h2{margin-top:1.2em}\
.filters input{margin-right:.8em}progress{width:12em}form.logout{display:inline;float:right}";

/// One whole page: the navigation, `body`, and the script that shows times
/// in the viewer's time zone. `refresh`: reload every that many seconds.
pub fn page(title: &str, here: &str, body: &str, refresh: Option<u32>) -> HttpResponse {
    let mut html = String::new();
    let _ = write!(
        html,
        "<!doctype html><html lang=en><head><meta charset=utf-8>\
         <meta name=viewport content=\"width=device-width\">"
    );
    if let Some(s) = refresh {
        let _ = write!(html, "<meta http-equiv=refresh content={s}>");
    }
    let _ = write!(
        html,
        "<title>{} · recording-archiver</title><style>{STYLE}</style></head><body><nav>",
        esc(title)
    );
    for (href, name) in [
        ("/ui/streams", "Streams"),
        ("/ui/recordings", "Recordings"),
        ("/ui/jobs", "Jobs"),
        ("/ui/rejected", "Rejected callbacks"),
    ] {
        let class = if name == here { " class=here" } else { "" };
        let _ = write!(html, "<a href={href}{class}>{name}</a>");
    }
    // Every page but the sign-in form is one a signed-in browser sees.
    if !here.is_empty() {
        html.push_str(
            "<form class=logout method=post action=/ui/logout><button>Sign out</button></form>",
        );
    }
    let _ = write!(
        html,
        "</nav><main><h1>{}</h1>{body}</main><script>\
         for(const t of document.querySelectorAll('time[datetime]'))\
         t.textContent=new Date(t.dateTime).toLocaleString();</script></body></html>",
        esc(title)
    );
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .insert_header(("cache-control", "no-store"))
        .insert_header(("x-frame-options", "DENY"))
        .insert_header((
            "content-security-policy",
            "default-src 'self'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; \
             media-src *; frame-ancestors 'none'",
        ))
        .body(html)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_from_callbacks_cannot_become_markup() {
        assert_eq!(
            esc("<script>alert('x')</script>&\""),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&amp;&quot;"
        );
        assert_eq!(size(1536), "1.5 KiB");
        assert_eq!(duration(Some(3723.0)), "1h02m03s");
        assert_eq!(duration(None), "–");
    }
}

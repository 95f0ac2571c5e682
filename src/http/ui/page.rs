//! The pieces every page of the web UI is made of: the layout, times (UTC
//! in the HTML; the viewer's time zone once a line of script has run),
//! sizes. Pages are `maud` templates, which escape every value put in them:
//! text from callbacks cannot become markup.

use actix_web::HttpResponse;
use maud::{html, Markup, PreEscaped, DOCTYPE};

use crate::time::Timestamp;

/// A `<time>`: UTC as written, the viewer's local time once shown.
pub fn time(t: &Timestamp) -> Markup {
    html! {
        time datetime=(t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)) {
            (t.format("%Y-%m-%d %H:%M:%S UTC"))
        }
    }
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
.filters input{margin-right:.8em}progress{width:12em}form.logout{display:inline;float:right}\
table.jobs,table.recs{table-layout:fixed}table.jobs td,table.jobs th,table.recs td,table.recs th{overflow-wrap:anywhere}\
td.actions button{margin:.1em 0}div.bulk{margin:.2em 0}img.thumb{max-width:160px;max-height:90px;display:block}\
video.player{max-width:100%;max-height:240px}.filters select{margin-right:.8em}div.pages a{margin-right:1.2em}\
h2 .files{color:#666;font-weight:normal}";

/// Shows every `<time>` in the viewer's time zone, the zone named (UTC as
/// sent kept as its title).
const SCRIPT: &str =
    "for(const t of document.querySelectorAll('time[datetime]')){t.title=t.textContent;\
t.textContent=new Date(t.dateTime).toLocaleString(undefined,{year:'numeric',month:'2-digit',\
day:'2-digit',hour:'2-digit',minute:'2-digit',second:'2-digit',timeZoneName:'short'});}";

/// The navigation: each view, the one shown marked.
const VIEWS: [(&str, &str); 4] = [
    ("/ui/streams", "Streams"),
    ("/ui/recordings", "Recordings"),
    ("/ui/jobs", "Jobs"),
    ("/ui/rejected", "Rejected callbacks"),
];

/// One whole page: the navigation, `body`, and the script that shows times
/// in the viewer's time zone. `refresh`: reload every that many seconds.
pub fn page(title: &str, here: &str, body: Markup, refresh: Option<u32>) -> HttpResponse {
    let html = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width";
                @if let Some(s) = refresh {
                    meta http-equiv="refresh" content=(s);
                }
                title { (title) " · recording-archiver" }
                style { (PreEscaped(STYLE)) }
            }
            body {
                nav {
                    @for (href, name) in VIEWS {
                        a href=(href) class=[(name == here).then_some("here")] { (name) }
                    }
                    // Every page but the sign-in form is one a signed-in browser sees.
                    @if !here.is_empty() {
                        form.logout method="post" action="/ui/logout" { button { "Sign out" } }
                    }
                }
                main { h1 { (title) } (body) }
                script { (PreEscaped(SCRIPT)) }
            }
        }
    };
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .insert_header(("cache-control", "no-store"))
        .insert_header(("x-frame-options", "DENY"))
        .insert_header((
            "content-security-policy",
            "default-src 'self'; style-src 'unsafe-inline'; script-src 'self' 'unsafe-inline'; \
             media-src * blob:; frame-ancestors 'none'",
        ))
        .body(html.into_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_from_callbacks_cannot_become_markup() {
        let shown = html! { td { ("<script>alert('x')</script>&\"") } }.into_string();
        assert_eq!(
            shown,
            "<td>&lt;script&gt;alert('x')&lt;/script&gt;&amp;&quot;</td>"
        );
        assert_eq!(size(1536), "1.5 KiB");
        assert_eq!(duration(Some(3723.0)), "1h02m03s");
        assert_eq!(duration(None), "–");
    }
}

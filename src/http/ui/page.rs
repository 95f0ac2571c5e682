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
.muted{color:#666}.banner{background:#fdecea;border:1px solid #f5c2c0;color:#8a1c14;padding:.6em 1em;\
margin:0 0 1em;border-radius:4px}.figures{display:grid;grid-template-columns:repeat(auto-fill,minmax(135px,1fr));gap:.8em;\
margin-bottom:1em}.figure{background:#f4f6f8;border-radius:6px;padding:.6em 1em}\
.figure .value{font-size:1.6em;font-weight:600;white-space:nowrap}.figure .label{color:#555;font-size:.9em}\
.figure.warn{background:#fdecea}.figure.warn .value{color:#b00020}\
.charts{display:grid;grid-template-columns:repeat(auto-fit,minmax(480px,1fr));gap:1em}\
figure.chart{margin:0;min-width:0}figure.chart svg{width:100%;height:auto;display:block}\
figcaption{font-weight:600;margin-bottom:.3em}svg .axis,svg .hour{stroke:#bbb;stroke-width:1}\
svg .tick{font-size:10px;fill:#666}svg .bar{fill:#3b7dd8}polyline{stroke-width:2}\
.waiting{stroke:#d98c00;color:#d98c00}.running{stroke:#3b7dd8;color:#3b7dd8}\
.failed{stroke:#b00020;color:#b00020}circle.waiting{fill:#d98c00}circle.running{fill:#3b7dd8}\
circle.failed{fill:#b00020}.legend .key{font-size:1.1em}table.ranking td{border:0;padding:.15em .4em}\
td.count{text-align:right;width:3em}td.barcell{width:50%}.hbar{display:inline-block;height:.8em;\
background:#b00020;border-radius:2px}th.timeline,td.timeline{width:40%}svg.timeline{width:100%;\
height:20px;display:block;background:#fafafa}svg .rec,.key.rec{fill:#2e9b4f;color:#2e9b4f}\
svg .gap,.key.gap{fill:#f0b429;color:#f0b429}svg .fail,.key.fail{fill:#b00020;color:#b00020}\
table.jobs,table.recs{table-layout:fixed}table.jobs td,table.jobs th,table.recs td,table.recs th{overflow-wrap:anywhere}\
td.actions button{margin:.1em 0}div.bulk{margin:.2em 0}img.thumb{max-width:160px;max-height:90px;display:block}\
video.player{max-width:100%;max-height:240px}.filters select{margin-right:.8em}div.pages a{margin-right:1.2em}\
h2 .files{color:#666;font-weight:normal}";

/// Shows every `<time>` in the viewer's time zone, the zone named (UTC as
/// sent kept as its title).
/// The end of a span (`time.until`) on the same local day as the time
/// before it shows its time of day only.
const SCRIPT: &str =
    "const hms={hour:'2-digit',minute:'2-digit',second:'2-digit',timeZoneName:'short'};\
for(const t of document.querySelectorAll('time[datetime]')){const d=new Date(t.dateTime);\
t.title=t.textContent;const p=t.previousElementSibling;const same=t.classList.contains('until')\
&&p&&p.dateTime&&new Date(p.dateTime).toDateString()==d.toDateString();\
t.textContent=d.toLocaleString(undefined,same?hms:{year:'numeric',month:'2-digit',day:'2-digit',...hms});}";

/// The navigation: each view, the one shown marked.
const VIEWS: [(&str, &str); 5] = [
    ("/ui/", "Overview"),
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

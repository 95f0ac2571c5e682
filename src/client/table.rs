//! The one table printer every list command uses: columns padded to their
//! widest cell, and, when the terminal is narrower than that, long cells
//! cut with "…" (free text first, never an id), so a row stays one line.

use std::io::IsTerminal;

/// How a column gives way when the table is wider than the terminal.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Fit {
    /// Never cut: ids, which are copied into other commands.
    Whole,
    /// Free text (errors, paths, names): cut first, the widest first.
    Text,
    /// Short values (states, times, sizes): cut only once free text can
    /// give no more.
    Short,
}

/// A column: its heading and how it gives way.
pub type Column<'a> = (&'a str, Fit);

/// The table for the terminal the output goes to (see [`terminal_width`]).
pub fn table(columns: &[Column], rows: &[Vec<String>]) -> String {
    render(columns, rows, terminal_width())
}

/// The width to fit tables to: `COLUMNS` when set, else the terminal's
/// width when standard output is one, else none (a pipe or a file gets
/// whole cells, for grep and scripts).
pub fn terminal_width() -> Option<usize> {
    let columns = std::env::var("COLUMNS").ok();
    if let Some(n) = columns.and_then(|c| c.trim().parse::<usize>().ok()) {
        return (n > 0).then_some(n);
    }
    if !std::io::stdout().is_terminal() {
        return None;
    }
    tty_columns()
}

fn tty_columns() -> Option<usize> {
    let mut size = libc::winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCGWINSZ writes one `winsize` into the struct passed, which
    // lives until the call returns.
    let r = unsafe { libc::ioctl(libc::STDOUT_FILENO, libc::TIOCGWINSZ, &mut size) };
    (r == 0 && size.ws_col > 0).then_some(usize::from(size.ws_col))
}

/// The table, its rows no wider than `width` when that can be done
/// without cutting an id or a heading.
pub fn render(columns: &[Column], rows: &[Vec<String>], width: Option<usize>) -> String {
    let rows: Vec<Vec<String>> = rows
        .iter()
        .map(|r| r.iter().map(|c| inert(c)).collect())
        .collect();
    let rows = &rows[..];
    let mut widths: Vec<usize> = columns.iter().map(|(h, _)| shown_width(h)).collect();
    for r in rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(shown_width(c));
        }
    }
    if let Some(limit) = width {
        shrink(columns, rows, &mut widths, limit);
    }
    let line = |cells: &mut dyn Iterator<Item = &str>| {
        let mut s = String::new();
        for (i, (c, w)) in cells.zip(&widths).enumerate() {
            if i > 0 {
                s.push_str("  ");
            }
            let cell = cut(c, *w);
            let pad = w.saturating_sub(shown_width(&cell));
            s.push_str(&cell);
            s.extend(std::iter::repeat_n(' ', pad));
        }
        s.truncate(s.trim_end().len());
        s.push('\n');
        s
    };
    let mut out = line(&mut columns.iter().map(|(h, _)| *h));
    for r in rows {
        out.push_str(&line(&mut r.iter().map(String::as_str)));
    }
    out
}

/// Narrows the widest cuttable column, one character at a time, until the
/// row fits `limit`: free text down to its heading's width; a short
/// column's heading wider than its values down to theirs; free text,
/// headings too, down to [`NARROWEST`]; short values down to their
/// heading's width, then to [`NARROWEST`]. Ids are never cut, so a table
/// of ids alone may stay wider.
fn shrink(columns: &[Column], rows: &[Vec<String>], widths: &mut [usize], limit: usize) {
    let total = |w: &[usize]| w.iter().sum::<usize>() + 2 * w.len().saturating_sub(1);
    let heading: Vec<usize> = columns.iter().map(|(h, _)| shown_width(h)).collect();
    let mut values = vec![0; columns.len()];
    for r in rows {
        for (w, c) in values.iter_mut().zip(r) {
            *w = (*w).max(shown_width(c));
        }
    }
    let phases: [(Fit, &dyn Fn(usize) -> usize); 5] = [
        (Fit::Text, &|i| heading[i]),
        (Fit::Short, &|i| values[i]),
        (Fit::Text, &|_| NARROWEST),
        (Fit::Short, &|i| heading[i]),
        (Fit::Short, &|_| NARROWEST),
    ];
    for (fit, least) in phases {
        while total(widths) > limit {
            let widest = columns
                .iter()
                .zip(widths.iter())
                .enumerate()
                .filter(|(i, ((_, f), w))| *f == fit && **w > least(*i).max(NARROWEST))
                .max_by_key(|(i, (_, w))| (**w, usize::MAX - i))
                .map(|(i, _)| i);
            match widest {
                Some(i) => widths[i] -= 1,
                None => break,
            }
        }
    }
}

/// The fewest columns a cut cell keeps: two characters and "…".
const NARROWEST: usize = 3;

/// `s` with every control character written out (`\u{1b}`): a stream
/// name or an error comes from a callback or an origin, and an escape
/// sequence in it must not reach the operator's terminal as one.
fn inert(s: &str) -> String {
    if !s.chars().any(char::is_control) {
        return s.to_owned();
    }
    s.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_unicode().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// `s` in at most `width` columns: cut with "…" when longer.
fn cut(s: &str, width: usize) -> String {
    if shown_width(s) <= width {
        return s.to_owned();
    }
    let mut out = String::new();
    let mut used = 0;
    for c in s.chars() {
        let w = char_width(c);
        if used + w + 1 > width {
            break;
        }
        out.push(c);
        used += w;
    }
    out.truncate(out.trim_end().len());
    out.push('…');
    out
}

/// Columns `s` takes on a terminal.
fn shown_width(s: &str) -> usize {
    s.chars().map(char_width).sum()
}

/// East Asian wide characters (stream names are often Chinese) take two
/// columns; control characters none.
fn char_width(c: char) -> usize {
    let u = u32::from(c);
    if c.is_control() {
        return 0;
    }
    let wide = matches!(u,
        0x1100..=0x115F
        | 0x2E80..=0x303E
        | 0x3041..=0x33FF
        | 0x3400..=0x4DBF
        | 0x4E00..=0x9FFF
        | 0xA000..=0xA4CF
        | 0xAC00..=0xD7A3
        | 0xF900..=0xFAFF
        | 0xFE30..=0xFE4F
        | 0xFF00..=0xFF60
        | 0xFFE0..=0xFFE6
        | 0x1F300..=0x1F64F
        | 0x1F900..=0x1F9FF
        | 0x20000..=0x3FFFD);
    if wide {
        2
    } else {
        1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const COLUMNS: [Column; 3] = [
        ("ID", Fit::Whole),
        ("STATE", Fit::Short),
        ("ERROR", Fit::Text),
    ];

    fn rows() -> Vec<Vec<String>> {
        vec![vec![
            "0123456789abcdef".into(),
            "retrying".into(),
            "connection reset by peer while reading the body".into(),
        ]]
    }

    #[test]
    fn without_a_width_nothing_is_cut() {
        let t = render(&COLUMNS, &rows(), None);
        assert!(t.contains("while reading the body"), "{t}");
        assert!(!t.contains('…'));
    }

    #[test]
    fn free_text_is_cut_first_and_ids_never() {
        let t = render(&COLUMNS, &rows(), Some(40));
        for line in t.lines() {
            assert!(shown_width(line) <= 40, "{line:?}");
        }
        assert!(t.contains("0123456789abcdef  retrying  connectio"), "{t}");
        assert!(t.contains('…'), "{t}");
        // Narrower than the headings: they are cut too.
        let t = render(&COLUMNS, &rows(), Some(26));
        assert!(t.lines().all(|l| shown_width(l) <= 26), "{t}");
        assert!(t.starts_with("ID") && t.contains("  ST…  ER…\n"), "{t}");
        // Too narrow even for that: still the whole id.
        let t = render(&COLUMNS, &rows(), Some(10));
        assert!(t.contains("0123456789abcdef  "), "{t}");
    }

    #[test]
    fn control_characters_are_written_out() {
        let rows = vec![vec![
            "x".into(),
            "s".into(),
            "a\u{1b}]0;pwned\u{7}b\nc".into(),
        ]];
        let t = render(&COLUMNS, &rows, None);
        assert!(!t.chars().any(|c| c.is_control() && c != '\n'), "{t:?}");
        assert!(t.contains("a\\u{1b}]0;pwned\\u{7}b\\u{a}c"), "{t}");
    }

    #[test]
    fn wide_characters_count_twice() {
        assert_eq!(shown_width("直播a"), 5);
        assert_eq!(cut("直播间一号", 6), "直播…");
        let rows = vec![vec![
            "x".into(),
            "直播".into(),
            "直播间一号直播间一号".into(),
        ]];
        let t = render(&COLUMNS, &rows, Some(20));
        assert!(t.lines().all(|l| shown_width(l) <= 20), "{t}");
    }
}

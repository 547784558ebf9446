//! One exchange as one terminal line, its status coloured by class; the target
//! is shortened to fit the terminal's width.

use anstyle::{AnsiColor, Style};

use crate::record::Record;

/// The status's colour: 2xx green, 3xx cyan, 4xx yellow, 5xx red, none magenta.
pub fn status_style(status: Option<u16>) -> Style {
    let colour = match status.map(|s| s / 100) {
        Some(2) => AnsiColor::Green,
        Some(3) => AnsiColor::Cyan,
        Some(4) => AnsiColor::Yellow,
        Some(5) => AnsiColor::Red,
        Some(_) => AnsiColor::White,
        None => AnsiColor::Magenta,
    };
    Style::new().fg_color(Some(colour.into())).bold()
}

pub fn duration(us: Option<u64>) -> String {
    match us {
        None => "-".to_string(),
        Some(us) if us < 1_000 => format!("{us} µs"),
        Some(us) if us < 10_000_000 => format!("{:.1} ms", us as f64 / 1000.0),
        Some(us) => format!("{:.1} s", us as f64 / 1e6),
    }
}

pub fn size(bytes: u64) -> String {
    match bytes {
        b if b < 1024 => format!("{b} B"),
        b if b < 1 << 20 => format!("{:.1} KiB", b as f64 / 1024.0),
        b => format!("{:.1} MiB", b as f64 / (1u64 << 20) as f64),
    }
}

/// `HH:MM:SS.mmm` of an RFC 3339 time (UTC, as flows carry it).
fn clock(time: &str) -> String {
    chrono::DateTime::parse_from_rfc3339(time)
        .map(|t| t.format("%H:%M:%S%.3f").to_string())
        .unwrap_or_else(|_| "--:--:--.---".to_string())
}

/// The line, styled (anstream strips the styles where colour is off), fitted to
/// `width` columns when given.
pub fn line(record: &Record, width: Option<usize>) -> String {
    let f = record.flow();
    let (client, server) = super::ends(record);
    let status = f.response.as_ref().map(|r| r.status);
    let status_text = status.map_or_else(|| "---".to_string(), |s| s.to_string());
    let response_size = f
        .response
        .as_ref()
        .map_or("-".to_string(), |r| size(r.body.size));
    let marker = match record.observer() {
        "both" => "",
        "client" => " [client]",
        _ => " [server]",
    };
    let note = if f.incomplete.is_some() { " !" } else { "" };
    let time = clock(&f.request.time);
    let method = &f.request.method;
    let took = format!("{:>8}", duration(f.duration_us));
    let sizes = format!("{} → {response_size}", size(f.request.body.size));
    let mut target = f.request.target.clone();
    if let Some(w) = width {
        // Everything but the target, as it will be printed without styles.
        let rest = format!(
            "{time} {client} → {server} {method}  {status_text} {took} {sizes}{marker}{note}"
        );
        let room = w.saturating_sub(rest.chars().count()).max(8);
        if target.chars().count() > room {
            target = (target.chars().take(room - 1).collect::<String>() + "…").into();
        }
    }
    let dim = Style::new().dimmed();
    let bold = Style::new().bold();
    let st = status_style(status);
    format!(
        "{dim}{time}{dim:#} {client} → {bold}{server}{bold:#} {method} {target} \
         {st}{status_text}{st:#} {took} {sizes}{dim}{marker}{dim:#}{note}"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(target: &str) -> Record {
        let text = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/fixtures/getsockname-after-first-read.flows.jsonl"
        ))
        .unwrap();
        let mut r: Record = serde_json::from_str(text.lines().next().unwrap()).unwrap();
        if let Record::One(f) = &mut r {
            f.request.target = target.into();
        }
        r
    }

    fn plain(s: &str) -> String {
        anstream::adapter::strip_str(s).to_string()
    }

    #[test]
    fn a_long_target_is_shortened_to_the_width() {
        let long = format!("/{}", "x".repeat(300));
        let l = plain(&line(&record(&long), Some(100)));
        assert_eq!(l.chars().count(), 100, "{l}");
        assert!(l.contains("x…"), "{l}");
        let whole = plain(&line(&record(&long), None));
        assert!(whole.contains(&long));
    }

    #[test]
    fn the_line_has_time_ends_request_status_duration_and_sizes() {
        let l = plain(&line(&record("/items?x=1"), None));
        assert_eq!(
            l,
            "04:00:00.004 client → api GET /items?x=1 200   2.0 ms 0 B → 2 B [server]"
        );
    }

    #[test]
    fn status_colours_by_class() {
        assert_ne!(status_style(Some(200)), status_style(Some(500)));
        assert_eq!(status_style(Some(201)), status_style(Some(204)));
    }
}

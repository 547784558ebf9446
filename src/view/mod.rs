//! The live view: one terminal line per exchange (time, client → server, method,
//! target, status, duration, sizes), filters, a full view of one exchange, and a
//! summary per service pair. Colour and width come from anstream/terminal_size.

mod detail;
mod filter;
mod line;
mod summary;

pub use detail::detail;
pub use filter::{Filter, FilterError, StatusMatch};
pub use line::line;
pub use summary::Summary;

use crate::flow::{Endpoint, Process};
use crate::record::Record;

/// What names one end: compose service, else container name; outside
/// containers a server is its address, a client its process (or address).
pub fn label(endpoint: &Endpoint, process: Option<&Process>, is_server: bool) -> String {
    let container = endpoint
        .container
        .as_ref()
        .or_else(|| process.and_then(|p| p.container.as_ref()));
    if let Some(c) = container {
        return c.compose_service.as_deref().unwrap_or(&c.name).to_string();
    }
    match (endpoint.ip, endpoint.port, process) {
        (Some(ip), Some(port), _) if is_server => std::net::SocketAddr::new(ip, port).to_string(),
        (_, _, Some(p)) if !is_server => p.comm.to_string(),
        (Some(ip), _, _) => ip.to_string(),
        _ => "?".to_string(),
    }
}

/// Client and server labels of a record.
pub fn ends(record: &Record) -> (String, String) {
    let f = record.flow();
    let (client, server) = record.processes();
    (label(&f.src, client, false), label(&f.dst, server, true))
}

//! Which exchanges the view shows: by service, container or shown name (either
//! end), status
//! (`5xx`, `404`, `none` for no response), method, target substring, or id.

use std::str::FromStr;

use crate::flow::Endpoint;
use crate::record::Record;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusMatch {
    /// `5xx`: the hundreds digit.
    Class(u16),
    Exact(u16),
    /// `none`: no response was seen.
    NoResponse,
}

#[derive(Debug, thiserror::Error)]
#[error("status {0:?}: give a class like 5xx, a code like 404, or none")]
pub struct FilterError(String);

impl FromStr for StatusMatch {
    type Err = FilterError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let lower = s.to_ascii_lowercase();
        if lower == "none" {
            return Ok(StatusMatch::NoResponse);
        }
        let err = || FilterError(s.to_string());
        match lower.as_bytes() {
            [d @ b'1'..=b'5', b'x', b'x'] => Ok(StatusMatch::Class(u16::from(d - b'0'))),
            _ => match lower.parse::<u16>() {
                Ok(n) if (100..=999).contains(&n) => Ok(StatusMatch::Exact(n)),
                _ => Err(err()),
            },
        }
    }
}

impl StatusMatch {
    fn matches(self, status: Option<u16>) -> bool {
        match (self, status) {
            (StatusMatch::NoResponse, None) => true,
            (StatusMatch::Class(c), Some(s)) => s / 100 == c,
            (StatusMatch::Exact(e), Some(s)) => s == e,
            _ => false,
        }
    }
}

/// Each kind of criterion given must match (any of its values); none given: all.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub services: Vec<String>,
    pub statuses: Vec<StatusMatch>,
    pub methods: Vec<String>,
    pub target: Option<String>,
    pub id: Option<String>,
}

fn names(e: &Endpoint) -> impl Iterator<Item = &str> {
    e.container.iter().flat_map(|c| {
        [Some(&*c.name), c.compose_service.as_deref(), Some(&*c.id)]
            .into_iter()
            .flatten()
    })
}

impl Filter {
    pub fn matches(&self, record: &Record) -> bool {
        let f = record.flow();
        let service = self.services.is_empty() || {
            let (client, server) = super::ends(record);
            let wanted = |n: &str| self.services.iter().any(|s| s == n);
            let named = names(&f.src).chain(names(&f.dst)).any(wanted);
            named || wanted(&client) || wanted(&server)
        };
        let status = self.statuses.is_empty() || {
            let got = f.response.as_ref().map(|r| r.status);
            self.statuses.iter().any(|s| s.matches(got))
        };
        let method = self.methods.is_empty()
            || self
                .methods
                .iter()
                .any(|m| m.eq_ignore_ascii_case(&f.request.method));
        let target = self
            .target
            .as_ref()
            .map_or(true, |t| f.request.target.contains(t.as_str()));
        let id = self.id.as_ref().map_or(true, |id| {
            *id == f.id || matches!(record, Record::Both(m) if m.server.id == *id)
        });
        service && status && method && target && id
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_forms() {
        assert_eq!("5xx".parse::<StatusMatch>().unwrap(), StatusMatch::Class(5));
        assert_eq!(
            "404".parse::<StatusMatch>().unwrap(),
            StatusMatch::Exact(404)
        );
        assert_eq!(
            "none".parse::<StatusMatch>().unwrap(),
            StatusMatch::NoResponse
        );
        assert!("6xx".parse::<StatusMatch>().is_err());
        assert!("abc".parse::<StatusMatch>().is_err());
        assert!(StatusMatch::Class(5).matches(Some(503)));
        assert!(!StatusMatch::Class(5).matches(Some(404)));
        assert!(!StatusMatch::Class(5).matches(None));
    }
}

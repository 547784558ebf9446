//! Which containers a capture traces, from `--container NAME|ID` (repeatable) and
//! `--compose-project NAME`. Each flag given narrows the set; with neither, every
//! container is traced.

use crate::event::{ContainerAction, ContainerInfo};

/// The shortest id prefix accepted, as `docker ps` prints them: shorter ones are
/// too easy to collide with a name or another container.
pub const MIN_ID_PREFIX: usize = 12;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selector {
    /// Names, full ids or id prefixes; empty means any container.
    containers: Vec<String>,
    compose_project: Option<String>,
}

impl Selector {
    /// Every container.
    pub fn all() -> Self {
        Self::default()
    }

    pub fn new(containers: Vec<String>, compose_project: Option<String>) -> Self {
        let containers = containers
            .into_iter()
            // Docker's API names containers "/name"; users type "name".
            .map(|c| c.trim().trim_start_matches('/').to_string())
            .filter(|c| !c.is_empty())
            .collect();
        let compose_project = compose_project
            .map(|p| p.trim().to_string())
            .filter(|p| !p.is_empty());
        Self {
            containers,
            compose_project,
        }
    }

    /// Whether this selects every container (no flag given).
    pub fn is_all(&self) -> bool {
        self.containers.is_empty() && self.compose_project.is_none()
    }

    /// Whether a container announced by `action` is selected: `None` while that
    /// cannot be told yet (a `Created` container has no name or labels; only an
    /// id-only selection decides it).
    pub fn decide(&self, action: ContainerAction, c: &ContainerInfo) -> Option<bool> {
        if self.is_all() {
            return Some(true);
        }
        if action != ContainerAction::Created {
            return Some(self.matches(c));
        }
        let by_id = |want: &String| {
            **want == *c.id || (want.len() >= MIN_ID_PREFIX && c.id.starts_with(want.as_str()))
        };
        (self.compose_project.is_none() && self.containers.iter().any(by_id)).then_some(true)
    }

    pub fn matches(&self, c: &ContainerInfo) -> bool {
        let by_name_or_id =
            self.containers.is_empty() || self.containers.iter().any(|want| names(want, c));
        let by_project = match self.compose_project.as_deref() {
            None => true,
            Some(p) => c.compose_project.as_deref() == Some(p),
        };
        by_name_or_id && by_project
    }
}

/// Whether `want` (a name, a full id or an id prefix) names container `c`.
fn names(want: &str, c: &ContainerInfo) -> bool {
    want == &*c.name || want == &*c.id || (want.len() >= MIN_ID_PREFIX && c.id.starts_with(want))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "3f0b1c7a9e2d4c5b8a6f1e0d9c8b7a6f5e4d3c2b1a0f9e8d7c6b5a4f3e2d1c0b";

    fn container(id: &str, name: &str, project: Option<&str>) -> ContainerInfo {
        ContainerInfo {
            id: id.into(),
            name: name.into(),
            compose_project: project.map(Into::into),
            compose_service: None,
            cgroup_id: Some(7),
            ips: vec![],
            pid: Some(1),
        }
    }

    fn sel(containers: &[&str], project: Option<&str>) -> Selector {
        Selector::new(
            containers.iter().map(|s| s.to_string()).collect(),
            project.map(Into::into),
        )
    }

    #[test]
    fn decides_created_containers_only_by_id() {
        let created = container(ID, &ID[..12], None);
        let named = container(ID, "demo_api_1", Some("demo"));
        assert_eq!(
            sel(&[], None).decide(ContainerAction::Created, &created),
            Some(true)
        );
        assert_eq!(
            sel(&[&ID[..12]], None).decide(ContainerAction::Created, &created),
            Some(true)
        );
        assert_eq!(
            sel(&["demo_api_1"], None).decide(ContainerAction::Created, &created),
            None
        );
        assert_eq!(
            sel(&[], Some("demo")).decide(ContainerAction::Created, &created),
            None
        );
        assert_eq!(
            sel(&[&ID[..12]], Some("demo")).decide(ContainerAction::Created, &created),
            None
        );
        assert_eq!(
            sel(&[], Some("demo")).decide(ContainerAction::Update, &named),
            Some(true)
        );
        assert_eq!(
            sel(&[], Some("other")).decide(ContainerAction::Start, &named),
            Some(false)
        );
    }

    #[test]
    fn no_flags_select_every_container() {
        let s = sel(&[], None);
        assert!(s.is_all());
        assert_eq!(s, Selector::all());
        assert!(s.matches(&container(ID, "web", None)));
        assert!(s.matches(&container(ID, "demo_api_1", Some("demo"))));
    }

    #[test]
    fn by_name() {
        let s = sel(&["web"], None);
        assert!(!s.is_all());
        assert!(s.matches(&container(ID, "web", None)));
        assert!(!s.matches(&container(ID, "web2", None)));
        assert!(!s.matches(&container(ID, "we", None)));
    }

    #[test]
    fn a_leading_slash_in_the_name_is_ignored() {
        assert!(sel(&["/web"], None).matches(&container(ID, "web", None)));
    }

    #[test]
    fn by_full_id_and_by_a_long_enough_prefix() {
        let c = container(ID, "web", None);
        assert!(sel(&[ID], None).matches(&c));
        assert!(sel(&[&ID[..12]], None).matches(&c));
        assert!(sel(&[&ID[..20]], None).matches(&c));
    }

    #[test]
    fn a_short_id_prefix_does_not_select() {
        let c = container(ID, "web", None);
        assert!(!sel(&[&ID[..11]], None).matches(&c));
        assert!(!sel(&[&ID[..3]], None).matches(&c));
    }

    #[test]
    fn a_prefix_of_another_id_does_not_select() {
        let other = "4".repeat(64);
        assert!(!sel(&[&other[..12]], None).matches(&container(ID, "web", None)));
    }

    #[test]
    fn repeated_flags_select_any_of_them() {
        let s = sel(&["web", "api"], None);
        assert!(s.matches(&container(ID, "web", None)));
        assert!(s.matches(&container(ID, "api", None)));
        assert!(!s.matches(&container(ID, "db", None)));
    }

    #[test]
    fn by_compose_project() {
        let s = sel(&[], Some("demo"));
        assert!(!s.is_all());
        assert!(s.matches(&container(ID, "demo_api_1", Some("demo"))));
        assert!(!s.matches(&container(ID, "other_api_1", Some("other"))));
        assert!(!s.matches(&container(ID, "loose", None)));
    }

    #[test]
    fn both_flags_narrow_together() {
        let s = sel(&["demo_api_1"], Some("demo"));
        assert!(s.matches(&container(ID, "demo_api_1", Some("demo"))));
        assert!(!s.matches(&container(ID, "demo_web_1", Some("demo"))));
        assert!(!s.matches(&container(ID, "demo_api_1", Some("other"))));
    }

    #[test]
    fn blank_flags_count_as_absent() {
        assert!(sel(&["", "  "], Some(" ")).is_all());
    }
}

//! Which container a process or an address belongs to. [`ContainerMap`] is built
//! from [`Event`](crate::event::Event)s only (container events, and the addresses
//! containers' own sockets show), so replay names containers exactly as the live
//! run did; the Docker side that produces container events ([`ContainerFeed`])
//! lives beside it.

pub mod cgroup;
mod cgroup_dirs;
mod docker;
mod feed;
mod map;
mod tracker;
mod visibility;
mod watch;

pub use cgroup::CgroupRoot;
pub use docker::{Docker, DockerError, COMPOSE_PROJECT_LABEL, COMPOSE_SERVICE_LABEL};
pub use feed::{ContainerFeed, FeedError};
pub use map::ContainerMap;
pub use visibility::cgroup_ids_unfindable;
pub use watch::{watch, RETRY};

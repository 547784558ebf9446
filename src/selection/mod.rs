//! Which containers' events go on to the flows when only some are selected
//! (`--container`, `--compose-project`): the [`Selector`], the policy that keeps a
//! cgroup filter in step with container events ([`follow`]), and the [`Gate`]
//! that holds an undecided container's events. Live capture applies the policy to
//! the kernel's filter; replay applies it to [`TracedCgroups`], which stands in
//! for the kernel, so both select alike.

mod filter;
mod gate;
mod selector;

pub use filter::{follow, CgroupFilter, TracedCgroups};
pub use gate::Gate;
pub use selector::{Selector, MIN_ID_PREFIX};

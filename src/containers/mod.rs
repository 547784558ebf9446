//! Which container a process or an address belongs to. [`ContainerMap`] is built
//! from container [`Event`](crate::event::Event)s only, so replay names containers
//! exactly as the live run did; the Docker side that produces those events lives
//! beside it.

mod map;

pub use map::ContainerMap;

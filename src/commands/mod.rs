//! One module per subcommand: wiring only, the work happens in the library.

pub mod capture;
pub mod list_containers;
pub mod replay;

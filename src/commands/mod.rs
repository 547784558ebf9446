//! One module per subcommand: wiring only, the work happens in the library.

pub mod capture;
pub mod har;
pub mod list_containers;
pub mod output;
pub mod replay;
pub mod trace;
pub mod view;

//! One module per subcommand: wiring only, the work happens in the library.

pub mod capture;
pub mod containers;
pub mod har;
pub mod output;
pub mod replay;
pub mod view;

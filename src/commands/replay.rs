use crate::cli::ReplayArgs;

pub fn run(_args: ReplayArgs) -> anyhow::Result<()> {
    anyhow::bail!("`flowtap replay` is not implemented yet")
}

use crate::cli::ContainersArgs;

pub fn run(_args: ContainersArgs) -> anyhow::Result<()> {
    anyhow::bail!("`flowtap containers` is not implemented yet")
}

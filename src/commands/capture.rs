use crate::cli::CaptureArgs;

pub fn run(_args: CaptureArgs) -> anyhow::Result<()> {
    anyhow::bail!("`flowtap capture` is not implemented yet")
}

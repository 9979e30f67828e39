"""Hydra configs of the plugins: `hydra/sweeper=ablate`, `hydra/launcher=ablate_pool` and
`hydra/launcher=ablate_process`."""

import dataclasses

from hydra.core.config_store import ConfigStore


@dataclasses.dataclass
class AblateSweeperConf:
    _target_: str = "hydra_plugins.ablate_sweeper.ablate_sweeper.AblateSweeper"
    max_batch_size: int | None = None
    params: dict[str, str] = dataclasses.field(default_factory=dict)


ConfigStore.instance().store(
    group="hydra/sweeper", name="ablate", node=AblateSweeperConf, provider="ablate"
)


@dataclasses.dataclass
class FreshProcessLauncherConf:
    _target_: str = "hydra_plugins.ablate_sweeper.fresh_process_launcher.FreshProcessLauncher"
    n_jobs: int = 1
    stop_timeout_s: float = 30.0


ConfigStore.instance().store(
    group="hydra/launcher", name="ablate_process", node=FreshProcessLauncherConf, provider="ablate"
)


@dataclasses.dataclass
class WorkerPoolLauncherConf:
    _target_: str = "hydra_plugins.ablate_sweeper.worker_pool_launcher.WorkerPoolLauncher"
    workers: int = 1
    threads: int | None = None
    jobs_per_worker: int = 10
    max_rss_mb: float | None = None
    stop_timeout_s: float = 30.0


ConfigStore.instance().store(
    group="hydra/launcher", name="ablate_pool", node=WorkerPoolLauncherConf, provider="ablate"
)

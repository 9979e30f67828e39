"""Hydra configs of the plugins: `hydra/sweeper=ablate` and the launchers `ablate_pool`,
`ablate_process`, `ablate_ray` (under `ray`), `ablate_slurm` (under `slurm` and
`slurm_local`)."""

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


@dataclasses.dataclass
class RayLauncherConf:
    _target_: str = "hydra_plugins.ablate_sweeper.ray_launcher.RayLauncher"
    address: str | None = None
    num_cpus: int | None = None
    cpus_per_job: float = 1
    gpus_per_job: float = 0
    stop_timeout_s: float = 30.0


# `hydra/launcher=ray` is conf/hydra/launcher/ray.yaml, on top of this schema: a file of the
# primary config folder comes before any plugin's `ray` (hydra-ray-launcher's, if installed).
ConfigStore.instance().store(
    group="hydra/launcher", name="ablate_ray", node=RayLauncherConf, provider="ablate"
)


@dataclasses.dataclass
class SlurmLauncherConf:
    _target_: str = "hydra_plugins.ablate_sweeper.slurm_launcher.SlurmLauncher"
    cluster: str = "slurm"
    partition: str | None = None
    timeout_min: int = 60
    cpus_per_task: int | None = 2
    gpus_per_node: int = 0
    mem_gb: float | None = 8
    array_parallelism: int = 16
    account: str | None = None
    qos: str | None = None
    constraint: str | None = None
    additional_parameters: dict[str, str] = dataclasses.field(default_factory=dict)
    setup: list[str] = dataclasses.field(default_factory=list)
    folder: str = "${hydra.sweep.dir}/.submitit/%j"
    stop_timeout_s: float = 30.0


# `hydra/launcher=slurm` and `slurm_local` are files of conf/hydra/launcher/ on this schema.
ConfigStore.instance().store(
    group="hydra/launcher", name="ablate_slurm", node=SlurmLauncherConf, provider="ablate"
)

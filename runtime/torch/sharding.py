"""``train.parallel = sharded`` on Lightning: its ``FSDPStrategy`` (parameters, gradients and
optimizer state sharded over the ranks), with checkpoints gathered whole into specc's
portable layout.

``FSDPStrategy`` with ``state_dict_type="full"`` gathers the model's full state dict and the
optimizer's full state (re-keyed by parameter index, the layout a plain optimizer and
``ddp`` have) on rank 0, which hands them to the run's ``CheckpointIO``
(``SpeccCheckpointIO``): the checkpoint folder is the one a ``ddp`` or single-device run
writes, so it resumes on any number of ranks and loads into every backend.
:class:`SpeccFSDPStrategy` changes two things of Lightning's strategy: it saves through the
``CheckpointIO`` (Lightning's refuses a path that is a directory, and specc's checkpoints
are directories) and it loads through it (Lightning's reads a ``torch.save`` file itself),
then loads the full state into the sharded model and optimizers as Lightning does.

FSDP needs CUDA GPUs: torch's ``FullyShardedDataParallel`` refuses the CPU ("FSDP needs a
non-CPU accelerator device") and Lightning refuses ``fsdp`` without a GPU accelerator, so
:func:`fsdp_placement` ends a CPU run over several ranks with one line. On one device there
is nothing to shard and the run is the single-device one. Tested here: the one line on the
CPU; the training itself only by ``benchmarks/gpu_check.sh`` on a GPU machine.
"""

from __future__ import annotations

from lightning.pytorch.strategies import FSDPStrategy, Strategy

NEEDS_GPU = (
    "train.parallel = sharded on {ranks} ranks: Lightning's fsdp strategy needs CUDA GPUs (torch's FSDP "
    "cannot run on the CPU); run with --device cuda, or compile with --set train.parallel=replicated for ddp"
)


class SpeccFSDPStrategy(FSDPStrategy):
    """Lightning's ``FSDPStrategy`` (full state dicts, the parameters' own names kept with
    ``use_orig_params`` so the optimizer's parameter groups are the spec's) saving and
    loading specc checkpoint folders through the run's ``CheckpointIO``."""

    def __init__(self, **kwargs):
        super().__init__(state_dict_type="full", use_orig_params=True, **kwargs)

    def save_checkpoint(self, checkpoint: dict, filepath, storage_options=None) -> None:
        """Rank 0 writes the gathered checkpoint through the ``CheckpointIO`` (Lightning's
        ``Strategy.save_checkpoint``; every rank took part in gathering it)."""
        Strategy.save_checkpoint(self, checkpoint, filepath, storage_options)

    def load_checkpoint(self, checkpoint_path, weights_only=None) -> dict:
        """A specc checkpoint folder read by the ``CheckpointIO``, its full state loaded into
        the sharded model and (when fitting) the optimizers, as Lightning loads a full file
        (torch's ``FULL_STATE_DICT`` on every rank)."""
        from lightning.pytorch.trainer.states import TrainerFn
        from torch.distributed.fsdp import FullOptimStateDictConfig, FullStateDictConfig, OptimStateKeyType, StateDictType
        from torch.distributed.fsdp import FullyShardedDataParallel as FSDP

        checkpoint = self.checkpoint_io.load_checkpoint(checkpoint_path)
        module = self.lightning_module
        whole = FullStateDictConfig(offload_to_cpu=True, rank0_only=False)
        with FSDP.state_dict_type(self.model, StateDictType.FULL_STATE_DICT, whole, FullOptimStateDictConfig(rank0_only=False)):
            self.model.load_state_dict(checkpoint.pop("state_dict"), strict=module.strict_loading)
            states = checkpoint.get("optimizer_states")
            if states is None or module.trainer.state.fn != TrainerFn.FITTING:
                return checkpoint
            for optimizer, state in zip(self.optimizers, states):
                if all(isinstance(key, int) for key in state.get("state", {})):  # by index: ddp's, one device's
                    state = FSDP.rekey_optim_state_dict(state, OptimStateKeyType.PARAM_NAME, self.model)
                optimizer.load_state_dict(FSDP.optim_state_dict_to_load(self.model, optimizer, state))
        return checkpoint

    def load_optimizer_state_dict(self, checkpoint) -> None:
        """Nothing: :meth:`load_checkpoint` loaded the optimizers (as Lightning's FSDP does)."""


def fsdp_placement(accelerator: str, devices: int, nodes: int) -> dict:
    """The Trainer's ``devices``, ``num_nodes`` and ``strategy`` for ``train.parallel = sharded``:
    :class:`SpeccFSDPStrategy` on GPUs; one device: nothing to shard (Lightning's default);
    several ranks without a GPU: ``SystemExit`` with one line (FSDP needs CUDA)."""
    ranks = devices * nodes
    if ranks == 1:
        return {"devices": devices, "num_nodes": nodes, "strategy": "auto"}
    if accelerator != "gpu":
        raise SystemExit(NEEDS_GPU.format(ranks=ranks))
    return {"devices": devices, "num_nodes": nodes, "strategy": SpeccFSDPStrategy()}

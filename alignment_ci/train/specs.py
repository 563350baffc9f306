"""The `training` section's schema lives in :mod:`alignment_ci.sections.training`, in the config
layer beside ``config.py`` (which assembles every section from ``alignment_ci.sections``); this
module keeps its names for the package that uses them."""

from ..sections.training import (  # noqa: F401
    STAGES,
    StageName,
    TRL_STAGES,
    Backend,
    AggregationMethod,
    _SHA_RE,
    _SNAPSHOT_RE,
    MODAL_GPU_TYPES,
    _GPU_RE,
    _Spec,
    is_local_model_ref,
    DatasetRef,
    LoraSettings,
    ModalSettings,
    DistributedSettings,
    StageSettings,
    _default,
    RewardStage,
    SFTStage,
    DPOStage,
    RuleReward,
    OnlineRLStage,
    GRPOStage,
    RLOOStage,
    PPOStage,
    StageSpec,
    StageJob,
    TrainingSettings,
)

__all__ = ['STAGES', 'StageName', 'TRL_STAGES', 'Backend', 'AggregationMethod', '_SHA_RE', '_SNAPSHOT_RE', 'MODAL_GPU_TYPES', '_GPU_RE', '_Spec', 'is_local_model_ref', 'DatasetRef', 'LoraSettings', 'ModalSettings', 'DistributedSettings', 'StageSettings', '_default', 'RewardStage', 'SFTStage', 'DPOStage', 'RuleReward', 'OnlineRLStage', 'GRPOStage', 'RLOOStage', 'PPOStage', 'StageSpec', 'StageJob', 'TrainingSettings']

"""The stages of `gpuclust run` as records: each result a stage needs can be read back after --resume."""
from gpuclust.pipeline.config import RunConfig
from gpuclust.pipeline.stages import LOADERS, STAGES


def test_every_result_a_stage_needs_can_be_read_back_from_the_files():
    for stage in STAGES:
        assert set(stage.needs) <= set(LOADERS), stage.name


def test_stages_have_distinct_names_and_outputs_and_only_known_options():
    options = set(RunConfig().as_dict())
    assert len({s.name for s in STAGES}) == len(STAGES)
    outputs = [f for s in STAGES for f in s.produces]
    assert len(set(outputs)) == len(outputs)
    for stage in STAGES:
        assert set(stage.keys) <= options, stage.name


def test_the_options_decide_which_stages_run():
    default = [s.name for s in STAGES if s.when(RunConfig())]
    assert default == ["data", "train", "refine", "embed", "cluster", "tsne", "figures"]
    dec = RunConfig(objective="reconstruction", dec=True)
    assert [s.name for s in STAGES if s.when(dec)] == ["data", "train", "dec", "embed", "cluster", "tsne", "figures"]

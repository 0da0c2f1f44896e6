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


def test_what_the_data_stage_hands_on_is_what_a_resumed_run_reads_back(tmp_path):
    """The cluster and figures stages take the file's description, class names and catalogue in memory;
    after a resume skipped the stages that made them, the loaders read the same from the data file."""
    from types import SimpleNamespace

    from gpuclust.backend import Backend
    from gpuclust.data.synth import write_synthetic
    from gpuclust.pipeline.rundir import RunDir
    from gpuclust.pipeline.stages import Context, data

    path = tmp_path / "d.h5"
    write_synthetic(str(path), 120, seed=0)
    run = RunDir(str(tmp_path / "run"), False, fresh=True)
    try:
        ctx = Context(RunConfig(data=str(path), k=3), run, Backend(), log=lambda *_: None, loaders=dict(LOADERS))
        data.STAGE.run(ctx)
        handed = ctx.results.pop("data_file")
        assert handed["class_names"] and handed["description"]["source"] == str(path)
        assert ctx.get("data_file") == handed  # read back from the file
        ctx.put("latents", SimpleNamespace(rows=ctx.get("splits")["train"]))
        catalogue = LOADERS["catalogue"](ctx)
        assert len(catalogue) == len(ctx.get("splits")["train"]) and "dt_on" in catalogue[0]
    finally:
        run.close()

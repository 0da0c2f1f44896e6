"""A stage of `gpuclust run` as a record, and the context the stages share.

A stage says what it is called, which earlier results it needs, which files it produces (the ones
that mark it finished for --resume), which options invalidate it, when it runs at all, and the
function that runs it. Results pass from stage to stage in memory (`Context.put` / `Context.get`);
the files are outputs, read back only when a resumed run skipped the stage that made them.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable


@dataclass(frozen=True)
class Stage:
    name: str
    run: Callable  # run(ctx) -> info dict, recorded in stages.json
    produces: tuple[str, ...]  # files (relative to the run directory) that exist once it finished
    keys: tuple[str, ...] = ()  # options it depends on (with every earlier stage's, they invalidate it)
    needs: tuple[str, ...] = ()  # results of earlier stages it reads (Context.get)
    when: Callable = lambda cfg: True  # noqa: E731  whether the run's options ask for it at all


@dataclass
class Context:
    """What every stage is given: the options, the run directory, the backend, and earlier results."""

    cfg: object  # RunConfig
    run: object  # RunDir
    backend: object  # Backend
    resume: bool = False
    log: Callable = print
    results: dict = field(default_factory=dict)
    loaders: dict = field(default_factory=dict)  # result name -> load(ctx), from the files, after a resume

    def put(self, name: str, value) -> None:
        self.results[name] = value

    def get(self, name: str):
        """An earlier stage's result: from memory, or from the files it wrote (a resumed run skipped it)."""
        if name not in self.results:
            self.results[name] = self.loaders[name](self)
        return self.results[name]

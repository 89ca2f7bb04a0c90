"""``nnc run`` for a ``loss = gan`` train block: two models, one run directory.

:func:`prepare_gan` validates the block and loads the real examples (they
must fit the discriminator's input); :func:`run_gan` trains and writes the
run directory: the source, ``run.json``, ``metrics.jsonl`` (``d_loss``,
``g_loss``, ``d_accuracy`` per epoch), ``curves.png``, checkpoints of both
models, the generator's ``variables`` and ``summary.json`` (so ``nnc
predict`` turns noise into examples), the discriminator's in a folder named
after it, ``samples.png``, ``gan.json`` and ``metrics.json`` (the final
numbers of ``gan.json`` that a script checks).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from nnlang.diagnostics import NnError
from nnlang.ir import Program, TrainSpec

FINAL_KEYS = ("d_accuracy_last", "balanced", "improvement", "diversity")
"""The entries of ``gan.json`` copied into ``metrics.json``."""


def prepare_gan(program: Program, spec: TrainSpec, path: Path, *,
                epochs: int | None = None, seed: int | None = None) -> Any:
    """The block's :class:`~nnlang.run.Prepared` (``graph`` is the generator's), or NnError."""
    from nnlang.run import Prepared, check_data_fits, load_dataset
    from nnlang.train.binding import TrainConfigError
    from nnlang.train.diagnose import setting_diagnostic
    from nnlang.train.gan_config import parse_gan_settings

    try:
        config = parse_gan_settings(spec.settings, spec.models, epochs=epochs, seed=seed)
    except TrainConfigError as exc:
        raise NnError(setting_diagnostic(spec, exc)) from None
    data = load_dataset(spec, path.parent, config.seed)
    check_data_fits(program.models[config.discriminator], data, spec)
    return Prepared(program, spec, program.models[config.generator], config, data)


def run_gan(path: Path, prepared: Any, *, overrides: Mapping[str, str] | None = None,
            epochs: int | None = None, seed: int | None = None,
            out: str | Path | None = None, resume: str | Path | None = None,
            verbose: int = 1, callbacks: Sequence[Any] = ()) -> tuple[Any, Path]:
    """Train the generator against the discriminator; return (GanHistory, run dir).

    ``callbacks``: more training hooks (``nnc run --resume`` records itself).
    """
    import numpy as np

    from nnlang.lower import CompiledModel
    from nnlang.run import default_run_dir, stop_on_ctrl_c
    from nnlang.train.adversarial import Game, fit_gan, real_examples
    from nnlang.train.cache import enable_compilation_cache
    from nnlang.train.gan_report import format_report, gan_report
    from nnlang.train.rundir import write_test_metrics

    config = prepared.config
    generator = CompiledModel(prepared.graph)
    discriminator = CompiledModel(prepared.program.models[config.discriminator])
    run_dir = Path(resume or out or default_run_dir(path, prepared.spec))
    run_dir.mkdir(parents=True, exist_ok=True)
    if not resume:
        _write_run_files(path, prepared, run_dir, overrides, epochs, seed)
    enable_compilation_cache()
    with stop_on_ctrl_c() as stopper:
        history = fit_gan(generator, discriminator, prepared.data, config,
                          verbose=verbose, out_dir=run_dir, resume=resume,
                          callbacks=[stopper, *callbacks])
    game = Game.of(generator, discriminator, config.loss["smooth"])
    real = np.asarray(real_examples(prepared.data, discriminator))
    report = gan_report(game, history, real, run_dir, config.seed)
    write_test_metrics(run_dir, {k: report[k] for k in FINAL_KEYS})
    if verbose:
        print(format_report(report))
    return history, run_dir


def _write_run_files(path: Path, prepared: Any, run_dir: Path,
                     overrides: Mapping[str, str] | None, epochs: int | None,
                     seed: int | None) -> None:
    from nnlang.summary import summarize

    config = prepared.config
    shutil.copyfile(path, run_dir / path.name)
    for name, folder in ((config.generator, run_dir),
                         (config.discriminator, run_dir / config.discriminator)):
        folder.mkdir(parents=True, exist_ok=True)
        graph = prepared.program.models[name]
        (folder / "summary.json").write_text(
            json.dumps(summarize(graph).to_json(), indent=2) + "\n")
    (run_dir / "run.json").write_text(json.dumps({
        "source": path.name, "train": prepared.spec.name, "model": config.generator,
        "discriminator": config.discriminator, "overrides": dict(overrides or {}),
        "epochs": epochs, "seed": seed}, indent=2) + "\n")

"""contested: annotation entropy vs per-example learning dynamics under LoRA and full fine-tuning.

Layers (arrows point downwards only)::

    data/        items, annotation entropy, bins, covariates, mixtures      (no torch)
    models/      registry: name -> weights, tokenizer, LoRA targets, head
    train/       HF Trainer + peft, per-example dynamics recorder -> run dir
    dynamics/    per-item metrics from trajectories (AULC, delta loss, ...)  (no torch)
    stats/       correlations, partial correlations, bootstraps, pooling      (no torch)
    experiments/ sweep files -> run configs -> executors
    report/      tables, figures, one HTML page
"""

__version__ = "0.1.0"

// Training: datasets, the trainer, evaluation, run reports.

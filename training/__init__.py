"""GAN training: datasets, losses, the training loop, diagnostics and the CLI."""

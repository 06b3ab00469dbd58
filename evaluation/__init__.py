"""Image quality, measured with a classifier the project trains itself (nothing is downloaded).

classifier.py     a small CNN per labelled set, trained on its `:train` split, cached
image_metrics.py  Fréchet distance, class balance, confidence, Parzen-window log-likelihood
evaluator.py      scores for generated images against the held-out split, with the real
                  data's own scores beside them (the floor and the ceiling)
stacked.py        Stacked MNIST mode counting (VEEGAN / PacGAN protocol)
"""

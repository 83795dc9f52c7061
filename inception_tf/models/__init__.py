"""The models wing: layers, GoogLeNet, SlideNet, preprocessing, costs and reports.

Needs only Keras (any backend); nothing here imports training, serving or the CLI.
"""
